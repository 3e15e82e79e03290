"""Pooling: `Pool` and `AvgPool1d/2d/3d`, `MaxPool1d/2d/3d`."""

import math
from collections.abc import Callable, Sequence
from typing import Any

import jax
import jax.numpy as jnp
from jax.typing import ArrayLike
from jaxtyping import Shaped

from eqx_module import Module, field

from ._misc import rank_error

__all__ = [
    "AvgPool1d",
    "AvgPool2d",
    "AvgPool3d",
    "MaxPool1d",
    "MaxPool2d",
    "MaxPool3d",
    "Pool",
]


def _positive_ints(value: Any, n: int, name: str) -> tuple[int, ...]:
    if isinstance(value, int) and not isinstance(value, bool):
        result: tuple[int, ...] = (value,) * n
    elif (
        isinstance(value, Sequence)
        and not isinstance(value, str)
        and len(value) == n
        and all(isinstance(v, int) and not isinstance(v, bool) for v in value)
    ):
        result = tuple(value)
    else:
        raise ValueError(
            f"`{name}` must be an int or a sequence of {n} ints (one per spatial dimension), "
            f"but got {value!r}."
        )
    if any(v < 1 for v in result):
        raise ValueError(f"Every entry of `{name}` must be at least 1, but got {value!r}.")
    return result


def _pool_padding(padding: Any, n: int) -> tuple[tuple[int, int], ...]:
    if isinstance(padding, int) and not isinstance(padding, bool):
        return ((padding, padding),) * n
    if isinstance(padding, Sequence) and not isinstance(padding, str) and len(padding) == n:
        if all(isinstance(p, int) and not isinstance(p, bool) for p in padding):
            return tuple((p, p) for p in padding)
        if all(
            isinstance(p, Sequence)
            and len(p) == 2
            and all(isinstance(q, int) and not isinstance(q, bool) for q in p)
            for p in padding
        ):
            return tuple((p[0], p[1]) for p in padding)
    raise ValueError(
        f"`padding` must be an int, a sequence of {n} ints, or a sequence of {n} pairs of "
        f"ints (one per spatial dimension), but got {padding!r}."
    )


