"""`tree_at`: a copy of a PyTree with some nodes replaced, selected by a function.

How a selection is found: `where` is run on a *wrapped* copy of the tree in which
every leaf is a unique wrapper object and every empty tuple a distinct placeholder, so
each node can be identified by identity and located by its path, even when the raw
tree shares objects (`[1, 1]`, `[(), ()]`). `where` is also run on the raw tree, and
both selections must pick the same positions: that catches a `where` that looks at
leaf values rather than structure. The new tree is rebuilt bottom-up by unflattening,
so no `__init__`, converter or check runs (arrays are never copied).

Speed: the common case, a selection of leaves (`lambda m: m.linear.weight`), takes a
fast path that costs about one C++ flatten and two unflattens: the wrapped copy is
built by unflattening a pooled list of index-carrying wrappers, a selected wrapper
names its leaf's flat index directly, and the result is one unflatten of the edited
leaf list. A single selected leaf (the most common call) is checked and replaced in
place, without building lists of nodes, paths or values. Any other selection
(subtrees, `None`, `()`) takes the general path, which indexes every node of a
wrapped copy in Python.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Sequence
from typing import Any

import jax.tree_util as jtu

from ._caches import register_cache_clearer
from ._one_level import tree_flatten_one_level
from ._sentinel import sentinel

__all__ = ["tree_at"]

_Path = tuple[int, ...]


class _LeafWrapper:
    """A unique stand-in for one leaf (or empty tuple) of the tree."""

    __slots__ = ("value",)

    def __init__(self, value: Any) -> None:
        self.value = value

    def __repr__(self) -> str:
        return f"_LeafWrapper({self.value!r})"


def _is_empty_tuple(x: Any) -> bool:
    return type(x) is tuple and len(x) == 0


def _wrap(pytree: Any, is_leaf: Callable[[Any], bool] | None) -> Any:
    def leaf_or_empty(x: Any) -> bool:
        return _is_empty_tuple(x) or (is_leaf is not None and is_leaf(x))

    return jtu.tree_map(_LeafWrapper, pytree, is_leaf=leaf_or_empty)


def _children(node: Any, is_leaf: Callable[[Any], bool] | None) -> list[Any] | None:
    """The direct children of `node`, or `None` if it is a leaf."""
    if isinstance(node, _LeafWrapper) or (is_leaf is not None and is_leaf(node)):
        return None
    children, treedef = tree_flatten_one_level(node)
    if jtu.treedef_is_leaf(treedef):
        return None
    return children


def _index_nodes(wrapped: Any, is_leaf: Callable[[Any], bool] | None) -> dict[int, list[_Path]]:
    """id(node) -> every path at which that node occurs in the wrapped tree."""
    index: dict[int, list[_Path]] = {}
    stack: list[tuple[Any, _Path]] = [(wrapped, ())]
    while stack:
        node, path = stack.pop()
        index.setdefault(id(node), []).append(path)
        children = _children(node, is_leaf)
        if children is not None:
            stack.extend((child, (*path, i)) for i, child in enumerate(children))
    return index


def _node_at(pytree: Any, path: _Path) -> Any:
    node = pytree
    for i in path:
        node = tree_flatten_one_level(node)[0][i]
    return node


def _is_node_selection(selection: Any, index: dict[int, list[_Path]]) -> bool:
    return id(selection) in index


def _as_node_list(selection: Any, index: dict[int, list[_Path]]) -> tuple[list[Any], bool]:
    """The selected nodes, and whether `where` returned a single node."""
    if _is_node_selection(selection, index):
        return [selection], True
    if isinstance(selection, Sequence) and not isinstance(selection, str):
        return list(selection), False
    raise ValueError(
        "`where` does not specify an element of the PyTree: it returned "
        f"{type(selection).__name__} object {selection!r}, which is neither a node of the "
        "tree nor a sequence of nodes. Return a node (`lambda m: m.layers[0].weight`) or a "
        "tuple of nodes (`lambda m: (m.a, m.b)`)."
    )


def _selection_paths(nodes: list[Any], index: dict[int, list[_Path]], single: bool) -> list[_Path]:
    paths = []
    for i, node in enumerate(nodes):
        where_desc = "" if single else f" (item {i} of the selection)"
        found = index.get(id(node))
        if found is None:
            raise ValueError(
                f"`where` does not specify an element of the PyTree{where_desc}: it returned "
                f"{node!r}, which is not a node of the tree. `where` must return parts of "
                "its argument, such as `lambda m: m.linear.weight`, not new objects."
            )
        if len(found) > 1:
            raise ValueError(
                f"`where` does not uniquely identify a single element of the PyTree{where_desc}: "
                f"{node!r} occurs {len(found)} times. This usually happens with `None`, which "
                "is an empty subtree, not a leaf. Make it a leaf with "
                "`tree_at(where, pytree, ..., is_leaf=lambda x: x is None)`."
            )
        paths.append(found[0])
    if len(set(paths)) != len(paths):
        raise _selected_twice_error()
    return paths


def _rebuild(node: Any, targets: dict[_Path, Any], path: _Path, below: set[_Path]) -> Any:
    if path in targets:
        return targets[path]
    if path not in below:
        return node
    children, treedef = tree_flatten_one_level(node)
    new_children = [_rebuild(c, targets, (*path, i), below) for i, c in enumerate(children)]
    return jtu.tree_unflatten(treedef, new_children)


class _IndexedLeaf:
    """An opaque stand-in for the leaf at flat index `index` (fast path)."""

    __slots__ = ("index",)

    def __init__(self, index: int) -> None:
        self.index = index

    def __repr__(self) -> str:
        return f"<leaf {self.index}>"


# Stand-ins are immutable and only need to be distinct within one call, so they are
# pooled: building the wrapped copy then costs a list slice, not one object per leaf.
# The pool list is never mutated, only replaced by a longer one (or an empty one when
# caches are cleared), so `_pool[i].index == i` always holds and reading it needs no lock.
_POOL_LIMIT = 1 << 16
_pool: list[_IndexedLeaf] = []
_pool_grow_lock = threading.Lock()


@register_cache_clearer
def _clear_pool() -> None:
    global _pool
    _pool = []


def _stand_ins(count: int) -> list[_IndexedLeaf]:
    global _pool
    pool = _pool
    if count <= len(pool):
        return pool[:count]
    if count > _POOL_LIMIT:
        return [_IndexedLeaf(i) for i in range(count)]
    with _pool_grow_lock:  # two threads growing at once would each build a new list
        pool = _pool
        if len(pool) < count:
            pool = pool + [_IndexedLeaf(i) for i in range(len(pool), count)]
            _pool = pool
    return pool[:count]


def _own_index(selection: Any, stand_ins: list[_IndexedLeaf]) -> int | None:
    """The flat index of `selection` if it is one of this call's stand-ins, else `None`."""
    if type(selection) is not _IndexedLeaf:
        return None
    index = selection.index
    if index < len(stand_ins) and stand_ins[index] is selection:
        return index
    return None


