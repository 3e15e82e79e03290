"""`WeightNorm`: reparameterise a layer's weight as a direction times a learnt norm."""

import dataclasses
from typing import Any, Generic, TypeVar

import jax
import jax.numpy as jnp

from eqx_module import Module, field
from eqx_tree import tree_at

__all__ = ["WeightNorm"]

_Layer = TypeVar("_Layer")


@dataclasses.dataclass(frozen=True)
class _NormExceptAxis:
    """The norm over every axis of a weight except `axis` (all axes if `None`), kept dims.

    A frozen dataclass, not a `functools.partial`: two helpers with the same `axis` compare
    (and hash) equal, so identical `WeightNorm`s have equal treedefs and compare equal.
    """

    axis: int | None

    def __call__(self, weight: Any) -> jax.Array:
        if self.axis is None:
            axes: tuple[int, ...] = tuple(range(weight.ndim))
        else:
            keep = self.axis % weight.ndim
            axes = tuple(i for i in range(weight.ndim) if i != keep)
        return jnp.sqrt(jnp.sum(jnp.real(weight * jnp.conj(weight)), axis=axes, keepdims=True))


class WeightNorm(Module, Generic[_Layer]):
    """Weight normalisation (Salimans & Kingma, 2016) of one weight of a layer.

    The wrapped layer's weight `v` is used as a direction only: the layer runs with weight
    `v · g / ‖v‖`, where `g` is a learnt norm (initialised to `‖v‖`, so the layer starts
    out unchanged) and the norms are taken over every axis except `axis`.

    Arguments:
        layer: the layer to wrap (for example a `Linear` or `Conv2d`).
        weight_name: the name of the weight attribute of `layer`.
        axis: the axis the norm is *not* taken over (the output axis by default); `None`
            takes the norm over all axes, giving a single scalar `g`.

    Example:
        ```python
        layer = eqx.nn.WeightNorm(eqx.nn.Linear(3, 4, key=key))
        y = layer(x)
        ```
    """

    layer: _Layer
    g: jax.Array
    weight_name: str = field(static=True)
    axis: int | None = field(static=True)
    _norm: _NormExceptAxis = field(static=True)

    def __init__(self, layer: _Layer, weight_name: str = "weight", axis: int | None = 0) -> None:
        try:
            weight = getattr(layer, weight_name)
        except AttributeError:
            raise AttributeError(
                f"`WeightNorm(layer, weight_name={weight_name!r})`: the layer "
                f"{type(layer).__qualname__} has no attribute {weight_name!r}."
            ) from None
        if axis is not None and not -jnp.ndim(weight) <= axis < jnp.ndim(weight):
            raise ValueError(
                f"`WeightNorm(axis={axis})` is out of range for `{weight_name}` of shape "
                f"{jnp.shape(weight)}; pass an axis in [{-jnp.ndim(weight)}, "
                f"{jnp.ndim(weight)}) or `None`."
            )
        self.layer = layer
        self.weight_name = weight_name
        self.axis = axis
        self._norm = _NormExceptAxis(axis)
        self.g = self._norm(weight)

    def __call__(self, x: Any, *, key: jax.Array | None = None) -> Any:
        """Run the layer with weight `v · g / ‖v‖`.

        Arguments:
            x: the input of the wrapped layer.
            key: passed on to the wrapped layer when given.

        Returns:
            The wrapped layer's output.
        """
        with jax.named_scope("eqx.nn.WeightNorm"):
            weight_name = self.weight_name
            v = getattr(self.layer, weight_name)
            weight = v * (self.g / self._norm(v)).astype(v.dtype)
            layer: Any = tree_at(lambda lyr: getattr(lyr, weight_name), self.layer, weight)
            return layer(x) if key is None else layer(x, key=key)
