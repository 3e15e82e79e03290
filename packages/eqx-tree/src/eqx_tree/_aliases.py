"""Find what a PyTree stores twice: the shared search behind `tree_check` and the
aliasing warnings of `eqx_module` and `eqx_filter`.

One array, or one sub-tree, stored in two places looks tied but is not: every JAX
transformation flattens the tree and unflattens it again, after which the two places
hold two independent copies (their gradients differ, an update unties them). This
module finds such repeats by object identity and names both paths.
"""

from __future__ import annotations

import dataclasses
from typing import Any

import jax
import jax.tree_util as jtu
import numpy as np

from ._one_level import children_with_keys
from ._predicates import is_array

__all__ = ["Alias", "find_aliases"]

# Arrays are compared by identity. NumPy scalars are left out: they are immutable
# values, and some (`np.True_`) are singletons that legitimately appear everywhere.
_ALIASABLE_ARRAYS = (jax.Array, np.ndarray)


def _where(path: tuple[Any, ...]) -> str:
    return jtu.keystr(path) or "the root"


@dataclasses.dataclass(frozen=True)
class Alias:
    """One object found at two paths of a PyTree.

    `first` and `second` are `jax.tree_util.keystr` paths (`""` is the root); `what`
    says what repeats: a node's type name (`"Linear"`), or `"array float32[2,3]"`.
    """

    what: str
    first: str
    second: str

    def describe(self) -> str:
        """Two sentences naming what repeats and both of its paths, then the fix."""
        article = "The same" if self.what.startswith("array ") else "A"
        return (
            f"{article} {self.what} appears in the PyTree multiple times, at "
            f"{self.first or 'the root'} and at {self.second or 'the root'}. After a JAX "
            "transformation these would become two independent copies (different "
            "gradients; an update unties them). Store it once (for weight tying, use "
            "`eqx.nn.Shared`)."
        )


def _describe_array(array: Any) -> str:
    return f"array {np.dtype(array.dtype).name}[{','.join(str(d) for d in array.shape)}]"


def find_aliases(pytree: Any, *, arrays: bool, static_nodes: bool = True) -> list[Alias]:
    """Every non-leaf node (with at least one leaf) found at a second path, in flatten order.

    With `arrays`, JAX and NumPy array leaves repeated by identity are reported too. A
    node found again is reported once and not searched a second time, so a sub-module
    stored twice is one report, not one per array inside it. With `static_nodes=False`
    a repeated node is reported only if it holds an array: a node of Python values
    alone (the tuple `(0, None)` that Python shares between two equal literals) cannot
    be untied by a transformation, so the aliasing warnings leave it out.

    Raises `ValueError` «self-referential» if `pytree` contains itself.
    """
    aliases: list[Alias] = []
    # id -> (first path, number of leaves). `keep` holds every visited object, so that
    # an id cannot be reused by a temporary child (a custom node's flatten may build
    # new objects) while the search runs.
    done: dict[int, tuple[tuple[Any, ...], int]] = {}
    seen_arrays: dict[int, tuple[Any, ...]] = {}
    on_path: dict[int, tuple[Any, ...]] = {}
    keep: list[Any] = []

    def visit(node: Any, path: tuple[Any, ...]) -> int:
        """The number of counted leaves under `node`."""
        key = id(node)
        if key in done:
            first, num_leaves = done[key]
            if num_leaves > 0:
                aliases.append(Alias(type(node).__name__, jtu.keystr(first), jtu.keystr(path)))
            return num_leaves
        pairs = children_with_keys(node)
        if pairs is None:
            if arrays and isinstance(node, _ALIASABLE_ARRAYS):
                if key in seen_arrays:
                    aliases.append(
                        Alias(
                            _describe_array(node),
                            jtu.keystr(seen_arrays[key]),
                            jtu.keystr(path),
                        )
                    )
                else:
                    seen_arrays[key] = path
                    keep.append(node)
            return 1 if static_nodes or is_array(node) else 0
        if key in on_path:
            raise ValueError(
                f"The PyTree is self-referential: the {type(node).__name__} at "
                f"{_where(on_path[key])} contains itself, at {jtu.keystr(path)}. "
                "Break the cycle."
            )
        on_path[key] = path
        keep.append(node)
        try:
            num_leaves = sum(visit(child, (*path, child_key)) for child_key, child in pairs)
        finally:
            del on_path[key]
        done[key] = (path, num_leaves)
        return num_leaves

    visit(pytree, ())
    return aliases
