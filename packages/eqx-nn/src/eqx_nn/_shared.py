"""`Shared`: tie parts of a model together (weight sharing)."""

import operator
from collections.abc import Callable
from typing import Any, Generic, TypeVar

import jax
import jax.tree_util as jtu

from eqx_filter import filter_eval_shape
from eqx_module import Module
from eqx_tree import tree_at, tree_equal, tree_pformat

__all__ = ["Shared", "SharedNode"]

_Tree = TypeVar("_Tree")


class SharedNode:
    """The placeholder leaf that `Shared` stores where a shared node was.

    It holds no arrays, so the shared parameters exist once (at the `get` nodes) and
    gradients reach only them. All placeholders compare and hash equal, so two `Shared`
    models with the same structure have the same treedef (one `filter_jit` trace).
    """

    __slots__ = ()

    def __eq__(self, other: object) -> bool:
        return isinstance(other, SharedNode)

    def __hash__(self) -> int:
        return hash(SharedNode)

    def __repr__(self) -> str:
        return "SharedNode()"


class _PathLabel:
    """Stands in for a leaf of `pytree` while finding which leaves a selector picks."""

    __slots__ = ("path",)

    def __init__(self, path: str) -> None:
        self.path = path


def _source_paths(pytree: Any, select: Callable[[Any], Any]) -> list[str] | None:
    """The paths, in `pytree`, of the leaves that `select` picks; `None` if unknowable.

    `select` is run on a copy of `pytree` whose leaves are labels holding their paths. A
    selector that computes with the arrays (rather than just picking nodes) fails or
    returns something else there, and then the paths are unknown.
    """
    try:
        # Rebuilding a custom node around labels may fail too: then the paths are unknown.
        labelled = jtu.tree_map_with_path(lambda path, _: _PathLabel(jtu.keystr(path)), pytree)
        picked = jtu.tree_leaves(select(labelled))
    except Exception:
        return None
    if not all(isinstance(p, _PathLabel) for p in picked):
        return None
    return [p.path or "<the whole pytree>" for p in picked]


def _describe(struct: Any) -> list[str]:
    return [
        f"{leaf.dtype}{list(leaf.shape)}" if hasattr(leaf, "dtype") else repr(leaf)
        for leaf in jtu.tree_leaves(struct)
    ]


def _first_mismatch(
    pytree: Any,
    where: Callable[[Any], Any],
    get: Callable[[Any], Any],
    destination: Any,
    source: Any,
) -> str:
    """Name the first difference between what `where` and `get` pick, by path."""
    where_paths = _source_paths(pytree, where)
    get_paths = _source_paths(pytree, get)
    dest_leaves = jtu.tree_flatten_with_path(destination)[0]
    src_leaves = jtu.tree_flatten_with_path(source)[0]

    def name(paths: list[str] | None, index: int, relative: Any) -> str:
        if paths is not None and index < len(paths):
            return f"`{paths[index]}`"
        relative_path = jtu.keystr(relative)
        return f"the leaf `{relative_path}` of its result" if relative_path else "a result"

    if not operator.eq(jtu.tree_structure(destination), jtu.tree_structure(source)):
        where_names = where_paths or _describe(destination)
        get_names = get_paths or _describe(source)
        return (
            f"`where` picks {len(dest_leaves)} leaves ({', '.join(where_names)}) but `get` "
            f"picks {len(src_leaves)} ({', '.join(get_names)}), in different structures"
        )
    for index, ((path, dest), (_, src)) in enumerate(zip(dest_leaves, src_leaves, strict=True)):
        dest_desc = _describe(dest)
        src_desc = _describe(src)
        if dest_desc != src_desc:
            return (
                f"`where` picks {name(where_paths, index, path)} of "
                f"{' '.join(dest_desc) or 'no leaves'} but `get` picks "
                f"{name(get_paths, index, path)} of {' '.join(src_desc) or 'no leaves'}"
            )
    return "their non-array leaves differ"


class Shared(Module, Generic[_Tree]):
    """Share (tie) nodes of a PyTree: the `where` nodes become the `get` nodes.

    Stores `pytree` with the nodes picked out by `where` replaced by placeholders; calling
    the `Shared` returns the tree with `get(pytree)` put back in their place. The shared
    arrays are therefore the *same* arrays, and their gradients accumulate on the `get`
    nodes. `where` and `get` may return tuples, to tie several pairs at once.

    Arguments:
        pytree: the PyTree holding both the source and the destination nodes.
        where: `pytree -> node(s)`: the nodes to replace.
        get: `pytree -> node(s)`: the nodes to put in their place (same structure, shapes
            and dtypes as `where`'s).

    Raises:
        ValueError: `where` and `get` pick nodes of different structures.

    Example:
        ```python
        # Tie the output projection to the embedding matrix.
        shared = eqx.nn.Shared(
            (embedding, linear),
            where=lambda pair: pair[1].weight,
            get=lambda pair: pair[0].weight,
        )
        embedding, linear = shared()
        ```

    It is generic in the tree it rebuilds: `Shared[tuple[Embedding, Linear]]` may
    annotate a field.
    """

    pytree: Any
    where: Callable[[Any], Any]
    get: Callable[[Any], Any]

    def __init__(
        self, pytree: _Tree, where: Callable[[Any], Any], get: Callable[[Any], Any]
    ) -> None:
        source = filter_eval_shape(get, pytree)
        destination = filter_eval_shape(where, pytree)
        if tree_equal(source, destination) is not True:
            mismatch = _first_mismatch(pytree, where, get, destination, source)
            raise ValueError(
                "Every node being shared together must have the same pytree structure, "
                f"shape and dtype; {mismatch}. `where(pytree)` gives\n"
                f"{tree_pformat(destination, struct_as_array=True)}\n"
                "and `get(pytree)` gives\n"
                f"{tree_pformat(source, struct_as_array=True)}."
            )
        self.pytree = tree_at(where, pytree, replace_fn=lambda _: SharedNode())
        self.where = where
        self.get = get

    def __call__(self, *, key: jax.Array | None = None) -> _Tree:
        """Return the PyTree with the shared nodes re-inserted; `key` is ignored."""
        with jax.named_scope("eqx.nn.Shared"):
            rebuilt: _Tree = tree_at(self.where, self.pytree, self.get(self.pytree))
            return rebuilt
