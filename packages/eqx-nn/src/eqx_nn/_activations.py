"""`PReLU`: a leaky ReLU with a learnt negative slope."""

import jax
import jax.numpy as jnp
from jax.typing import ArrayLike

from eqx_module import Module

__all__ = ["PReLU"]


class PReLU(Module):
    """Parametric ReLU: `x` where `x >= 0`, else `negative_slope * x`.

    `negative_slope` is learnt. It may be a scalar or broadcast against `x` (e.g. one
    slope per channel); inside an `MLP` it is given one value per layer and neuron.

    Arguments:
        init_alpha: the initial slope (a float or an array).

    Example:
        >>> PReLU()(jnp.array([-2.0, 3.0]))
        Array([-0.5,  3. ], dtype=float32)
    """

    negative_slope: jax.Array

    def __init__(self, init_alpha: ArrayLike = 0.25) -> None:
        self.negative_slope = jnp.asarray(init_alpha)

    def __call__(self, x: ArrayLike, *, key: jax.Array | None = None) -> jax.Array:
        """Apply the PReLU elementwise (standard promotion and rank broadcasting allowed)."""
        with (
            jax.named_scope("eqx.nn.PReLU"),
            jax.numpy_dtype_promotion("standard"),
            jax.numpy_rank_promotion("allow"),
        ):
            x = jnp.asarray(x)
            return jnp.where(x >= 0, x, self.negative_slope * x)
