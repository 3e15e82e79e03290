"""Containers: `StatefulLayer`, `Sequential` and `Lambda`."""

import operator
from collections.abc import Callable, Iterator, Sequence
from typing import Any, overload

import jax
import jax.random as jr

from eqx_module import AbstractClassVar, Module

from ._misc import sentinel

__all__ = ["Lambda", "Sequential", "StatefulLayer"]


class StatefulLayer(Module):
    """Base class for layers called as `out, state = layer(x, state, key=...)`.

    `Sequential` threads the state through every child whose `is_stateful()` is true and
    calls the others as `out = layer(x, key=...)`. Override `is_stateful` to decide at
    run time (`Sequential` itself is stateful only if a child is).
    """

    __call__: AbstractClassVar[Callable[..., Any]]

    def is_stateful(self) -> bool:
        """Whether this layer takes and returns a `state`. `True` unless overridden."""
        return True


def _is_stateful(layer: Any) -> bool:
    return isinstance(layer, StatefulLayer) and layer.is_stateful()


class Sequential(StatefulLayer):
    """Call a sequence of layers one after another.

    Arguments:
        layers: the layers (any callables taking `(x, *, key=None)`; stateful layers take
            `(x, state, *, key=None)` and return `(x, state)`).

    Example:
        ```python
        model = eqx.nn.Sequential([
            eqx.nn.Linear(2, 8, key=k1),
            eqx.nn.Lambda(jax.nn.relu),
            eqx.nn.Linear(8, 1, key=k2),
        ])
        y = model(jnp.ones(2))
        ```
    """

    layers: tuple[Callable[..., Any], ...]

    def __init__(self, layers: Sequence[Callable[..., Any]]) -> None:
        self.layers = tuple(layers)

    def __call__(self, x: Any, state: Any = sentinel, *, key: jax.Array | None = None) -> Any:
        """Apply each layer in turn.

        Arguments:
            x: the input to the first layer.
            state: an `eqx.nn.State`, threaded through the stateful layers. Optional:
                without one, stateful layers receive the "no state" sentinel (built-in
                stateful layers then raise, pointing to `make_with_state`).
            key: a PRNG key, split into one key per layer. Optional.

        Returns:
            The last layer's output, or `(output, state)` when a `state` was given.
        """
        with jax.named_scope("eqx.nn.Sequential"):
            keys: Sequence[jax.Array | None]
            if key is None:
                keys = [None] * len(self.layers)
            else:
                keys = list(jr.split(key, len(self.layers)))
            for layer, layer_key in zip(self.layers, keys, strict=True):
                if _is_stateful(layer):
                    # Without a state the sentinel is passed on as the state (as Equinox
                    # does): a stateful layer that can run without one may accept it.
                    x, state = layer(x, state=state, key=layer_key)
                else:
                    x = layer(x, key=layer_key)
            return x if state is sentinel else (x, state)

    @overload
    def __getitem__(self, i: int) -> Callable[..., Any]: ...

    @overload
    def __getitem__(self, i: slice) -> "Sequential": ...

    def __getitem__(self, i: Any) -> Any:
        """`seq[int]` is one layer, `seq[slice]` a `Sequential` of those layers."""
        if isinstance(i, slice):
            return Sequential(self.layers[i])
        try:
            index = operator.index(i)
        except TypeError:
            raise TypeError(
                f"`Sequential` can be indexed by an int or a slice, not by "
                f"{type(i).__qualname__} ({i!r})."
            ) from None
        return self.layers[index]

    def __iter__(self) -> Iterator[Callable[..., Any]]:
        yield from self.layers

    def __len__(self) -> int:
        return len(self.layers)

    def is_stateful(self) -> bool:
        """`True` if any of the layers is stateful."""
        return any(_is_stateful(layer) for layer in self.layers)


class Lambda(Module):
    """Wrap a function as a layer, for use in `Sequential`: `Lambda(fn)(x) == fn(x)`.

    `fn` is a field, so a PyTree-valued callable (such as a Module) keeps its parameters
    visible to `filter`, `grad`, etc.

    Example:
        ```python
        eqx.nn.Sequential([eqx.nn.Linear(2, 2, key=key), eqx.nn.Lambda(jax.nn.relu)])
        ```
    """

    fn: Callable[..., Any]

    def __call__(self, x: Any, *, key: jax.Array | None = None) -> Any:
        """Return `fn(x)`; `key` is ignored."""
        with jax.named_scope("eqx.nn.Lambda"):
            return self.fn(x)
