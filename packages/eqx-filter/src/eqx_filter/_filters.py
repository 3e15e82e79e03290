"""`filter`, `partition` and `combine`: split a PyTree by a per-leaf test, and merge it back.

A *filter spec* is a PyTree prefix of the tree being filtered. Each of its leaves is
either a bool (applied to the whole subtree it covers) or a callable `leaf -> bool`
(mapped over the leaves of that subtree). Leaves judged false are replaced (by `None`
by default), which keeps the tree's structure so that `combine` can undo the split.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import jax
import jax.tree_util as jtu
import numpy as np

from ._compat import flatten_up_to

__all__ = ["combine", "filter", "partition"]

_IsLeaf = Callable[[Any], bool] | None


def _mask_for_subtree(spec_leaf: Any, subtree: Any, is_leaf: _IsLeaf) -> Any:
    if isinstance(spec_leaf, jax.core.Tracer):
        raise ValueError(
            "Filter specs cannot be traced arrays: a filter spec decides the structure "
            "of the result, which must be known at trace time. Pass Python bools or "
            "callables instead."
        )
    if isinstance(spec_leaf, (bool, np.bool_)):
        value = bool(spec_leaf)
        return jtu.tree_map(lambda _: value, subtree, is_leaf=is_leaf)
    if callable(spec_leaf):
        return jtu.tree_map(spec_leaf, subtree, is_leaf=is_leaf)
    raise ValueError(
        "A filter spec must consist of booleans and callables only; got a leaf of type "
        f"{type(spec_leaf).__name__} ({spec_leaf!r}). Use `True`/`False` for whole "
        "subtrees, or a predicate such as `eqx.is_array`."
    )


def _flat_mask(
    pytree: Any, filter_spec: Any, is_leaf: _IsLeaf
) -> tuple[list[Any], Any, list[bool]]:
    """The leaves of `pytree`, its treedef, and one bool per leaf (keep or not)."""
    leaves, treedef = jtu.tree_flatten(pytree, is_leaf=is_leaf)
    if (
        callable(filter_spec)
        and not isinstance(filter_spec, jax.core.Tracer)
        and not _is_pytree_node(filter_spec)
    ):
        return leaves, treedef, [bool(filter_spec(x)) for x in leaves]
    if isinstance(filter_spec, (bool, np.bool_)):
        return leaves, treedef, [bool(filter_spec)] * len(leaves)
    try:
        mask_tree = jtu.tree_map(
            lambda spec_leaf, subtree: _mask_for_subtree(spec_leaf, subtree, is_leaf),
            filter_spec,
            pytree,
        )
    except ValueError as e:
        if "filter spec" in str(e).lower():
            raise
        raise ValueError(
            "The filter spec must be a PyTree prefix of the tree being filtered, but its "
            f"structure does not match: {e}"
        ) from None
    mask = flatten_up_to(treedef, mask_tree)
    return leaves, treedef, [bool(m) for m in mask]


def _is_pytree_node(x: Any) -> bool:
    return jtu.treedef_is_leaf(jtu.tree_structure(x)) is False


def filter(
    pytree: Any,
    filter_spec: Any,
    inverse: bool = False,
    replace: Any = None,
    is_leaf: Callable[[Any], bool] | None = None,
) -> Any:
    """Keep the leaves of `pytree` that `filter_spec` selects; replace the others.

    **Arguments:**

    - `pytree`: any PyTree.
    - `filter_spec`: a PyTree prefix of `pytree` whose leaves are bools or callables
      `leaf -> bool`.
    - `inverse`: keep the leaves judged false instead.
    - `replace`: the value put in place of the leaves not kept.
    - `is_leaf`: passed to the flattening of `pytree`.

    **Returns:** a PyTree with the structure of `pytree`.

    **Raises:** `ValueError` if a spec leaf is a traced array, neither a bool nor a
    callable, or if `filter_spec` is not a prefix of `pytree`.

    ```python
    params = eqx_filter.filter(model, eqx_filter.is_array)
    ```
    """
    leaves, treedef, mask = _flat_mask(pytree, filter_spec, is_leaf)
    keep = not inverse
    return jtu.tree_unflatten(
        treedef, [x if m is keep else replace for x, m in zip(leaves, mask, strict=True)]
    )


def partition(
    pytree: Any,
    filter_spec: Any,
    replace: Any = None,
    is_leaf: Callable[[Any], bool] | None = None,
) -> tuple[Any, Any]:
    """Split `pytree` in one pass into `(kept, rest)`, the two halves of `filter`.

    `combine(kept, rest)` rebuilds `pytree` (when `replace` is `None`).

    **Arguments:** as for `filter`.

    **Returns:** `(filter(pytree, spec), filter(pytree, spec, inverse=True))`.

    ```python
    params, static = eqx_filter.partition(model, eqx_filter.is_array)
    model = eqx_filter.combine(params, static)
    ```
    """
    leaves, treedef, mask = _flat_mask(pytree, filter_spec, is_leaf)
    kept = [x if m else replace for x, m in zip(leaves, mask, strict=True)]
    rest = [replace if m else x for x, m in zip(leaves, mask, strict=True)]
    return jtu.tree_unflatten(treedef, kept), jtu.tree_unflatten(treedef, rest)


def _first_not_none(*values: Any) -> Any:
    for value in values:
        if value is not None:
            return value
    return None


def combine(*pytrees: Any, is_leaf: Callable[[Any], bool] | None = None) -> Any:
    """Merge PyTrees of the same structure, taking the first non-`None` value at each leaf.

    `None` counts as a leaf here (OR-ed with `is_leaf`), so the trees may hold `None`
    wherever another tree holds a subtree.

    **Arguments:**

    - `*pytrees`: at least one PyTree, all with the same structure (treating `None` as
      a leaf).
    - `is_leaf`: extra leaf test.

    **Returns:** the merged PyTree.

    **Raises:** `TypeError` when given no trees; `ValueError` when the structures differ.

    ```python
    model = eqx_filter.combine(params, static)
    ```
    """
    if not pytrees:
        raise TypeError("combine() needs at least one PyTree to combine.")
    if is_leaf is None:
        _is_leaf: Callable[[Any], bool] = _is_none
    else:
        user_is_leaf = is_leaf

        def _is_leaf(x: Any) -> bool:
            return x is None or bool(user_is_leaf(x))

    leaves, treedef = jtu.tree_flatten(pytrees[0], is_leaf=_is_leaf)
    if len(pytrees) == 1:
        return jtu.tree_unflatten(treedef, leaves)
    others = []
    for i, tree in enumerate(pytrees[1:], start=1):
        try:
            others.append(flatten_up_to(treedef, tree))
        except (ValueError, TypeError) as e:
            raise ValueError(
                f"combine() needs PyTrees of the same structure, but tree {i} does not "
                f"match tree 0: {e}"
            ) from None
    return jtu.tree_unflatten(
        treedef, [_first_not_none(*xs) for xs in zip(leaves, *others, strict=True)]
    )


def _is_none(x: Any) -> bool:
    return x is None
