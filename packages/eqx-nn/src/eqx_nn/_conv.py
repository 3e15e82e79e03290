"""Convolutions: `Conv` and `Conv1d/2d/3d`."""

import math
from collections.abc import Sequence
from typing import Any

import jax
import jax.numpy as jnp
import jax.random as jr
from jax.typing import ArrayLike
from jaxtyping import Shaped

from eqx_module import Module, field

from ._conv_args import normalise_padding, normalise_padding_mode, normalise_tuple, same_pads
from ._hyperparameters import check_size
from ._misc import default_floating_dtype, fan_in_limit, rank_error, uniform_init

__all__ = ["Conv", "Conv1d", "Conv2d", "Conv3d", "check_conv_input", "init_conv_params"]

_NUMPY_PAD_MODE = {"REFLECT": "reflect", "REPLICATE": "edge", "CIRCULAR": "wrap"}


def check_groups(in_channels: int, out_channels: int, groups: int, layer: str = "Conv") -> None:
    """Channel counts of at least 1, and `groups` dividing both (shared with ConvTranspose)."""
    check_size(layer, "in_channels", in_channels, minimum=1)
    check_size(layer, "out_channels", out_channels, minimum=1)
    if not isinstance(groups, int) or groups < 1:
        raise ValueError(f"`groups` must be a positive int, but got {groups!r}.")
    if in_channels % groups != 0:
        raise ValueError(
            f"`in_channels` (={in_channels}) must be divisible by `groups` (={groups})."
        )
    if out_channels % groups != 0:
        raise ValueError(
            f"`out_channels` (={out_channels}) must be divisible by `groups` (={groups})."
        )


