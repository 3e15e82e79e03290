"""`tree_select`: an immutable, composable selection of nodes of a PyTree, for model surgery.

A selection is a tree plus the set of positions it has picked. Narrowing methods
(`at_instances_of`, `where`, `at`) look *inside* the currently selected nodes, and
`filter` keeps some of them; each returns a new selection. `get`, `paths` and `mask`
read it; `set` and `apply` return a new tree, built by `tree_at`. Nothing is ever
mutated.

Why not a plain `isinstance` walk: the walk is easy to get subtly wrong (a subclass
missed, a match silently empty) and the mistake is invisible, so a selection that
matches nothing raises by default, naming the attempted selection and showing the
tree's structure.

Type and predicate matches are *outermost*: a matching node's own subtree is not
searched further. Selected nodes are therefore always disjoint, so `set` and `apply`
are well defined; chain another narrowing step to reach inside a match.
"""

from __future__ import annotations

import itertools
from collections.abc import Callable, Iterator
from typing import Any

import jax.tree_util as jtu

from ._at import _as_node_list, _index_nodes, _selection_paths, _wrap, tree_at
from ._one_level import children_with_keys, tree_flatten_one_level

__all__ = ["TreeSelection", "tree_select"]

_IndexPath = tuple[int, ...]
_KeyPath = tuple[Any, ...]
# How many lines of the tree's outline an error message shows before eliding the rest.
_OUTLINE_LINES = 40


def _is_empty_node(node: Any, is_leaf: Callable[[Any], bool] | None) -> bool:
    """`None` is an empty subtree (not a leaf) unless `is_leaf` makes it one."""
    return node is None and not (is_leaf is not None and is_leaf(node))


def _node_at(tree: Any, path: _IndexPath) -> Any:
    node = tree
    for i in path:
        children = children_with_keys(node)
        assert children is not None  # paths only ever run through interior nodes
        node = children[i][1]
    return node


def _describe_node(node: Any) -> str:
    shape = getattr(node, "shape", None)
    dtype = getattr(node, "dtype", None)
    if shape is not None and dtype is not None:
        return f"{getattr(dtype, 'name', dtype)}{list(shape)}"
    if isinstance(node, (bool, int, float, complex, str)):
        return repr(node)
    return type(node).__qualname__


def tree_outline(tree: Any, is_leaf: Callable[[Any], bool] | None = None) -> str:
    """One line per node, `path: type` (arrays as `dtype[shape]`), for error messages."""
    lines: list[str] = []
    stack: list[tuple[_KeyPath, Any]] = [((), tree)]
    while stack:
        key_path, node = stack.pop()
        if _is_empty_node(node, is_leaf):
            continue
        if len(lines) == _OUTLINE_LINES:
            lines.append("  ... (more nodes elided)")
            break
        lines.append(f"  {jtu.keystr(key_path) or '<root>'}: {_describe_node(node)}")
        children = children_with_keys(node, is_leaf)
        if children:
            stack.extend((((*key_path, k), c) for k, c in reversed(children)))
    return "\n".join(lines)


