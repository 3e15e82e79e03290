"""`two_norm`, `rms_norm` and `max_norm`: norms of a whole PyTree of arrays.

They treat every array-like leaf as part of one flat vector `(x_1, ..., x_n)`, and are
differentiable everywhere, with gradient 0 at zero (where `sqrt` and `max` alone give
NaN or an arbitrary subgradient): the gradient a clipping or a convergence test wants.
"""

from __future__ import annotations

import functools
import math
from typing import Any

import jax
import jax.numpy as jnp
import jax.tree_util as jtu

from ._predicates import is_array_like

__all__ = ["max_norm", "rms_norm", "two_norm"]


def _leaves(x: Any, name: str) -> list[jax.Array]:
    """The array-like leaves of `x` as arrays; anything else is a `TypeError`."""
    leaves_with_paths = jtu.tree_flatten_with_path(x)[0]
    arrays = []
    for path, leaf in leaves_with_paths:
        if not is_array_like(leaf):
            raise TypeError(
                f"`{name}` takes a PyTree of arrays (or Python numbers), but the leaf at "
                f"`x{jtu.keystr(path)}` is a {type(leaf).__name__}: {leaf!r}. Filter it out "
                "first, for example `eqx.filter(x, eqx.is_array)`."
            )
        arrays.append(jnp.asarray(leaf))
    return arrays


def _real_dtype(arrays: list[jax.Array]) -> Any:
    """The real floating dtype of the norm: that of the leaves, promoted together."""
    dtypes = [
        a.dtype if jnp.issubdtype(a.dtype, jnp.inexact) else jnp.result_type(float) for a in arrays
    ]
    # Explicitly, so that mixing (say) float16 and float32 leaves works in strict mode.
    with jax.numpy_dtype_promotion("standard"):
        dtype = functools.reduce(jnp.promote_types, dtypes)
    return jnp.finfo(dtype).dtype  # type: ignore[no-untyped-call]  # complex64 -> float32


def _as_real(a: jax.Array, dtype: Any) -> jax.Array:
    if jnp.iscomplexobj(a):
        return jnp.abs(a).astype(dtype)
    return a.astype(dtype)


@jax.custom_jvp
def _two_norm_of(arrays: list[jax.Array]) -> jax.Array:
    dtype = _real_dtype(arrays)
    squares = [jnp.sum(jnp.square(_as_real(a, dtype))) for a in arrays]
    return jnp.sqrt(functools.reduce(jnp.add, squares))


@_two_norm_of.defjvp
def _two_norm_jvp(primals: Any, tangents: Any) -> tuple[jax.Array, jax.Array]:
    (arrays,), (t_arrays,) = primals, tangents
    out = _two_norm_of(arrays)
    # d|x| = Re(<x, dx>) / |x|; 0 (not NaN) at zero.
    safe = jnp.where(out == 0, jnp.ones_like(out), out)
    dots = [
        jnp.sum(jnp.real(jnp.conj(a) * t)).astype(out.dtype) / safe
        for a, t in zip(arrays, t_arrays, strict=True)
        if t.dtype != jax.dtypes.float0  # integer leaves have no tangent
    ]
    t_out = functools.reduce(jnp.add, dots, jnp.zeros_like(out))
    return out, jnp.where(out == 0, jnp.zeros_like(t_out), t_out)


@jax.custom_jvp
def _zero_gradient_at_zero(x: jax.Array) -> jax.Array:
    return x


@_zero_gradient_at_zero.defjvp
def _zero_gradient_at_zero_jvp(primals: Any, tangents: Any) -> tuple[jax.Array, jax.Array]:
    (x,), (t,) = primals, tangents
    return x, jnp.where(x == 0, jnp.zeros_like(t), t)


def two_norm(x: Any) -> jax.Array:
    """The L2 norm of a PyTree: `sqrt(sum_i |x_i|^2)` over every element of every leaf.

    Arguments:
        x: a PyTree of arrays or Python numbers (complex allowed).

    Returns:
        A real scalar array, `0.0` for a tree without elements. Its gradient is 0 at
        zero (not NaN).

    Example:
        >>> two_norm({"a": jnp.array([3.0]), "b": 4.0})
        Array(5., dtype=float32)
    """
    arrays = [a for a in _leaves(x, "two_norm") if a.size > 0]
    if not arrays:
        return jnp.zeros((), jnp.result_type(float))
    return _two_norm_of(arrays)


def rms_norm(x: Any) -> jax.Array:
    """The root-mean-square of a PyTree: `sqrt(sum_i |x_i|^2 / n)`, `n` elements in all.

    Arguments:
        x: a PyTree of arrays or Python numbers (complex allowed).

    Returns:
        A real scalar array, `0.0` for a tree without elements. Its gradient is 0 at
        zero (not NaN).

    Example:
        >>> rms_norm([jnp.array([3.0, 4.0]), jnp.zeros(2)])
        Array(2.5, dtype=float32)
    """
    arrays = [a for a in _leaves(x, "rms_norm") if a.size > 0]
    if not arrays:
        return jnp.zeros((), jnp.result_type(float))
    size = sum(a.size for a in arrays)
    norm = _two_norm_of(arrays)
    return norm / jnp.asarray(math.sqrt(size), norm.dtype)


def max_norm(x: Any) -> jax.Array:
    """The L-infinity norm of a PyTree: `max_i |x_i|` over every element of every leaf.

    Arguments:
        x: a PyTree of arrays or Python numbers (complex allowed).

    Returns:
        A real scalar array, `0.0` for a tree without elements. Its gradient is 0 at
        zero.

    Example:
        >>> max_norm({"a": jnp.array([1.0, -3.0]), "b": 2.0})
        Array(3., dtype=float32)
    """
    arrays = [a for a in _leaves(x, "max_norm") if a.size > 0]
    if not arrays:
        return jnp.zeros((), jnp.result_type(float))
    dtype = _real_dtype(arrays)
    maxes = [jnp.max(jnp.abs(a)).astype(dtype) for a in arrays]
    return _zero_gradient_at_zero(functools.reduce(jnp.maximum, maxes))
