"""Transposed convolutions: `ConvTranspose` and `ConvTranspose1d/2d/3d`."""

from collections.abc import Sequence
from typing import Any

import jax
import jax.numpy as jnp
from jax.typing import ArrayLike
from jaxtyping import Shaped

from eqx_module import Module, field

from ._conv import check_conv_input, check_groups, init_conv_params
from ._conv_args import normalise_padding, normalise_padding_mode, normalise_tuple

__all__ = ["ConvTranspose", "ConvTranspose1d", "ConvTranspose2d", "ConvTranspose3d"]


class ConvTranspose(Module):
    """An `n`-dimensional transposed convolution ("deconvolution").

    The input is dilated by `stride` and cross-correlated with the weight *as stored*
    (no flip), with the padding transformed so that, for the same hyperparameters, the
    output has the input shape of the matching `Conv`. With all-ones weights its
    Jacobian is the transpose of that `Conv`'s.

    Arguments:
        num_spatial_dims: `n`.
        in_channels, out_channels: channel counts.
        kernel_size, stride, dilation: an int or `n` ints.
        padding: as for `Conv` (ints, pairs, or `SAME`/`SAME_LOWER`/`VALID`).
        output_padding: extra size added on the high side; each must be `< stride`.
        groups: feature groups; must divide `in_channels`.
        use_bias: whether to add a bias.
        padding_mode: `"ZEROS"` or `"CIRCULAR"` (the latter only with `SAME`/`SAME_LOWER`
            padding and zero `output_padding`).
        dtype: parameter dtype; `None` is float32 (float64 under x64).
        key: a PRNG key (`wkey, bkey = split(key)`), as for `Conv`.

    Raises:
        ValueError: bad lengths or values, `output_padding >= stride`, or `in_channels`
            not divisible by `groups`.
        NotImplementedError: `REFLECT`/`REPLICATE` padding, or `CIRCULAR` with other
            padding.

    Example:
        >>> up = ConvTranspose(1, 2, 2, kernel_size=3, stride=2, padding="SAME",
        ...                    key=jax.random.key(0))
        >>> up(jnp.ones((2, 5))).shape
        (2, 10)
    """

    num_spatial_dims: int = field(static=True)
    weight: jax.Array
    bias: jax.Array | None
    in_channels: int = field(static=True)
    out_channels: int = field(static=True)
    kernel_size: tuple[int, ...] = field(static=True)
    stride: tuple[int, ...] = field(static=True)
    padding: str | tuple[tuple[int, int], ...] = field(static=True)
    output_padding: tuple[int, ...] = field(static=True)
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
        output_padding: int | Sequence[Any] = 0,
        dilation: int | Sequence[Any] = 1,
        groups: int = 1,
        use_bias: bool = True,
        padding_mode: str = "ZEROS",
        dtype: Any = None,
        *,
        key: jax.Array,
    ) -> None:
        n = num_spatial_dims
        check_groups(in_channels, out_channels, groups, layer="ConvTranspose")
        self.num_spatial_dims = n
        self.kernel_size = normalise_tuple(kernel_size, n, "kernel_size", minimum=1)
        self.stride = normalise_tuple(stride, n, "stride", minimum=1)
        self.padding = normalise_padding(padding, n)
        self.output_padding = normalise_tuple(output_padding, n, "output_padding")
        self.dilation = normalise_tuple(dilation, n, "dilation", minimum=1)
        self.padding_mode = normalise_padding_mode(padding_mode)
        for a, s in zip(self.output_padding, self.stride, strict=True):
            if a >= s:
                raise ValueError(
                    f"`output_padding` must be smaller than `stride` in every dimension, but "
                    f"got output_padding={self.output_padding} and stride={self.stride}."
                )
        if self.padding_mode in ("REFLECT", "REPLICATE"):
            raise NotImplementedError(
                f"`padding_mode={self.padding_mode!r}` is not implemented for ConvTranspose; "
                'use "ZEROS", or "CIRCULAR" with "SAME"/"SAME_LOWER" padding.'
            )
        if self.padding_mode == "CIRCULAR" and (
            self.padding not in ("SAME", "SAME_LOWER") or any(self.output_padding)
        ):
            raise NotImplementedError(
                '`padding_mode="CIRCULAR"` for ConvTranspose is only implemented with '
                '`padding="SAME"` or `"SAME_LOWER"` and zero `output_padding`, but got '
                f"padding={self.padding!r} and output_padding={self.output_padding}."
            )
        self.weight, self.bias = init_conv_params(
            key, in_channels, out_channels, self.kernel_size, groups, use_bias, dtype
        )
        self.in_channels = in_channels
        self.out_channels = out_channels
        self.groups = groups
        self.use_bias = use_bias

    def _conv_padding(self) -> tuple[tuple[int, int], ...]:
        """The padding of the equivalent input-dilated convolution, one pair per axis."""
        pads = []
        for i in range(self.num_spatial_dims):
            k, s, d = self.kernel_size[i], self.stride[i], self.dilation[i]
            a = self.output_padding[i]
            if isinstance(self.padding, str):
                if self.padding == "VALID":
                    p_lo = p_hi = 0
                else:
                    t = d * (k - 1) - s + a + 1
                    a, t = max(-t, 0), max(t, 0)
                    p_lo = (t + (self.padding == "SAME_LOWER")) // 2
                    p_hi = t - p_lo
            else:
                p_lo, p_hi = self.padding[i]
            pads.append((d * (k - 1) - p_lo, d * (k - 1) - p_hi + a))
        return tuple(pads)

    def __call__(
        self, x: Shaped[ArrayLike, " in_channels *spatial"], *, key: jax.Array | None = None
    ) -> jax.Array:
        """Apply the transposed convolution to one input of shape `(in_channels, *spatial)`.

        Arguments:
            x: the input.
            key: ignored.

        Returns:
            An array of shape `(out_channels, *new_spatial)`, each new size being
            `(size-1)*stride - p_lo - p_hi + dilation*(kernel-1) + output_padding + 1`.
        """
        with jax.named_scope("eqx.nn.ConvTranspose"):
            x = jnp.asarray(x)
            check_conv_input("ConvTranspose", x, self.num_spatial_dims, self.in_channels)
            padding = self._conv_padding()
            if self.padding_mode == "CIRCULAR":
                # Wrap whole input samples (p // s of them); the remaining p % s positions
                # fall between samples of the dilated periodic signal, so they are zeros.
                wraps = tuple(
                    (lo // s, hi // s) for (lo, hi), s in zip(padding, self.stride, strict=True)
                )
                x = jnp.pad(x, ((0, 0), *wraps), mode="wrap")
                padding = tuple(
                    (lo % s, hi % s) for (lo, hi), s in zip(padding, self.stride, strict=True)
                )
            out = jax.lax.conv_general_dilated(
                lhs=x[None],
                rhs=self.weight,
                window_strides=(1,) * self.num_spatial_dims,
                padding=padding,
                lhs_dilation=self.stride,
                rhs_dilation=self.dilation,
                feature_group_count=self.groups,
            )[0]
            if self.bias is not None:
                out = out + self.bias
            return out


class ConvTranspose1d(ConvTranspose):
    """`ConvTranspose` with one spatial dimension. Note: `output_padding` comes before
    `padding` positionally."""

    def __init__(
        self,
        in_channels: int,
        out_channels: int,
        kernel_size: int | Sequence[Any],
        stride: int | Sequence[Any] = 1,
        output_padding: int | Sequence[Any] = 0,
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
            1, in_channels, out_channels, kernel_size, stride, padding, output_padding,
            dilation, groups, use_bias, padding_mode, dtype, key=key,
        )  # fmt: skip

    def __call__(
        self, x: Shaped[ArrayLike, " in_channels *spatial"], *, key: jax.Array | None = None
    ) -> jax.Array:
        """As the parent's `__call__`, inside `jax.named_scope("eqx.nn.ConvTranspose1d")`."""
        with jax.named_scope("eqx.nn.ConvTranspose1d"):
            return super().__call__(x, key=key)


class ConvTranspose2d(ConvTranspose):
    """`ConvTranspose` with two spatial dimensions. Note: `output_padding` comes before
    `padding` positionally."""

    def __init__(
        self,
        in_channels: int,
        out_channels: int,
        kernel_size: int | Sequence[Any],
        stride: int | Sequence[Any] = (1, 1),
        output_padding: int | Sequence[Any] = (0, 0),
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
            2, in_channels, out_channels, kernel_size, stride, padding, output_padding,
            dilation, groups, use_bias, padding_mode, dtype, key=key,
        )  # fmt: skip

    def __call__(
        self, x: Shaped[ArrayLike, " in_channels *spatial"], *, key: jax.Array | None = None
    ) -> jax.Array:
        """As the parent's `__call__`, inside `jax.named_scope("eqx.nn.ConvTranspose2d")`."""
        with jax.named_scope("eqx.nn.ConvTranspose2d"):
            return super().__call__(x, key=key)


class ConvTranspose3d(ConvTranspose):
    """`ConvTranspose` with three spatial dimensions. Note: `output_padding` comes before
    `padding` positionally."""

    def __init__(
        self,
        in_channels: int,
        out_channels: int,
        kernel_size: int | Sequence[Any],
        stride: int | Sequence[Any] = (1, 1, 1),
        output_padding: int | Sequence[Any] = (0, 0, 0),
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
            3, in_channels, out_channels, kernel_size, stride, padding, output_padding,
            dilation, groups, use_bias, padding_mode, dtype, key=key,
        )  # fmt: skip

    def __call__(
        self, x: Shaped[ArrayLike, " in_channels *spatial"], *, key: jax.Array | None = None
    ) -> jax.Array:
        """As the parent's `__call__`, inside `jax.named_scope("eqx.nn.ConvTranspose3d")`."""
        with jax.named_scope("eqx.nn.ConvTranspose3d"):
            return super().__call__(x, key=key)
