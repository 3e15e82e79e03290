"""Adaptive pooling: pool to a fixed output shape, whatever the input size."""

from collections.abc import Callable, Sequence
from typing import Any

import jax
import jax.numpy as jnp
from jax.typing import ArrayLike
from jaxtyping import Shaped

from eqx_module import Module, field

from ._hyperparameters import check_sizes

__all__ = [
    "AdaptiveAvgPool1d",
    "AdaptiveAvgPool2d",
    "AdaptiveAvgPool3d",
    "AdaptiveMaxPool1d",
    "AdaptiveMaxPool2d",
    "AdaptiveMaxPool3d",
    "AdaptivePool",
]


def _adaptive_pool_last_axis(
    x: jax.Array, target: int, operation: Callable[..., jax.Array]
) -> jax.Array:
    """Reduce the last axis of `x` (size `s`) to `target` bins.

    With `r = s mod target`, the first `r` bins cover `s // target + 1` consecutive
    elements and the rest `s // target`, with no overlap.
    """
    size = x.shape[-1]
    if size < target:
        raise ValueError(
            f"AdaptivePool cannot pool a spatial axis of size {size} to the larger target "
            f"size {target}; every target size must be at most the input size."
        )
    q, r = divmod(size, target)
    lead = x.shape[:-1]
    # The first r bins have q + 1 elements, the remaining ones q.
    big = x[..., : r * (q + 1)].reshape(*lead, r, q + 1)
    small = x[..., r * (q + 1) :].reshape(*lead, target - r, q)
    parts = []
    if r > 0:
        parts.append(operation(big, axis=-1))
    if target - r > 0:
        parts.append(operation(small, axis=-1))
    return jnp.concatenate(parts, axis=-1) if len(parts) > 1 else parts[0]


class AdaptivePool(Module):
    """Pool each spatial axis to a fixed size with a reduction such as `jnp.mean`.

    Arguments:
        target_shape: the output spatial shape: an int (repeated) or `n` ints.
        num_spatial_dims: `n`.
        operation: a reduction `(array, axis=...) -> array`, e.g. `jnp.mean` or `jnp.max`.

    Raises:
        ValueError: a `target_shape` of the wrong length; at call time, an input of the
            wrong rank or a spatial axis smaller than its target.

    Example:
        >>> pool = AdaptivePool(2, 1, jnp.max)
        >>> pool(jnp.array([[1.0, 5.0, 2.0, 3.0, 4.0]]))
        Array([[5., 4.]], dtype=float32)
    """

    target_shape: tuple[int, ...] = field(static=True)
    operation: Callable[..., Any]

    def __init__(
        self,
        target_shape: int | Sequence[Any],
        num_spatial_dims: int,
        operation: Callable[..., Any],
    ) -> None:
        check_sizes("AdaptivePool", "target_shape", target_shape, minimum=1)
        if isinstance(target_shape, int) and not isinstance(target_shape, bool):
            target = (target_shape,) * num_spatial_dims
        elif (
            isinstance(target_shape, Sequence)
            and not isinstance(target_shape, str)
            and len(target_shape) == num_spatial_dims
            and all(isinstance(t, int) and not isinstance(t, bool) for t in target_shape)
        ):
            target = tuple(target_shape)
        else:
            raise ValueError(
                f"`target_shape` must be an int or a sequence of {num_spatial_dims} ints "
                f"(one per spatial dimension), but got {target_shape!r}."
            )
        self.target_shape = target
        self.operation = operation

    def __call__(
        self, x: Shaped[ArrayLike, " channels *spatial"], *, key: jax.Array | None = None
    ) -> jax.Array:
        """Pool one unbatched input of shape `(channels, *spatial)` to
        `(channels, *target_shape)`."""
        with jax.named_scope("eqx.nn.AdaptivePool"):
            x = jnp.asarray(x)
            n = len(self.target_shape)
            if x.ndim != n + 1:
                msg = (
                    f"Expected input with {n} dimensions (plus a leading channel axis, "
                    f"so shape (channels, ...) of rank {n + 1}), but got an input of shape "
                    f"{x.shape}."
                )
                if x.ndim > n + 1:
                    msg += " Layers take unbatched inputs: for a batch use `jax.vmap(layer)(x)`."
                raise ValueError(msg)
            for axis in range(1, n + 1):
                moved = jnp.moveaxis(x, axis, -1)
                pooled = _adaptive_pool_last_axis(
                    moved, self.target_shape[axis - 1], self.operation
                )
                x = jnp.moveaxis(pooled, -1, axis)
            return x