def init_conv_params(
    key: jax.Array,
    in_channels: int,
    out_channels: int,
    kernel_size: tuple[int, ...],
    groups: int,
    use_bias: bool,
    dtype: Any,
) -> tuple[jax.Array, jax.Array | None]:
    """`wkey, bkey = split(key)`; weight `(out, in/groups, *kernel)` and bias `(out, 1, ...)`
    from U(-lim, lim) with `lim = 1/sqrt((in/groups) * prod(kernel))`."""
    dtype = default_floating_dtype() if dtype is None else dtype
    wkey, bkey = jr.split(key, 2)
    fan_in = (in_channels // groups) * math.prod(kernel_size)
    lim = fan_in_limit(fan_in)
    weight = uniform_init(wkey, (out_channels, in_channels // groups, *kernel_size), dtype, lim)
    bias_shape = (out_channels,) + (1,) * len(kernel_size)
    bias = uniform_init(bkey, bias_shape, dtype, lim) if use_bias else None
    return weight, bias


def check_conv_input(layer: str, x: jax.Array, num_spatial_dims: int, in_channels: int) -> None:
    """Rank and channel checks shared by `Conv` and `ConvTranspose`."""
    rank = num_spatial_dims + 1
    if x.ndim != rank:
        expected = "(in_channels, " + ", ".join(f"dim{i}" for i in range(num_spatial_dims)) + ")"
        raise ValueError(rank_error(layer, expected, x.shape, rank))
    if x.shape[0] != in_channels:
        raise ValueError(
            f"Input to `{layer}` must have {in_channels} channels (`in_channels`) on axis 0, "
            f"but got an input of shape {x.shape}."
        )


class Conv(Module):
    """An `n`-dimensional convolution (a cross-correlation, as in every deep-learning library).

    Arguments:
        num_spatial_dims: `n`, the number of spatial dimensions.
        in_channels, out_channels: channel counts.
        kernel_size, stride, dilation: an int or `n` ints.
        padding: an int, `n` ints, `n` (low, high) pairs, or `"SAME"`, `"SAME_LOWER"`,
            `"VALID"` (any case).
        groups: feature groups; must divide `in_channels`.
        use_bias: whether to add a bias.
        padding_mode: `"ZEROS"`, `"REFLECT"`, `"REPLICATE"` or `"CIRCULAR"` (any case).
        dtype: parameter dtype; `None` is float32 (float64 under x64).
        key: a PRNG key (`wkey, bkey = split(key)`).

    Raises:
        ValueError: bad lengths or values, or `in_channels` not divisible by `groups`.

    Example:
        >>> conv = Conv(2, 3, 4, kernel_size=3, padding="SAME", key=jax.random.key(0))
        >>> conv(jnp.ones((3, 8, 8))).shape
        (4, 8, 8)
    """

    num_spatial_dims: int = field(static=True)
    weight: jax.Array
    bias: jax.Array | None
    in_channels: int = field(static=True)
    out_channels: int = field(static=True)
    kernel_size: tuple[int, ...] = field(static=True)
    stride: tuple[int, ...] = field(static=True)
    padding: str | tuple[tuple[int, int], ...] = field(static=True)
    dilation: tuple[int, ...] = field(static=True)
    groups: int = field(static=True)
    use_bias: bool = field(static=True)
    padding_mode: str = field(static=True)

    def __init__(
        self,
        num_spatial_dims: int,
        in_channels: int,
        out_channels: int,
        kernel_size: int | Sequence[Any],
        stride: int | Sequence[Any] = 1,
        padding: str | int | Sequence[Any] = 0,
        dilation: int | Sequence[Any] = 1,
        groups: int = 1,
        use_bias: bool = True,
        padding_mode: str = "ZEROS",
        dtype: Any = None,
        *,
        key: jax.Array,
    ) -> None:
        n = num_spatial_dims
        check_groups(in_channels, out_channels, groups)
        self.num_spatial_dims = n
        self.kernel_size = normalise_tuple(kernel_size, n, "kernel_size", minimum=1)
        self.stride = normalise_tuple(stride, n, "stride", minimum=1)
        self.padding = normalise_padding(padding, n)
        self.dilation = normalise_tuple(dilation, n, "dilation", minimum=1)
        self.padding_mode = normalise_padding_mode(padding_mode)
        self.weight, self.bias = init_conv_params(
            key, in_channels, out_channels, self.kernel_size, groups, use_bias, dtype
        )
        self.in_channels = in_channels
        self.out_channels = out_channels
        self.groups = groups
        self.use_bias = use_bias

    def __call__(
        self, x: Shaped[ArrayLike, " in_channels *spatial"], *, key: jax.Array | None = None
    ) -> jax.Array:
        """Convolve one unbatched input of shape `(in_channels, *spatial)`.

        Arguments:
            x: the input.
            key: ignored.

        Returns:
            An array of shape `(out_channels, *new_spatial)`.

        Raises:
            ValueError: if `x` does not have rank `num_spatial_dims + 1` or has the wrong
                number of channels.
        """
        with jax.named_scope("eqx.nn.Conv"):
            x = jnp.asarray(x)
            check_conv_input("Conv", x, self.num_spatial_dims, self.in_channels)
            padding: str | Sequence[tuple[int, int]] = self.padding
            if self.padding_mode != "ZEROS":
                if isinstance(padding, str):
                    if padding == "VALID":
                        padding = ((0, 0),) * self.num_spatial_dims
                    else:
                        padding = same_pads(
                            x.shape[1:],
                            self.kernel_size,
                            self.stride,
                            self.dilation,
                            lower=padding == "SAME_LOWER",
                        )
                x = jnp.pad(x, ((0, 0), *padding), mode=_NUMPY_PAD_MODE[self.padding_mode])
                padding = ((0, 0),) * self.num_spatial_dims
            out = jax.lax.conv_general_dilated(
                lhs=x[None],
                rhs=self.weight,
                window_strides=self.stride,
                padding=padding,
                rhs_dilation=self.dilation,
                feature_group_count=self.groups,
            )[0]
            if self.bias is not None:
                out = out + self.bias
            return out


class Conv1d(Conv):
    """`Conv` with `num_spatial_dims=1`; input `(in_channels, length)`."""

    def __init__(
        self,
        in_channels: int,
        out_channels: int,
        kernel_size: int | Sequence[Any],
        stride: int | Sequence[Any] = 1,
        padding: str | int | Sequence[Any] = 0,
        dilation: int | Sequence[Any] = 1,
        groups: int = 1,
        use_bias: bool = True,
        padding_mode: str = "ZEROS",
        dtype: Any = None,
        *,
        key: jax.Array,
    ) -> None:
        super().__init__(
            1, in_channels, out_channels, kernel_size, stride, padding, dilation, groups,
            use_bias, padding_mode, dtype, key=key,
        )  # fmt: skip

    def __call__(
        self, x: Shaped[ArrayLike, " in_channels *spatial"], *, key: jax.Array | None = None
    ) -> jax.Array:
        """As the parent's `__call__`, inside `jax.named_scope("eqx.nn.Conv1d")`."""
        with jax.named_scope("eqx.nn.Conv1d"):
            return super().__call__(x, key=key)


class Conv2d(Conv):
    """`Conv` with `num_spatial_dims=2`; input `(in_channels, height, width)`."""

    def __init__(
        self,
        in_channels: int,
        out_channels: int,
        kernel_size: int | Sequence[Any],
        stride: int | Sequence[Any] = (1, 1),
        padding: str | int | Sequence[Any] = (0, 0),
        dilation: int | Sequence[Any] = (1, 1),
        groups: int = 1,
        use_bias: bool = True,
        padding_mode: str = "ZEROS",
        dtype: Any = None,
        *,
        key: jax.Array,
    ) -> None:
        super().__init__(
            2, in_channels, out_channels, kernel_size, stride, padding, dilation, groups,
            use_bias, padding_mode, dtype, key=key,
        )  # fmt: skip

    def __call__(
        self, x: Shaped[ArrayLike, " in_channels *spatial"], *, key: jax.Array | None = None
    ) -> jax.Array:
        """As the parent's `__call__`, inside `jax.named_scope("eqx.nn.Conv2d")`."""
        with jax.named_scope("eqx.nn.Conv2d"):
            return super().__call__(x, key=key)


class Conv3d(Conv):
    """`Conv` with `num_spatial_dims=3`; input `(in_channels, depth, height, width)`."""

    def __init__(
        self,
        in_channels: int,
        out_channels: int,
        kernel_size: int | Sequence[Any],
        stride: int | Sequence[Any] = (1, 1, 1),
        padding: str | int | Sequence[Any] = (0, 0, 0),
        dilation: int | Sequence[Any] = (1, 1, 1),
        groups: int = 1,
        use_bias: bool = True,
        padding_mode: str = "ZEROS",
        dtype: Any = None,
        *,
        key: jax.Array,
    ) -> None:
        super().__init__(
            3, in_channels, out_channels, kernel_size, stride, padding, dilation, groups,
            use_bias, padding_mode, dtype, key=key,
        )  # fmt: skip

    def __call__(
        self, x: Shaped[ArrayLike, " in_channels *spatial"], *, key: jax.Array | None = None
    ) -> jax.Array:
        """As the parent's `__call__`, inside `jax.named_scope("eqx.nn.Conv3d")`."""
        with jax.named_scope("eqx.nn.Conv3d"):
            return super().__call__(x, key=key)
