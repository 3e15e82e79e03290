"""`tree_flatten_one_level`: the direct children of a PyTree node."""

from __future__ import annotations

from typing import Any

import jax.tree_util as jtu

__all__ = ["tree_flatten_one_level"]


def tree_flatten_one_level(pytree: Any) -> tuple[list[Any], jtu.PyTreeDef]:
    """Flatten exactly one level: every child of the root is kept whole, as a leaf.

    Behaves as `jax.tree_util.tree_flatten` would if every non-root node (including
    `None`, `[]` and field-less Modules) were a leaf. A leaf returns
    `([leaf], leaf_treedef)`.

    Raises:
        ValueError: the root is its own direct child (`x = []; x.append(x)`).

    Example:
        >>> tree_flatten_one_level([None, {"a": 1}, 2])[0]
        [None, {'a': 1}, 2]
    """
    seen_root = False

    def is_leaf(node: Any) -> bool:
        nonlocal seen_root
        if node is pytree:
            if seen_root:
                raise ValueError(
                    f"The {type(pytree).__name__} being flattened is immediately "
                    "self-referential: it contains itself as a direct child. "
                    "Break the cycle before treating it as a PyTree."
                )
            seen_root = True
            return False
        return True

    return jtu.tree_flatten(pytree, is_leaf=is_leaf)


def children_with_keys(pytree: Any, is_leaf: Any = None) -> list[tuple[Any, Any]] | None:
    """`(key, child)` pairs of a node, or `None` when `pytree` is a leaf (for `is_leaf`)."""
    if is_leaf is not None and is_leaf(pytree):
        return None
    seen_root = False

    def one_level(node: Any) -> bool:
        nonlocal seen_root
        if node is pytree and not seen_root:
            seen_root = True
            return False
        return True  # a child that is the root itself stays a leaf: the caller sees the cycle

    pairs, treedef = jtu.tree_flatten_with_path(pytree, is_leaf=one_level)
    if jtu.treedef_is_leaf(treedef):
        return None
    return [(path[0], child) for path, child in pairs]