class TreeSelection:
    """An immutable selection of nodes of a PyTree; build one with `tree_select(tree)`.

    Every narrowing method returns a new `TreeSelection`; `set` and `apply` return a
    new tree. See `tree_select` for an overview and an example.
    """

    __slots__ = ("_description", "_is_leaf", "_selected", "_tree")

    def __init__(
        self,
        tree: Any,
        selected: tuple[tuple[_IndexPath, _KeyPath], ...],
        description: str,
        is_leaf: Callable[[Any], bool] | None,
    ) -> None:
        self._tree = tree
        self._selected = selected
        self._description = description
        self._is_leaf = is_leaf

    # --- narrowing ------------------------------------------------------------------

    def at_instances_of(
        self, cls: type | tuple[type, ...], *, exact: bool = False, allow_empty: bool = False
    ) -> TreeSelection:
        """The outermost nodes, inside the current selection, that are instances of `cls`.

        Arguments:
            cls: a type or a tuple of types. Subclasses match too (so a custom `Linear`
                subclass is not silently skipped), unless `exact=True`.
            exact: match only nodes whose type is exactly `cls` (or one of them).
            allow_empty: return an empty selection instead of raising when nothing matches.

        Raises:
            TypeError: `cls` is not a type or a tuple of types.
            ValueError: nothing matches and `allow_empty` is false.
        """
        classes = cls if isinstance(cls, tuple) else (cls,)
        if not classes or not all(isinstance(c, type) for c in classes):
            raise TypeError(
                f"`at_instances_of` takes a type or a tuple of types, got {cls!r}. Pass the "
                "class itself, e.g. `.at_instances_of(eqx.nn.Linear)`."
            )
        names = ", ".join(c.__qualname__ for c in classes)
        step = f".at_instances_of({names}{', exact=True' if exact else ''})"
        if exact:
            exact_classes = set(classes)

            def match(path: _KeyPath, node: Any) -> bool:
                return type(node) in exact_classes
        else:

            def match(path: _KeyPath, node: Any) -> bool:
                return isinstance(node, classes)

        return self._narrow(match, step, allow_empty)

    def where(
        self, pred: Callable[[_KeyPath, Any], bool], *, allow_empty: bool = False
    ) -> TreeSelection:
        """The outermost nodes, inside the current selection, for which `pred` is true.

        Arguments:
            pred: called as `pred(path, node)`, where `path` is the node's key path from
                the root of the whole tree (`jax.tree_util.keystr(path)` reads it), for
                every node (subtrees and leaves) until it returns true. To keep or
                drop the selected nodes themselves without looking inside, use `filter`.
            allow_empty: return an empty selection instead of raising when nothing matches.

        Raises:
            ValueError: nothing matches and `allow_empty` is false.
        """
        name = getattr(pred, "__qualname__", repr(pred))
        return self._narrow(pred, f".where({name})", allow_empty)

    def filter(
        self, pred: Callable[[_KeyPath, Any], bool], *, allow_empty: bool = False
    ) -> TreeSelection:
        """The currently selected nodes for which `pred(path, node)` is true.

        Unlike `where`, this does not look inside the nodes: it keeps or drops each one,
        e.g. `.at_instances_of(Linear).filter(lambda path, lin: lin.out_features > 1)`.

        Raises:
            ValueError: nothing is kept and `allow_empty` is false.
        """
        name = getattr(pred, "__qualname__", repr(pred))
        kept = tuple(
            (index_path, key_path)
            for index_path, key_path in self._selected
            if pred(key_path, _node_at(self._tree, index_path))
        )
        return self._with(kept, f".filter({name})", allow_empty)

    def at(self, where: Callable[[Any], Any], *, allow_empty: bool = False) -> TreeSelection:
        """The nodes `where(node)` returns, for each currently selected node.

        Arguments:
            where: as for `tree_at`: `node -> part` or `node -> sequence of parts`, using
                only the structure of `node` (e.g. `lambda linear: linear.bias`).
            allow_empty: return an empty selection instead of raising when nothing is
                selected.

        Raises:
            ValueError: `where` returns something that is not part of the node, or a
                selected node is also inside another selected node, or nothing is
                selected and `allow_empty` is false.
        """
        step = f".at({getattr(where, '__qualname__', repr(where))})"
        found: list[tuple[_IndexPath, _KeyPath]] = []
        for index_path, key_path in self._selected:
            node = _node_at(self._tree, index_path)
            wrapped = _wrap(node, self._is_leaf)
            index = _index_nodes(wrapped, self._is_leaf)
            try:
                nodes, single = _as_node_list(where(wrapped), index)
                relative = _selection_paths(nodes, index, single)
            except Exception as error:
                error.add_note(
                    f"While running `{self._description}{step}` on the node at "
                    f"{jtu.keystr(key_path) or '<root>'}, whose structure is:\n"
                    f"{tree_outline(node, self._is_leaf)}"
                )
                raise
            for rel in relative:
                found.append(((*index_path, *rel), (*key_path, *_key_path(node, rel))))
        paths = sorted(found)
        for outer, inner in itertools.pairwise(paths):
            if inner[0][: len(outer[0])] == outer[0]:
                raise ValueError(
                    f"{self._description}{step} selects both {jtu.keystr(outer[1]) or '<root>'} "
                    f"and {jtu.keystr(inner[1])}, which lies inside it. Select disjoint nodes, "
                    "so that `set`/`apply` have one meaning."
                )
        return self._with(tuple(found), step, allow_empty)

    # --- reading ----------------------------------------------------------------------

    @property
    def tree(self) -> Any:
        """The whole tree the selection is over (unchanged)."""
        return self._tree

    def paths(self) -> tuple[_KeyPath, ...]:
        """The key path of each selected node, in tree order (`jax.tree_util.keystr` reads one)."""
        return tuple(key_path for _, key_path in self._selected)

    def get(self) -> tuple[Any, ...]:
        """The selected nodes, in tree order (always a tuple, even for one node)."""
        return tuple(_node_at(self._tree, index_path) for index_path, _ in self._selected)

    def mask(self, *, only: Callable[[Any], bool] | None = None) -> Any:
        """A bool PyTree shaped like the tree: `True` at every leaf inside a selected node.

        Arguments:
            only: if given, leaves for which `only(leaf)` is false are `False`:
                `only=eqx.is_inexact_array` keeps the mask to arrays that can train.

        Usable as a `filter_spec` for `partition`/`filter`, or as an optax mask
        (`optax.masked`, the `mask=` of `optax.adamw`).
        """
        selected = [index_path for index_path, _ in self._selected]

        def inside(leaf: Any) -> bool:
            return only is None or bool(only(leaf))

        def build(node: Any, path: _IndexPath) -> Any:
            if any(path[: len(s)] == s for s in selected):
                return jtu.tree_map(inside, node, is_leaf=self._is_leaf)
            if not any(s[: len(path)] == path for s in selected):
                return jtu.tree_map(lambda _: False, node, is_leaf=self._is_leaf)
            children, treedef = tree_flatten_one_level(node)
            return jtu.tree_unflatten(
                treedef, [build(c, (*path, i)) for i, c in enumerate(children)]
            )

        return build(self._tree, ())

    def __len__(self) -> int:
        return len(self._selected)

    def __iter__(self) -> Iterator[Any]:
        return iter(self.get())

    def __repr__(self) -> str:
        shown = ", ".join(jtu.keystr(p) or "<root>" for p in self.paths())
        return f"<{self._description}: {len(self)} node(s): {shown}>"

    # --- editing ----------------------------------------------------------------------

    def set(self, value: Any) -> Any:
        """A new tree in which every selected node is replaced by `value`."""
        return self._replace(lambda _: value)

    def apply(self, fn: Callable[[Any], Any]) -> Any:
        """A new tree in which every selected node `n` is replaced by `fn(n)`."""
        return self._replace(fn)

    # --- internals --------------------------------------------------------------------

    def _replace(self, fn: Callable[[Any], Any]) -> Any:
        if not self._selected:
            return self._tree
        index_paths = [index_path for index_path, _ in self._selected]
        if index_paths == [()]:
            return fn(self._tree)

        def where(tree: Any) -> tuple[Any, ...]:
            return tuple(_node_at(tree, p) for p in index_paths)

        return tree_at(where, self._tree, replace_fn=fn, is_leaf=self._is_leaf)

    def _narrow(
        self, match: Callable[[_KeyPath, Any], bool], step: str, allow_empty: bool
    ) -> TreeSelection:
        found: list[tuple[_IndexPath, _KeyPath]] = []
        for index_path, key_path in self._selected:
            stack = [(index_path, key_path, _node_at(self._tree, index_path))]
            while stack:
                ipath, kpath, node = stack.pop()
                if _is_empty_node(node, self._is_leaf):
                    continue
                if match(kpath, node):
                    found.append((ipath, kpath))
                    continue
                children = children_with_keys(node, self._is_leaf)
                if children:
                    stack.extend(
                        ((*ipath, i), (*kpath, k), c)
                        for i, (k, c) in reversed(list(enumerate(children)))
                    )
        return self._with(tuple(found), step, allow_empty)

    def _with(
        self, selected: tuple[tuple[_IndexPath, _KeyPath], ...], step: str, allow_empty: bool
    ) -> TreeSelection:
        description = self._description + step
        if not selected and not allow_empty:
            raise ValueError(
                f"`{description}` selected nothing. The tree's structure:\n"
                f"{tree_outline(self._tree, self._is_leaf)}\nCheck the type or predicate "
                "against the structure above, or pass `allow_empty=True` if an empty "
                "selection is expected."
            )
        return TreeSelection(self._tree, selected, description, self._is_leaf)


