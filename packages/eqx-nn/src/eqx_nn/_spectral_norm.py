"""`SpectralNorm`: divide a layer's weight by its largest singular value."""

import math
from typing import Any, Generic, TypeVar

import jax
import jax.numpy as jnp
import jax.random as jr
from jax.typing import ArrayLike

from eqx_module import field
from eqx_tree import tree_at

from ._hyperparameters import check_at_least, check_size
from ._sequential import StatefulLayer
from ._stateful import State, StateIndex, check_state

__all__ = ["SpectralNorm"]

_Layer = TypeVar("_Layer")

# Power iterations run once at construction, so the stored vectors start converged.
_INIT_POWER_ITERATIONS = 15


def _normalise(x: Any, eps: int | float) -> jax.Array:
    norm = jnp.linalg.norm(x)
    return x / jnp.maximum(jnp.asarray(eps, norm.dtype), norm).astype(x.dtype)


def _power_iteration(matrix: Any, u: Any, v: Any, eps: int | float) -> tuple[jax.Array, jax.Array]:
    u = _normalise(matrix @ v, eps)
    v = _normalise(matrix.T @ u, eps)
    return u, v


def _get_weight(layer: Any, weight_name: str) -> Any:
    try:
        weight = getattr(layer, weight_name)
    except AttributeError:
        raise AttributeError(
            f"`SpectralNorm(layer, weight_name={weight_name!r})`: the layer "
            f"{type(layer).__qualname__} has no attribute {weight_name!r}."
        ) from None
    return weight


class SpectralNorm(StatefulLayer, Generic[_Layer]):
    """Spectral normalisation (Miyato et al., 2018) of one weight of a layer.

    The weight `W` (reshaped to a matrix `(rows, -1)`) is divided by an estimate of its
    largest singular value `σ = uᵀ W v`, where `u` and `v` are refined by power iteration
    on every training call and kept in a `State`.

    Arguments:
        layer: the layer to wrap (for example a `Linear` or `Conv2d`).
        weight_name: the name of the weight attribute of `layer` to normalise.
        num_power_iterations: power iterations per training call.
        eps: the smallest norm divided by in a power iteration.
        inference: if true, use the stored `u`, `v` without updating them.
        key: a PRNG key for the initial `u` and `v`.

    Raises:
        ValueError: the weight has fewer than 2 dimensions.

    Example:
        ```python
        make = eqx.nn.make_with_state(eqx.nn.SpectralNorm)
        layer, state = make(eqx.nn.Linear(3, 4, key=k1), "weight", key=k2)
        y, state = layer(x, state)
        ```
    """

    layer: _Layer
    weight_name: str = field(static=True)
    uv_index: StateIndex[tuple[jax.Array, jax.Array]]
    num_power_iterations: int = field(static=True)
    eps: int | float = field(static=True)
    inference: ArrayLike

    def __init__(
        self,
        layer: _Layer,
        weight_name: str,
        num_power_iterations: int = 1,
        eps: int | float = 1e-12,
        inference: ArrayLike = False,
        *,
        key: jax.Array,
    ) -> None:
        check_size("SpectralNorm", "num_power_iterations", num_power_iterations)
        check_at_least("SpectralNorm", "eps", eps, 0)
        weight = _get_weight(layer, weight_name)
        if jnp.ndim(weight) < 2:
            raise ValueError(
                f"`SpectralNorm` needs a weight with at least 2 dimensions, but "
                f"`{weight_name}` of {type(layer).__qualname__} has shape "
                f"{jnp.shape(weight)}. Spectral normalisation of a vector is not defined; "
                "use `WeightNorm` instead."
            )
        rows = weight.shape[0]
        cols = math.prod(weight.shape[1:])
        matrix = weight.reshape(rows, cols)
        ukey, vkey = jr.split(key)
        u = jr.normal(ukey, (rows,), weight.dtype)
        v = jr.normal(vkey, (cols,), weight.dtype)
        for _ in range(_INIT_POWER_ITERATIONS):
            u, v = _power_iteration(matrix, u, v, eps)
        self.layer = layer
        self.weight_name = weight_name
        self.uv_index = StateIndex((u, v))
        self.num_power_iterations = num_power_iterations
        self.eps = eps
        self.inference = inference

    def __call__(
        self,
        x: Any,
        state: State,
        *,
        key: jax.Array | None = None,
        inference: ArrayLike | None = None,
    ) -> tuple[Any, State]:
        """Run the layer with its weight divided by its spectral norm.

        Arguments:
            x: the input of the wrapped layer.
            state: the model's `State`.
            key: passed on to the wrapped layer when given.
            inference: overrides the `inference` field for this call.

        Returns:
            `(out, new_state)`.
        """
        with jax.named_scope("eqx.nn.SpectralNorm"):
            check_state(state, "SpectralNorm")
            u, v = state.get(self.uv_index)
            weight = _get_weight(self.layer, self.weight_name)
            shape = weight.shape
            matrix = weight.reshape(shape[0], -1)
            if inference is None:
                inference = self.inference
            if not inference:
                frozen = jax.lax.stop_gradient(matrix)
                for _ in range(self.num_power_iterations):
                    u, v = _power_iteration(frozen, u, v, self.eps)
                state = state.set(self.uv_index, (u, v))
            sigma = u @ matrix @ v
            normalised = (matrix / sigma).reshape(shape)
            weight_name = self.weight_name
            layer: Any = tree_at(lambda lyr: getattr(lyr, weight_name), self.layer, normalised)
            out = layer(x) if key is None else layer(x, key=key)
            return out, state