def _is_node_of(selection: Any, wrapped: Any, treedef: jtu.PyTreeDef, leaf_index: int) -> bool:
    """Whether `selection` is one of the nodes on the way from the root to a leaf."""
    node, node_def = wrapped, treedef
    while node is not selection:
        child_defs = node_def.children()
        if not child_defs:
            return False
        children = tree_flatten_one_level(node)[0]
        for child, child_def in zip(children, child_defs, strict=True):
            if leaf_index < child_def.num_leaves:
                node, node_def = child, child_def
                break
            leaf_index -= child_def.num_leaves
        else:  # pragma: no cover - the leaf index is always inside the tree
            return False
    return True


def _leaf_indices(
    selection: Any, stand_ins: list[_IndexedLeaf], wrapped: Any, treedef: jtu.PyTreeDef
) -> list[int] | None:
    """Flat indices of a sequence of leaves selected by `where`.

    `None` when the selection holds anything else (a subtree, `None`, `()`, an object
    not from the tree), or is empty, or is itself a node of the tree: the general
    path decides those.
    """
    if not isinstance(selection, (list, tuple)) or not selection:
        return None
    indices = []
    for item in selection:
        index = _own_index(item, stand_ins)
        if index is None:
            return None
        indices.append(index)
    if _is_node_of(selection, wrapped, treedef, indices[0]):
        return None
    return indices


