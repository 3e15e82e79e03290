"""`Linear` (an affine map) and `Identity`."""

from typing import Any, Literal

import jax
import jax.numpy as jnp
import jax.random as jr
from jax.typing import ArrayLike
from jaxtyping import Shaped

from eqx_module import Module, field

from ._hyperparameters import check_size
from ._misc import default_floating_dtype, fan_in_limit, uniform_init

__all__ = ["Identity", "Linear"]


class Linear(Module):
    """An affine map `weight @ x + bias`.

    Arguments:
        in_features: input size, or `"scalar"` for a shape-`()` input.
        out_features: output size, or `"scalar"` for a shape-`()` output.
        use_bias: whether to add a bias.
        dtype: parameter dtype; `None` is float32 (float64 under `jax_enable_x64`).
            Complex dtypes are allowed.
        key: a PRNG key; `wkey, bkey = split(key)`, both drawn from U(-1/√in, 1/√in).

    Raises:
        ValueError: when `in_features="scalar"` and the input is not a scalar.

    Example:
        >>> layer = Linear(3, 2, key=jax.random.key(0))
        >>> layer(jnp.ones(3)).shape
        (2,)
    """

    weight: jax.Array
    bias: jax.Array | None
    in_features: int | Literal["scalar"] = field(static=True)
    out_features: int | Literal["scalar"] = field(static=True)
    use_bias: bool = field(static=True)

    def __init__(
        self,
        in_features: int | Literal["scalar"],
        out_features: int | Literal["scalar"],
        use_bias: bool = True,
        dtype: Any = None,
        *,
        key: jax.Array,
    ) -> None:
        check_size("Linear", "in_features", in_features, scalar=True)
        check_size("Linear", "out_features", out_features, scalar=True)
        dtype = default_floating_dtype() if dtype is None else dtype
        wkey, bkey = jr.split(key, 2)
        in_size = 1 if in_features == "scalar" else in_features
        out_size = 1 if out_features == "scalar" else out_features
        lim = fan_in_limit(in_size)
        self.weight = uniform_init(wkey, (out_size, in_size), dtype, lim)
        self.bias = uniform_init(bkey, (out_size,), dtype, lim) if use_bias else None
        self.in_features = in_features
        self.out_features = out_features
        self.use_bias = use_bias

    def __call__(
        self,
        x: Shaped[ArrayLike, " in_features"] | Shaped[ArrayLike, ""],
        *,
        key: jax.Array | None = None,
    ) -> jax.Array:
        """Apply the map to one unbatched input of shape `(in_features,)` (or `()`).

        Arguments:
            x: the input.
            key: ignored; accepted so every layer has the same call convention.

        Returns:
            An array of shape `(out_features,)` (or `()`), in the layer's dtype.
        """
        with jax.named_scope("eqx.nn.Linear"):
            if self.in_features == "scalar":
                if jnp.shape(x) != ():
                    raise ValueError(
                        "x must have scalar shape, because this Linear has "
                        f'`in_features="scalar"`; got an input of shape {jnp.shape(x)}. For a '
                        "batch of scalars, use `jax.vmap(layer)(x)`."
                    )
                x = jnp.broadcast_to(x, (1,))
            elif jnp.ndim(x) != 1 or jnp.shape(x)[0] != self.in_features:
                msg = (
                    f"Linear expected an input of shape ({self.in_features},), but got shape "
                    f"{jnp.shape(x)}."
                )
                if jnp.ndim(x) > 1 and jnp.shape(x)[-1] == self.in_features:
                    msg += " Layers take unbatched inputs: for a batch use `jax.vmap(layer)(x)`."
                raise ValueError(msg)
            out = self.weight @ x
            if self.bias is not None:
                out = out + self.bias
            if self.out_features == "scalar":
                out = jnp.squeeze(out, axis=0)
            return out


class Identity(Module):
    """The identity layer: ignores its construction arguments, `Identity()(x)` is `x`.

    Useful as a placeholder, e.g. to replace a layer with `tree_at`.

    Example:
        >>> Identity(3, anything="ignored")(1.0)
        1.0
    """

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        del args, kwargs

    def __call__(self, x: Any, *, key: jax.Array | None = None) -> Any:
        """Return `x` unchanged."""
        with jax.named_scope("eqx.nn.Identity"):
            return x
