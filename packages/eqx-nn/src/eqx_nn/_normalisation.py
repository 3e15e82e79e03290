"""Normalisation layers: `LayerNorm`, `RMSNorm` and `GroupNorm`.

Statistics are computed in `result_type(x.dtype, float32)` and the output is cast back
to `x.dtype`, so float16/bfloat16 inputs are normalised accurately. Each layer takes an
optional `state`, returned unchanged, so it drops into stateful models.
"""

from collections.abc import Sequence
from typing import Any

import jax
import jax.numpy as jnp
from jax.typing import ArrayLike

from eqx_module import Module, field
from eqx_tree import EqxDeprecationWarning
from eqx_tree.internal import warn_at_user_code

from ._hyperparameters import check_at_least, check_size, check_sizes
from ._misc import at_least_float32, default_floating_dtype, sentinel

__all__ = ["GroupNorm", "LayerNorm", "RMSNorm"]


def _normalise_shape(shape: int | Sequence[int]) -> tuple[int, ...]:
    return (shape,) if isinstance(shape, int) else tuple(shape)


def _check_shape(layer: str, expected: tuple[int, ...], x: jax.Array) -> None:
    if x.shape != expected:
        raise ValueError(
            f"`{layer}(shape)(x)` must satisfy `shape == x.shape`, but got `shape={expected}` "
            f"and `x.shape={x.shape}`. Layers take unbatched inputs: to normalise a batch, "
            f"replace `norm(x)` with `jax.vmap(norm)(x)`."
        )


def _affine(
    out: jax.Array, weight: jax.Array | None, bias: jax.Array | None, dtype: Any
) -> jax.Array:
    if weight is not None:
        out = out * weight.astype(dtype)
    if bias is not None:
        out = out + bias.astype(dtype)
    return out


def _finish(out: jax.Array, orig_dtype: Any, state: Any) -> Any:
    out = out.astype(orig_dtype)
    return out if state is sentinel else (out, state)


class LayerNorm(Module):
    """Layer normalisation (Ba et al., 2016) over every axis of the input.

    Arguments:
        shape: the input shape (an int or a tuple).
        eps: added to the variance.
        use_weight: learn an elementwise scale (initialised to ones).
        use_bias: learn an elementwise shift (initialised to zeros).
        dtype: parameter dtype; `None` is float32 (float64 under x64).
        elementwise_affine: deprecated; sets both `use_weight` and `use_bias`.

    Raises:
        ValueError: (at call time) `x.shape != shape`.

    Example:
        >>> norm = LayerNorm(3)
        >>> norm(jnp.array([1.0, 2.0, 3.0])).round(3)
        Array([-1.225,  0.   ,  1.225], dtype=float32)
    """

    shape: tuple[int, ...] = field(static=True)
    eps: int | float = field(static=True)
    use_weight: bool = field(static=True)
    use_bias: bool = field(static=True)
    weight: jax.Array | None
    bias: jax.Array | None

    def __init__(
        self,
        shape: int | Sequence[int],
        eps: int | float = 1e-5,
        use_weight: bool = True,
        use_bias: bool = True,
        dtype: Any = None,
        *,
        elementwise_affine: bool | None = None,
    ) -> None:
        if elementwise_affine is not None:
            warn_at_user_code(
                "LayerNorm(elementwise_affine=...) is deprecated; use `use_weight=...` and "
                "`use_bias=...` instead.",
                EqxDeprecationWarning,
            )
            use_weight = use_bias = elementwise_affine
        check_sizes("LayerNorm", "shape", shape)
        check_at_least("LayerNorm", "eps", eps, 0)
        dtype = default_floating_dtype() if dtype is None else dtype
        self.shape = _normalise_shape(shape)
        self.eps = eps
        self.use_weight = use_weight
        self.use_bias = use_bias
        self.weight = jnp.ones(self.shape, dtype) if use_weight else None
        self.bias = jnp.zeros(self.shape, dtype) if use_bias else None

    def __call__(self, x: ArrayLike, state: Any = sentinel, *, key: jax.Array | None = None) -> Any:
        """Normalise `x` (of shape `shape`): `(x - mean) * rsqrt(var + eps) * weight + bias`.

        Returns:
            `out`, or `(out, state)` when a `state` is passed (unchanged).
        """
        with jax.named_scope("eqx.nn.LayerNorm"):
            x = jnp.asarray(x)
            _check_shape("LayerNorm", self.shape, x)
            orig_dtype = x.dtype
            dtype = at_least_float32(orig_dtype)
            x = x.astype(dtype)
            mean = jnp.mean(x, keepdims=True)
            variance = jnp.maximum(jnp.var(x, keepdims=True), 0)
            out = (x - mean) * jax.lax.rsqrt(variance + jnp.asarray(self.eps, variance.dtype))
            return _finish(_affine(out, self.weight, self.bias, dtype), orig_dtype, state)