def _key_path(node: Any, rel: _IndexPath) -> _KeyPath:
    keys = []
    for i in rel:
        children = children_with_keys(node)
        assert children is not None
        key, node = children[i]
        keys.append(key)
    return tuple(keys)


def tree_select(tree: Any, *, is_leaf: Callable[[Any], bool] | None = None) -> TreeSelection:
    """Start a selection of `tree` for model surgery; it initially selects the whole tree.

    Narrow it with `.at_instances_of(T)`, `.where(pred)` and `.at(where_fn)` (each looks
    inside the current selection, so they compose) and `.filter(pred)` (keeps some of
    the selected nodes), read it with `.paths()`, `.get()`
    and `.mask()`, and edit with `.set(value)` or `.apply(fn)`, which return a new tree
    (through `tree_at`; the original is untouched). A step that selects nothing raises
    `ValueError`, showing the attempted selection and the tree's structure, unless it
    is given `allow_empty=True`.

    Arguments:
        tree: any PyTree (typically a Module).
        is_leaf: as for `jax.tree_util`: nodes it accepts are not looked into.

    Returns:
        A `TreeSelection` of the root.

    Example:
        ```python
        # Every Linear (subclasses included) gets a zero bias.
        model = eqx.tree_select(model).at_instances_of(eqx.nn.Linear).at(
            lambda lin: lin.bias
        ).apply(jnp.zeros_like)
        ```
    """
    return TreeSelection(tree, (((), ()),), f"tree_select({type(tree).__qualname__})", is_leaf)