class Pool(Module):
    """A generic pooling layer: `lax.reduce_window(init, operation)` over each channel.

    Arguments:
        init: the reduction's initial value (e.g. `0` for sums, `-inf` for maxima).
        operation: the binary reduction, e.g. `lax.add` or `lax.max`.
        num_spatial_dims: `n`.
        kernel_size, stride: an int or `n` ints.
        padding: an int, `n` ints, or `n` (low, high) pairs.
        use_ceil: round the output size up instead of down (as PyTorch's `ceil_mode`).

    Raises:
        ValueError: wrong lengths or types of the arguments, or (at call time) an input
            of the wrong rank.
        RuntimeError: (at call time) a padding larger than the kernel.

    Example:
        >>> pool = Pool(-jnp.inf, jax.lax.max, 1, kernel_size=2, stride=2)
        >>> pool(jnp.arange(4.0)[None])
        Array([[1., 3.]], dtype=float32)
    """

    init: ArrayLike
    operation: Callable[[Any, Any], Any]
    num_spatial_dims: int = field(static=True)
    kernel_size: tuple[int, ...] = field(static=True)
    stride: tuple[int, ...] = field(static=True)
    padding: tuple[tuple[int, int], ...] = field(static=True)
    use_ceil: bool = field(static=True)

    def __init__(
        self,
        init: ArrayLike,
        operation: Callable[[Any, Any], Any],
        num_spatial_dims: int,
        kernel_size: int | Sequence[Any],
        stride: int | Sequence[Any] = 1,
        padding: int | Sequence[Any] = 0,
        use_ceil: bool = False,
    ) -> None:
        self.init = init
        self.operation = operation
        self.num_spatial_dims = num_spatial_dims
        self.kernel_size = _positive_ints(kernel_size, num_spatial_dims, "kernel_size")
        self.stride = _positive_ints(stride, num_spatial_dims, "stride")
        self.padding = _pool_padding(padding, num_spatial_dims)
        self.use_ceil = use_ceil

    def _padding_for(self, sizes: Sequence[int]) -> tuple[tuple[int, int], ...]:
        for (lo, hi), k in zip(self.padding, self.kernel_size, strict=True):
            if lo > k or hi > k:
                raise RuntimeError(
                    "Paddings should be less than the size of the kernel. Got "
                    f"padding={self.padding} with kernel_size={self.kernel_size}."
                )
        if not self.use_ceil:
            return self.padding
        pads = []
        for size, (lo, hi), k, s in zip(
            sizes, self.padding, self.kernel_size, self.stride, strict=True
        ):
            pads.append((lo, hi + s) if (size + lo + hi - k) % s != 0 else (lo, hi))
        return tuple(pads)

    def __call__(
        self, x: Shaped[ArrayLike, " channels *spatial"], *, key: jax.Array | None = None
    ) -> jax.Array:
        """Pool one unbatched input of shape `(channels, *spatial)`.

        Arguments:
            x: the input.
            key: ignored.

        Returns:
            An array of shape `(channels, *pooled)`.
        """
        with jax.named_scope("eqx.nn.Pool"):
            x = jnp.asarray(x)
            rank = self.num_spatial_dims + 1
            if x.ndim != rank:
                expected = (
                    "(channels, " + ", ".join(f"dim{i}" for i in range(self.num_spatial_dims)) + ")"
                )
                raise ValueError(rank_error(type(self).__name__, expected, x.shape, rank))
            padding = self._padding_for(x.shape[1:])
            return jax.lax.reduce_window(
                x,
                self.init,
                self.operation,
                (1, *self.kernel_size),
                (1, *self.stride),
                ((0, 0), *padding),
            )


class _AvgPool(Pool):
    def __init__(
        self,
        init: ArrayLike,
        operation: Callable[[Any, Any], Any],
        num_spatial_dims: int,
        kernel_size: int | Sequence[Any],
        stride: int | Sequence[Any] = 1,
        padding: int | Sequence[Any] = 0,
        use_ceil: bool = False,
    ) -> None:
        super().__init__(init, operation, num_spatial_dims, kernel_size, stride, padding, use_ceil)

    def __call__(
        self, x: Shaped[ArrayLike, " channels *spatial"], *, key: jax.Array | None = None
    ) -> jax.Array:
        """Average over each window; padded positions count towards the divisor."""
        return super().__call__(x) / math.prod(self.kernel_size)


class AvgPool1d(_AvgPool):
    """1-d average pooling over an input of shape `(channels, length)`.

    Example:
        >>> AvgPool1d(2, stride=2)(jnp.array([[1.0, 3.0, 5.0, 7.0]]))
        Array([[2., 6.]], dtype=float32)
    """

    def __init__(
        self,
        kernel_size: int | Sequence[Any],
        stride: int | Sequence[Any] = 1,
        padding: int | Sequence[Any] = 0,
        use_ceil: bool = False,
    ) -> None:
        super().__init__(0, jax.lax.add, 1, kernel_size, stride, padding, use_ceil)

    def __call__(
        self, x: Shaped[ArrayLike, " channels *spatial"], *, key: jax.Array | None = None
    ) -> jax.Array:
        """As the parent's `__call__`, inside `jax.named_scope("eqx.nn.AvgPool1d")`."""
        with jax.named_scope("eqx.nn.AvgPool1d"):
            return super().__call__(x, key=key)


