"""Small helpers shared by the layers: default dtype, parameter init, sentinel."""

import math
from collections.abc import Callable
from typing import Any

import jax
import jax.numpy as jnp
import jax.random as jr

from eqx_tree.internal import sentinel as _tree_sentinel

__all__ = ["default_floating_dtype", "identity", "sentinel", "uniform_init"]


# `jnp.finfo` is untyped in some JAX versions; bind it once with a type.
finfo: Callable[[Any], Any] = jnp.finfo


# The "argument not given" marker (distinct from `None`): eqx_tree's, one for all eqx.
sentinel: Any = _tree_sentinel


def default_floating_dtype() -> Any:
    """`float64` when `jax_enable_x64` is on (including inside `enable_x64()`), else `float32`."""
    return jax.dtypes.canonicalize_dtype(jnp.float64)


def identity(x: Any) -> Any:
    """The identity function: MLP's default `final_activation`."""
    return x


def uniform_init(key: jax.Array, shape: tuple[int, ...], dtype: Any, lim: float) -> jax.Array:
    """Draw from U(-lim, lim) in `dtype`.

    For a complex `dtype`, the real and imaginary parts are drawn independently, with
    the keys from `split(key)`, so the same key gives the same parameters as Equinox.
    """
    if jnp.issubdtype(dtype, jnp.complexfloating):
        real_dtype = finfo(dtype).dtype
        rkey, ikey = jr.split(key, 2)
        real = jr.uniform(rkey, shape, real_dtype, minval=-lim, maxval=lim)
        imag = jr.uniform(ikey, shape, real_dtype, minval=-lim, maxval=lim)
        return jax.lax.complex(real, imag).astype(dtype)
    return jr.uniform(key, shape, dtype, minval=-lim, maxval=lim)


def fan_in_limit(fan_in: int) -> float:
    """`1/sqrt(fan_in)`, or 1.0 for an empty fan-in."""
    return 1.0 if fan_in == 0 else 1 / math.sqrt(fan_in)


def rank_error(layer: str, expected_shape: str, shape: tuple[int, ...], expected_rank: int) -> str:
    """The message for an input of the wrong rank: expected vs actual, and the vmap hint."""
    msg = (
        f"Input to `{layer}` needs to have rank {expected_rank}, i.e. shape {expected_shape}, "
        f"but got an input of shape {shape}."
    )
    if len(shape) > expected_rank:
        msg += (
            f" `{layer}` takes unbatched inputs: to apply it to a batch, use "
            "`jax.vmap(layer)(x)` (or `eqx.filter_vmap`) over the leading axis."
        )
    return msg


def at_least_float32(dtype: Any) -> Any:
    """`result_type(dtype, float32)` under standard promotion: the dtype to compute in."""
    with jax.numpy_dtype_promotion("standard"):
        return jnp.result_type(dtype, jnp.float32)