class AdaptiveAvgPool1d(AdaptivePool):
    """Adaptive average pooling over `(channels, length)`, with `jnp.mean`."""

    def __init__(self, target_shape: int | Sequence[Any]) -> None:
        super().__init__(target_shape, 1, jnp.mean)

    def __call__(
        self, x: Shaped[ArrayLike, " channels *spatial"], *, key: jax.Array | None = None
    ) -> jax.Array:
        """As the parent's `__call__`, inside `jax.named_scope("eqx.nn.AdaptiveAvgPool1d")`."""
        with jax.named_scope("eqx.nn.AdaptiveAvgPool1d"):
            return super().__call__(x, key=key)


class AdaptiveAvgPool2d(AdaptivePool):
    """Adaptive average pooling over `(channels, height, width)`, with `jnp.mean`."""

    def __init__(self, target_shape: int | Sequence[Any]) -> None:
        super().__init__(target_shape, 2, jnp.mean)

    def __call__(
        self, x: Shaped[ArrayLike, " channels *spatial"], *, key: jax.Array | None = None
    ) -> jax.Array:
        """As the parent's `__call__`, inside `jax.named_scope("eqx.nn.AdaptiveAvgPool2d")`."""
        with jax.named_scope("eqx.nn.AdaptiveAvgPool2d"):
            return super().__call__(x, key=key)


class AdaptiveAvgPool3d(AdaptivePool):
    """Adaptive average pooling over `(channels, depth, height, width)`, with `jnp.mean`."""

    def __init__(self, target_shape: int | Sequence[Any]) -> None:
        super().__init__(target_shape, 3, jnp.mean)

    def __call__(
        self, x: Shaped[ArrayLike, " channels *spatial"], *, key: jax.Array | None = None
    ) -> jax.Array:
        """As the parent's `__call__`, inside `jax.named_scope("eqx.nn.AdaptiveAvgPool3d")`."""
        with jax.named_scope("eqx.nn.AdaptiveAvgPool3d"):
            return super().__call__(x, key=key)


class AdaptiveMaxPool1d(AdaptivePool):
    """Adaptive max pooling over `(channels, length)`, with `jnp.max`."""

    def __init__(self, target_shape: int | Sequence[Any]) -> None:
        super().__init__(target_shape, 1, jnp.max)

    def __call__(
        self, x: Shaped[ArrayLike, " channels *spatial"], *, key: jax.Array | None = None
    ) -> jax.Array:
        """As the parent's `__call__`, inside `jax.named_scope("eqx.nn.AdaptiveMaxPool1d")`."""
        with jax.named_scope("eqx.nn.AdaptiveMaxPool1d"):
            return super().__call__(x, key=key)


class AdaptiveMaxPool2d(AdaptivePool):
    """Adaptive max pooling over `(channels, height, width)`, with `jnp.max`."""

    def __init__(self, target_shape: int | Sequence[Any]) -> None:
        super().__init__(target_shape, 2, jnp.max)

    def __call__(
        self, x: Shaped[ArrayLike, " channels *spatial"], *, key: jax.Array | None = None
    ) -> jax.Array:
        """As the parent's `__call__`, inside `jax.named_scope("eqx.nn.AdaptiveMaxPool2d")`."""
        with jax.named_scope("eqx.nn.AdaptiveMaxPool2d"):
            return super().__call__(x, key=key)


class AdaptiveMaxPool3d(AdaptivePool):
    """Adaptive max pooling over `(channels, depth, height, width)`, with `jnp.max`."""

    def __init__(self, target_shape: int | Sequence[Any]) -> None:
        super().__init__(target_shape, 3, jnp.max)

    def __call__(
        self, x: Shaped[ArrayLike, " channels *spatial"], *, key: jax.Array | None = None
    ) -> jax.Array:
        """As the parent's `__call__`, inside `jax.named_scope("eqx.nn.AdaptiveMaxPool3d")`."""
        with jax.named_scope("eqx.nn.AdaptiveMaxPool3d"):
            return super().__call__(x, key=key)