class AvgPool2d(_AvgPool):
    """2-d average pooling over an input of shape `(channels, height, width)`."""

    def __init__(
        self,
        kernel_size: int | Sequence[Any],
        stride: int | Sequence[Any] = 1,
        padding: int | Sequence[Any] = 0,
        use_ceil: bool = False,
    ) -> None:
        super().__init__(0, jax.lax.add, 2, kernel_size, stride, padding, use_ceil)

    def __call__(
        self, x: Shaped[ArrayLike, " channels *spatial"], *, key: jax.Array | None = None
    ) -> jax.Array:
        """As the parent's `__call__`, inside `jax.named_scope("eqx.nn.AvgPool2d")`."""
        with jax.named_scope("eqx.nn.AvgPool2d"):
            return super().__call__(x, key=key)


class AvgPool3d(_AvgPool):
    """3-d average pooling over an input of shape `(channels, depth, height, width)`."""

    def __init__(
        self,
        kernel_size: int | Sequence[Any],
        stride: int | Sequence[Any] = 1,
        padding: int | Sequence[Any] = 0,
        use_ceil: bool = False,
    ) -> None:
        super().__init__(0, jax.lax.add, 3, kernel_size, stride, padding, use_ceil)

    def __call__(
        self, x: Shaped[ArrayLike, " channels *spatial"], *, key: jax.Array | None = None
    ) -> jax.Array:
        """As the parent's `__call__`, inside `jax.named_scope("eqx.nn.AvgPool3d")`."""
        with jax.named_scope("eqx.nn.AvgPool3d"):
            return super().__call__(x, key=key)


class MaxPool1d(Pool):
    """1-d max pooling over an input of shape `(channels, length)`.

    Example:
        >>> MaxPool1d(2, stride=2)(jnp.array([[1.0, 3.0, 5.0, 2.0]]))
        Array([[3., 5.]], dtype=float32)
    """

    def __init__(
        self,
        kernel_size: int | Sequence[Any],
        stride: int | Sequence[Any] = 1,
        padding: int | Sequence[Any] = 0,
        use_ceil: bool = False,
    ) -> None:
        super().__init__(-jnp.inf, jax.lax.max, 1, kernel_size, stride, padding, use_ceil)

    def __call__(
        self, x: Shaped[ArrayLike, " channels *spatial"], *, key: jax.Array | None = None
    ) -> jax.Array:
        """As the parent's `__call__`, inside `jax.named_scope("eqx.nn.MaxPool1d")`."""
        with jax.named_scope("eqx.nn.MaxPool1d"):
            return super().__call__(x, key=key)


class MaxPool2d(Pool):
    """2-d max pooling over an input of shape `(channels, height, width)`."""

    def __init__(
        self,
        kernel_size: int | Sequence[Any],
        stride: int | Sequence[Any] = 1,
        padding: int | Sequence[Any] = 0,
        use_ceil: bool = False,
    ) -> None:
        super().__init__(-jnp.inf, jax.lax.max, 2, kernel_size, stride, padding, use_ceil)

    def __call__(
        self, x: Shaped[ArrayLike, " channels *spatial"], *, key: jax.Array | None = None
    ) -> jax.Array:
        """As the parent's `__call__`, inside `jax.named_scope("eqx.nn.MaxPool2d")`."""
        with jax.named_scope("eqx.nn.MaxPool2d"):
            return super().__call__(x, key=key)


class MaxPool3d(Pool):
    """3-d max pooling over an input of shape `(channels, depth, height, width)`."""

    def __init__(
        self,
        kernel_size: int | Sequence[Any],
        stride: int | Sequence[Any] = 1,
        padding: int | Sequence[Any] = 0,
        use_ceil: bool = False,
    ) -> None:
        super().__init__(-jnp.inf, jax.lax.max, 3, kernel_size, stride, padding, use_ceil)

    def __call__(
        self, x: Shaped[ArrayLike, " channels *spatial"], *, key: jax.Array | None = None
    ) -> jax.Array:
        """As the parent's `__call__`, inside `jax.named_scope("eqx.nn.MaxPool3d")`."""
        with jax.named_scope("eqx.nn.MaxPool3d"):
            return super().__call__(x, key=key)