def _new_values(replace: Any, replace_fn: Any, raw_nodes: list[Any], single: bool) -> list[Any]:
    if replace_fn is not sentinel:
        return [replace_fn(raw) for raw in raw_nodes]
    if single:
        return [replace]
    count = len(raw_nodes)
    if not isinstance(replace, Sequence) or isinstance(replace, str):
        raise TypeError(
            f"`where` selected {count} nodes, so `replace` must be a sequence of "
            f"{count} values, but it is a {type(replace).__name__}. Pass a tuple, or "
            "use `replace_fn`."
        )
    if len(replace) != count:
        raise ValueError(
            f"`where` selected {count} nodes but `replace` has {len(replace)} values; "
            "they must have the same length."
        )
    return list(replace)


def _selected_twice_error() -> ValueError:
    return ValueError(
        "`where` does not uniquely identify each element: the same node is selected "
        "more than once. Select each node once."
    )


def _structure_only_error() -> ValueError:
    return ValueError(
        "`where` must use just the PyTree structure of `pytree`: it selected different "
        "nodes depending on leaf values. Select nodes by position or attribute only."
    )


def _raw_nodes(raw_selection: Any, single: bool) -> list[Any]:
    if single:
        return [raw_selection]
    if isinstance(raw_selection, Sequence) and not isinstance(raw_selection, str):
        return list(raw_selection)
    return []  # cannot match the wrapped selection: the caller reports it


class _FailedOnPlaceholders(ValueError):
    """`where` raised on the copy of the tree whose leaves are placeholders."""

    def __init__(self, message: str, by_type_checker: bool) -> None:
        super().__init__(message)
        self.by_type_checker = by_type_checker


# Runtime type checkers whose errors mean "a placeholder is not of the annotated type".
_TYPE_CHECKERS = frozenset({"beartype", "jaxtyping", "typeguard"})


def _raised_by_type_checker(error: BaseException | None) -> bool:
    while error is not None:
        if type(error).__module__.partition(".")[0] in _TYPE_CHECKERS:
            return True
        error = error.__cause__
    return False


def _run_on_wrapped(where: Callable[[Any], Any], wrapped: Any) -> Any:
    try:
        return where(wrapped)
    except Exception as error:
        raise _FailedOnPlaceholders(
            "`where` must use just the PyTree structure of `pytree`: it failed when run on "
            f"a copy whose leaves are opaque placeholders ({type(error).__name__}: {error}). "
            "Select nodes by position or attribute only, without reading leaf values.",
            by_type_checker=_raised_by_type_checker(error),
        ) from error


def _replace_leaves(
    leaves: list[Any],
    treedef: jtu.PyTreeDef,
    indices: list[int],
    raw_selection: Any,
    replace: Any,
    replace_fn: Any,
) -> Any:
    """The tree with the leaves at flat `indices` (a sequence `where` returned) replaced."""
    if len(set(indices)) != len(indices):
        raise _selected_twice_error()
    raw_nodes = _raw_nodes(raw_selection, single=False)
    if len(raw_nodes) != len(indices) or any(
        raw is not leaves[i] for raw, i in zip(raw_nodes, indices, strict=False)
    ):
        raise _structure_only_error()
    new_values = _new_values(replace, replace_fn, raw_nodes, single=False)
    for i, value in zip(indices, new_values, strict=True):
        leaves[i] = value
    return jtu.tree_unflatten(treedef, leaves)


