"""`tree_check`: refuse PyTrees with cycles or with a subtree stored twice."""

from __future__ import annotations

from typing import Any

import jax.tree_util as jtu

from ._one_level import children_with_keys

__all__ = ["tree_check"]


def tree_check(pytree: Any) -> None:
    """Raise if `pytree` contains a cycle, or the same non-leaf node in two places.

    A subtree stored twice becomes two independent copies after any JAX
    transformation (flatten, then unflatten), silently untying what looked tied.
    Repeated leaves, `[]`, `None` and field-less Modules (nodes with no leaves) are fine.

    Raises:
        ValueError: «self-referential» for a cycle; «appears in the PyTree multiple
            times» for a node with at least one leaf occurring twice (by `id`); the
            message names the node's type and both paths.

    Example:
        >>> shared = [1]
        >>> tree_check([shared, shared])
        Traceback (most recent call last):
        ...
        ValueError: ...appears in the PyTree multiple times...
    """
    seen: dict[int, tuple[Any, ...]] = {}
    on_path: dict[int, tuple[Any, ...]] = {}

    def visit(node: Any, path: tuple[Any, ...]) -> int:
        pairs = children_with_keys(node)
        if pairs is None:
            return 1
        if id(node) in on_path:
            outer = jtu.keystr(on_path[id(node)]) or "the root"
            raise ValueError(
                f"The PyTree is self-referential: the {type(node).__name__} at {outer} "
                f"contains itself, at {jtu.keystr(path)}. Break the cycle."
            )
        on_path[id(node)] = path
        try:
            num_leaves = sum(visit(child, (*path, key)) for key, child in pairs)
        finally:
            del on_path[id(node)]
        if num_leaves > 0:
            if id(node) in seen:
                first = jtu.keystr(seen[id(node)]) or "the root"
                raise ValueError(
                    f"A {type(node).__name__} appears in the PyTree multiple times, at {first} "
                    f"and at {jtu.keystr(path) or 'the root'}. After a JAX transformation "
                    "these would become two independent copies. Store it once (for weight "
                    "tying, use `eqx.nn.Shared`)."
                )
            seen[id(node)] = path
        return num_leaves

    visit(pytree, ())
