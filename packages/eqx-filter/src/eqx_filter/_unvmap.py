"""Reductions over enclosing `vmap` axes: `unvmap_any` and `unvmap_max`.

Inside `vmap`, a value is one element of a batch. These return the same value for every
element, reduced over the whole batch (any / max), which is what a check or a breakpoint
needs: "did any element fail?", "which is the largest error index?". Built from
`jax.custom_batching.custom_vmap`: outside `vmap` they are the identity.
"""

from __future__ import annotations

from typing import Any

import jax
import jax.numpy as jnp

__all__ = ["unvmap_any", "unvmap_max"]


@jax.custom_batching.custom_vmap
def _any(x: Any) -> Any:
    return x


@_any.def_vmap
def _any_rule(axis_size: int, in_batched: list[bool], x: Any) -> tuple[Any, bool]:
    (batched,) = in_batched
    if batched:
        x = jnp.any(x, axis=0)
    return _any(x), False


@jax.custom_batching.custom_vmap
def _max(x: Any) -> Any:
    return x


@_max.def_vmap
def _max_rule(axis_size: int, in_batched: list[bool], x: Any) -> tuple[Any, bool]:
    (batched,) = in_batched
    if batched:
        x = jnp.max(x, axis=0)
    return _max(x), False


def unvmap_any(x: Any) -> Any:
    """`jnp.any(x)`, also over every enclosing `vmap` axis (a 0-d bool)."""
    return _any(jnp.any(jnp.asarray(x)))


def unvmap_max(x: Any) -> Any:
    """`jnp.max(x)`, also over every enclosing `vmap` axis (a 0-d array)."""
    return _max(jnp.max(jnp.asarray(x)))