def tree_at(
    where: Callable[[Any], Any],
    pytree: Any,
    replace: Any = sentinel,
    replace_fn: Callable[[Any], Any] | Any = sentinel,
    is_leaf: Callable[[Any], bool] | None = None,
) -> Any:
    """A copy of `pytree` with the nodes selected by `where` replaced.

    Arguments:
        where: `pytree -> node` or `pytree -> sequence of nodes`. A node is a leaf or
            a subtree (a Module, list, `()`, or `None` when `is_leaf` makes it a leaf).
            A returned object that is itself a node counts as one node: `lambda m:
            m.layers` selects the whole list, `lambda m: tuple(m.layers)` each layer.
            `where` must use only the structure of the tree, not leaf values.
        pytree: the tree to copy. It is not modified; arrays are not copied.
        replace: the new value (one node selected), or a sequence of new values of the
            same length as the selection.
        replace_fn: instead of `replace`, a function from each old node to its new value.
        is_leaf: as for `jax.tree_util`; nodes it accepts are not looked into.

    Returns:
        The new tree, rebuilt by unflattening: no `__init__`, `__post_init__`,
        converter or `__check_init__` runs, and the structure may change.

    Raises:
        ValueError: both or neither of `replace`/`replace_fn`; `where` reads leaf values;
            a selected node that is not in the tree or occurs several times; a length
            mismatch between the selection and `replace`.
        TypeError: several nodes selected but `replace` is not a sequence.

    Example:
        >>> tree_at(lambda t: t["b"][0], {"a": 1, "b": [2, 3]}, 20)
        {'a': 1, 'b': [20, 3]}
    """
    if (replace is sentinel) == (replace_fn is sentinel):
        raise ValueError(
            "Precisely one of `replace` and `replace_fn` must be specified: "
            "`replace` gives the new value(s), `replace_fn` computes each from the old node."
        )
    # On the raw tree first, so that a bug in `where` itself (a typo'd attribute)
    # surfaces as the user's own exception rather than as our ValueError.
    raw_selection = where(pytree)
    leaves, treedef = jtu.tree_flatten(pytree, is_leaf=is_leaf)
    stand_ins = _stand_ins(len(leaves))
    wrapped = jtu.tree_unflatten(treedef, stand_ins)
    try:
        selection = _run_on_wrapped(where, wrapped)
    except _FailedOnPlaceholders as failure:
        if not failure.by_type_checker:
            raise
        return _tree_at_by_identity(pytree, raw_selection, replace, replace_fn, is_leaf, failure)
    index = _own_index(selection, stand_ins)
    if index is not None:  # one leaf, the common case: nothing to collect or deduplicate
        if raw_selection is not leaves[index]:
            raise _structure_only_error()
        leaves[index] = replace if replace_fn is sentinel else replace_fn(raw_selection)
        return jtu.tree_unflatten(treedef, leaves)
    indices = _leaf_indices(selection, stand_ins, wrapped, treedef)
    if indices is not None:
        return _replace_leaves(leaves, treedef, indices, raw_selection, replace, replace_fn)
    return _tree_at_nodes(where, pytree, raw_selection, replace, replace_fn, is_leaf)


def _tree_at_nodes(
    where: Callable[[Any], Any],
    pytree: Any,
    raw_selection: Any,
    replace: Any,
    replace_fn: Any,
    is_leaf: Callable[[Any], bool] | None,
) -> Any:
    """The general path: any selection of subtrees, leaves, `None` or `()`."""
    wrapped = _wrap(pytree, is_leaf)
    index = _index_nodes(wrapped, is_leaf)
    try:
        wrapped_selection = _run_on_wrapped(where, wrapped)
    except _FailedOnPlaceholders as failure:
        if not failure.by_type_checker:
            raise
        return _tree_at_by_identity(pytree, raw_selection, replace, replace_fn, is_leaf, failure)
    nodes, single = _as_node_list(wrapped_selection, index)
    paths = _selection_paths(nodes, index, single)
    raw_nodes = _raw_nodes(raw_selection, single)
    if len(raw_nodes) != len(paths) or any(
        raw is not _node_at(pytree, path) for raw, path in zip(raw_nodes, paths, strict=False)
    ):
        raise _structure_only_error()
    new_values = _new_values(replace, replace_fn, raw_nodes, single)
    targets = dict(zip(paths, new_values, strict=True))
    below = {path[:i] for path in paths for i in range(len(path))}
    return _rebuild(pytree, targets, (), below)


def _tree_at_by_identity(
    pytree: Any,
    raw_selection: Any,
    replace: Any,
    replace_fn: Any,
    is_leaf: Callable[[Any], bool] | None,
    failure: _FailedOnPlaceholders,
) -> Any:
    """Match the selection made on the real tree by identity, when a type check failed.

    A `where` that goes through a type-annotated property fails on placeholders under
    runtime type checking (jaxtyping's import hook with beartype): the placeholder is
    not of the annotated type. (Any other failure still means `where` reads leaf
    values, and is raised.) Each node `where` picked from the real tree is then
    found by identity, which is sound only where it occurs once in the tree (arrays,
    sub-Modules); a value occurring several times (a shared `False`, small ints) cannot
    be told apart, and the original error is raised.
    """
    index = _index_nodes(pytree, is_leaf)
    try:
        nodes, single = _as_node_list(raw_selection, index)
        paths = _selection_paths(nodes, index, single)
    except ValueError:
        raise failure from None
    new_values = _new_values(replace, replace_fn, nodes, single)
    targets = dict(zip(paths, new_values, strict=True))
    below = {path[:i] for path in paths for i in range(len(path))}
    return _rebuild(pytree, targets, (), below)
