"""Axis specs for `filter_vmap` / `filter_pmap`, and `if_array`.

An axis spec is a PyTree prefix whose leaves are an `int`, `None`, or a callable
`leaf -> int | None`; resolving it against a tree gives one axis per leaf.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from typing import Any

import jax.tree_util as jtu

from eqx_tree import is_array

from ._compat import flatten_up_to
from ._jit._bind import signature_of

__all__ = ["if_array", "resolve_axes", "resolve_in_axes_dict"]


@dataclasses.dataclass(frozen=True)
class if_array:
    """An axis spec leaf: `axis` for array leaves, `None` (broadcast) for the rest.

    A frozen, hashable dataclass (not a PyTree).

    **Arguments:** `axis`, the axis to map over for array leaves.

    ```python
    eqx_filter.filter_vmap(f, in_axes=(eqx_filter.if_array(1), None))
    ```
    """

    axis: int

    def __call__(self, x: Any) -> int | None:
        return self.axis if is_array(x) else None


def _is_none(x: Any) -> bool:
    return x is None


def _check_axis(axis: Any, what: str) -> int | None:
    if axis is None or (isinstance(axis, int) and not isinstance(axis, bool)):
        return axis
    raise ValueError(
        f"`{what}` must consist of None, ints, and callables only; a callable returned "
        f"{axis!r} ({type(axis).__name__})."
    )


def resolve_axes(spec: Any, tree: Any, what: str) -> list[int | None]:
    """One axis per leaf of `tree` (flattened with `None` as an empty subtree)."""

    def for_subtree(spec_leaf: Any, subtree: Any) -> Any:
        if spec_leaf is None or (isinstance(spec_leaf, int) and not isinstance(spec_leaf, bool)):
            return jtu.tree_map(lambda _: spec_leaf, subtree)
        if callable(spec_leaf):
            return jtu.tree_map(lambda x: _check_axis(spec_leaf(x), what), subtree)
        raise ValueError(
            f"`{what}` must consist of None, ints, and callables only; got a leaf "
            f"{spec_leaf!r} of type {type(spec_leaf).__name__}."
        )

    leaves, treedef = jtu.tree_flatten(tree)
    if callable(spec) and jtu.treedef_is_leaf(jtu.tree_structure(spec)):
        return [_check_axis(spec(x), what) for x in leaves]
    if isinstance(spec, bool):
        _bad(spec, what)
    if spec is None or isinstance(spec, int):
        return [spec] * len(leaves)
    try:
        axes_tree = jtu.tree_map(for_subtree, spec, tree, is_leaf=_is_none)
    except ValueError as e:
        if what in str(e):
            raise
        raise ValueError(
            f"`{what}` must be a PyTree prefix of the arguments it describes: {e}"
        ) from None
    return list(flatten_up_to(treedef, axes_tree))


def _bad(spec: Any, what: str) -> None:
    raise ValueError(f"`{what}` must consist of None, ints, and callables only; got {spec!r}.")


def resolve_in_axes_dict(
    fun: Callable[..., Any], in_axes: dict[str, Any], args: tuple[Any, ...], default: Any
) -> tuple[Any, ...]:
    """Turn `in_axes={"name": spec}` into a tuple of per-positional-argument specs."""
    try:
        parameters = list(signature_of(fun).parameters.values())
    except (TypeError, ValueError):
        raise ValueError(
            "`in_axes` was given as a dict, but the signature of the function could not "
            "be read; pass `in_axes` as a tuple instead."
        ) from None
    names = [p.name for p in parameters]
    for key in in_axes:
        if key not in names:
            raise ValueError(
                f"The `in_axes` key {key!r} did not correspond to any argument of the "
                f"function (its parameters are {names})."
            )
    result = []
    for i in range(len(args)):
        name = names[i] if i < len(names) else None
        result.append(in_axes.get(name, default) if name is not None else default)
    passed = set(names[: len(args)])
    for key in in_axes:
        if key not in passed:
            raise ValueError(
                f"The `in_axes` key {key!r} names a parameter that was not passed "
                "positionally; pass it positionally (keyword arguments cannot be used "
                "with `filter_vmap`)."
            )
    return tuple(result)