class RMSNorm(Module):
    """Root-mean-square normalisation (Zhang & Sennrich, 2019) over every axis.

    Arguments:
        shape: the input shape (an int or a tuple).
        eps: added to the mean square.
        use_weight: learn an elementwise scale (initialised to ones).
        use_bias: learn an elementwise shift (initialised to zeros; on by default).
        dtype: parameter dtype; `None` is float32 (float64 under x64).

    Raises:
        ValueError: (at call time) `x.shape != shape`.

    Example:
        >>> RMSNorm(2)(jnp.array([3.0, 4.0])).round(3)
        Array([0.849, 1.131], dtype=float32)
    """

    shape: tuple[int, ...] = field(static=True)
    eps: int | float = field(static=True)
    use_weight: bool = field(static=True)
    use_bias: bool = field(static=True)
    weight: jax.Array | None
    bias: jax.Array | None

    def __init__(
        self,
        shape: int | Sequence[int],
        eps: int | float = 1e-5,
        use_weight: bool = True,
        use_bias: bool = True,
        dtype: Any = None,
    ) -> None:
        check_sizes("RMSNorm", "shape", shape)
        check_at_least("RMSNorm", "eps", eps, 0)
        dtype = default_floating_dtype() if dtype is None else dtype
        self.shape = _normalise_shape(shape)
        self.eps = eps
        self.use_weight = use_weight
        self.use_bias = use_bias
        self.weight = jnp.ones(self.shape, dtype) if use_weight else None
        self.bias = jnp.zeros(self.shape, dtype) if use_bias else None

    def __call__(self, x: ArrayLike, state: Any = sentinel, *, key: jax.Array | None = None) -> Any:
        """Normalise `x` (of shape `shape`): `x * rsqrt(mean(x**2) + eps) * weight + bias`.

        Returns:
            `out`, or `(out, state)` when a `state` is passed (unchanged).
        """
        with jax.named_scope("eqx.nn.RMSNorm"):
            x = jnp.asarray(x)
            _check_shape("RMSNorm", self.shape, x)
            orig_dtype = x.dtype
            dtype = at_least_float32(orig_dtype)
            x = x.astype(dtype)
            mean_square = jnp.mean(x * x)
            out = x * jax.lax.rsqrt(mean_square + jnp.asarray(self.eps, mean_square.dtype))
            return _finish(_affine(out, self.weight, self.bias, dtype), orig_dtype, state)


class GroupNorm(Module):
    """Group normalisation (Wu & He, 2018) of an input `(channels, *spatial)`.

    Channels are split into `groups`; each group is normalised over its channels and all
    spatial axes. The optional per-channel affine broadcasts from the left.

    Arguments:
        groups: the number of groups; must divide `channels`.
        channels: the channel count (required when `channelwise_affine`).
        eps: added to the variance.
        channelwise_affine: learn a per-channel scale (ones) and shift (zeros).
        dtype: parameter dtype; `None` is float32 (float64 under x64).

    Raises:
        ValueError: `channels % groups != 0`; `channels=None` with `channelwise_affine`;
            at call time, an input whose channel count is not divisible by `groups` or
            differs from `channels`.

    Example:
        >>> GroupNorm(2, 4)(jnp.arange(8.0).reshape(4, 2)).shape
        (4, 2)
    """

    groups: int = field(static=True)
    channels: int | None = field(static=True)
    eps: int | float = field(static=True)
    channelwise_affine: bool = field(static=True)
    weight: jax.Array | None
    bias: jax.Array | None

    def __init__(
        self,
        groups: int,
        channels: int | None = None,
        eps: int | float = 1e-5,
        channelwise_affine: bool = True,
        dtype: Any = None,
    ) -> None:
        check_size("GroupNorm", "groups", groups, minimum=1)
        if channels is not None:
            check_size("GroupNorm", "channels", channels, minimum=1)
        check_at_least("GroupNorm", "eps", eps, 0)
        if channels is not None and channels % groups != 0:
            raise ValueError(
                f"The number of groups must divide the number of channels, but got "
                f"groups={groups} and channels={channels}."
            )
        if channels is None and channelwise_affine:
            raise ValueError(
                "The number of channels should be specified if `channelwise_affine=True`: "
                "pass `GroupNorm(groups, channels=...)`, or `channelwise_affine=False`."
            )
        dtype = default_floating_dtype() if dtype is None else dtype
        self.groups = groups
        self.channels = channels
        self.eps = eps
        self.channelwise_affine = channelwise_affine
        self.weight = jnp.ones((channels,), dtype) if channelwise_affine else None
        self.bias = jnp.zeros((channels,), dtype) if channelwise_affine else None

    def __call__(self, x: ArrayLike, state: Any = sentinel, *, key: jax.Array | None = None) -> Any:
        """Normalise `x` of shape `(channels, *spatial)`.

        Returns:
            `out`, or `(out, state)` when a `state` is passed (unchanged).
        """
        with jax.named_scope("eqx.nn.GroupNorm"):
            x = jnp.asarray(x)
            if x.ndim == 0:
                raise ValueError(
                    "GroupNorm expects an input of shape (channels, *spatial), but got a scalar."
                )
            channels = x.shape[0]
            if self.channels is not None and channels != self.channels:
                raise ValueError(
                    f"GroupNorm was built for channels={self.channels}, but got an input of "
                    f"shape {x.shape} with {channels} channels on axis 0. Layers take "
                    "unbatched inputs: for a batch use `jax.vmap(norm)(x)`."
                )
            if channels % self.groups != 0:
                raise ValueError(
                    f"The number of groups ({self.groups}) must divide the number of channels "
                    f"of the input ({channels}, axis 0 of shape {x.shape})."
                )
            orig_dtype = x.dtype
            dtype = at_least_float32(orig_dtype)
            y = x.astype(dtype).reshape(self.groups, -1)
            mean = jnp.mean(y, axis=1, keepdims=True)
            variance = jnp.maximum(jnp.var(y, axis=1, keepdims=True), 0)
            out = (y - mean) * jax.lax.rsqrt(variance + jnp.asarray(self.eps, variance.dtype))
            out = out.reshape(x.shape)
            if self.weight is not None and self.bias is not None:
                affine_shape = (channels,) + (1,) * (x.ndim - 1)
                out = out * self.weight.astype(dtype).reshape(affine_shape)
                out = out + self.bias.astype(dtype).reshape(affine_shape)
            return _finish(out, orig_dtype, state)
