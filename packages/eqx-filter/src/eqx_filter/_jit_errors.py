"""Error messages for `filter_jit` calls whose static parts are unhashable.

Computed only when hashing failed, so the hit path never pays for key paths.
"""

from __future__ import annotations

import inspect
from collections.abc import Iterator
from typing import Any

import jax.tree_util as jtu

from ._jit_bind import signature_of

__all__ = ["unhashable_leaf_error", "unhashable_treedef_error"]


def _leaf_path(tree: Any, index: int, has_fun: bool, fun: Any) -> str:
    """A readable path for leaf `index`: `x.layers[0]` (parameter name) or `args[2]`."""
    names = ("fun", "args", "kwargs") if has_fun else ("args", "kwargs")
    path, _ = jtu.tree_flatten_with_path(tree)[0][index]
    head, *rest = path
    group = names[head.idx]
    if group == "args" and rest:
        position = rest[0].idx
        parameters = _parameter_names(fun)
        if position < len(parameters):
            return f"{parameters[position]}{jtu.keystr(tuple(rest[1:]))} (args[{position}])"
    if group == "kwargs" and rest:
        return f"{rest[0].key}{jtu.keystr(tuple(rest[1:]))}"
    return group + jtu.keystr(tuple(rest))


def _parameter_names(fun: Any) -> list[str]:
    try:
        parameters = signature_of(fun).parameters.values()
    except (TypeError, ValueError):
        return []
    kinds = (inspect.Parameter.POSITIONAL_ONLY, inspect.Parameter.POSITIONAL_OR_KEYWORD)
    return [p.name for p in parameters if p.kind in kinds]


def unhashable_leaf_error(
    tree: Any, static_positions: tuple[int, ...], has_fun: bool, error: Exception, fun: Any
) -> TypeError:
    for index in static_positions:
        leaf = jtu.tree_leaves(tree)[index]
        try:
            hash(leaf)
        except TypeError:
            where = _leaf_path(tree, index, has_fun, fun)
            return TypeError(
                f"filter_jit: the non-array argument at `{where}` (of type "
                f"{type(leaf).__name__}) is unhashable. Non-array leaves are static: they "
                "are hashed to look up the compiled function. Make it hashable (a tuple "
                "instead of a list, a frozen dataclass), or turn it into a JAX array."
            )
    return TypeError(f"filter_jit: the static part of the arguments is unhashable: {error}")


def unhashable_treedef_error(tree: Any, error: Exception, has_fun: bool) -> TypeError:
    names = ("fun", "args", "kwargs") if has_fun else ("args", "kwargs")
    culprit = None
    for path, node in _nodes_with_path(tree, ()):
        try:
            hash(jtu.tree_structure(node))
        except TypeError:
            culprit = path
    if culprit:
        where = names[culprit[0].idx] + jtu.keystr(tuple(culprit[1:]))
        return TypeError(
            f"filter_jit: the static (non-array) data of the node at `{where}` is "
            f"unhashable ({error}). Static fields are hashed to look up the compiled "
            "function: make them hashable (tuples instead of lists)."
        )
    return TypeError(f"filter_jit: the static part of the arguments is unhashable: {error}")


def _nodes_with_path(tree: Any, path: tuple[Any, ...]) -> Iterator[tuple[tuple[Any, ...], Any]]:
    """Every node of `tree`, parents first, with its key path."""
    yield path, tree
    children, _ = jtu.tree_flatten_with_path(tree, is_leaf=lambda x: x is not tree)
    if len(children) == 1 and children[0][1] is tree:
        return
    for child_path, child in children:
        yield from _nodes_with_path(child, path + tuple(child_path))
