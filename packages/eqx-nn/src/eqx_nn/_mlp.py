"""`MLP`: a stack of `Linear` layers with per-neuron activations."""

from collections.abc import Callable
from typing import Any, Literal

import jax
import jax.random as jr
from jax.typing import ArrayLike
from jaxtyping import Shaped

from eqx_filter import combine, filter_vmap, partition
from eqx_module import Module, field
from eqx_tree import is_array

from ._hyperparameters import check_size
from ._linear import Linear
from ._misc import identity

__all__ = ["MLP"]


def _broadcast(activation: Any, *axis_sizes: int) -> Any:
    """Give each array leaf of `activation` leading axes `axis_sizes` (outermost first).

    An activation without arrays (e.g. `jax.nn.relu`) comes back unchanged.
    """
    for size in reversed(axis_sizes):
        activation = filter_vmap(_constant(activation), axis_size=size)()
    return activation


def _constant(value: Any) -> Callable[[], Any]:
    def make() -> Any:
        return value

    return make


def _select(activation: Any, index: int) -> Any:
    """The `index`-th layer's slice of a broadcast activation."""
    return jax.tree_util.tree_map(lambda leaf: leaf[index] if is_array(leaf) else leaf, activation)


def _apply_per_neuron(activation: Any, x: jax.Array) -> jax.Array:
    return filter_vmap(lambda act, y: act(y))(activation, x)


class MLP(Module):
    """A multi-layer perceptron.

    `depth` hidden layers of width `width_size`, each followed by `activation`, then a
    final `Linear` to `out_size` and `final_activation`. Activations are applied per
    neuron: an activation with learnt parameters (such as `PReLU`) gets its own
    parameters for every layer and neuron, shape `(depth, width_size, ...)`.

    Arguments:
        in_size: input size, or `"scalar"`.
        out_size: output size, or `"scalar"`.
        width_size: hidden width.
        depth: number of hidden layers (0 gives a single `Linear`).
        activation: applied after each hidden layer.
        final_activation: applied to the output (default: the identity).
        use_bias: bias on the hidden layers.
        use_final_bias: bias on the final layer.
        dtype: parameter dtype; `None` is float32 (float64 under x64).
        scan: store the `depth - 1` width-to-width layers as one stacked `Linear` and
            apply them with `lax.scan` (compiles faster for deep MLPs).
        key: a PRNG key, split into `depth + 1` keys, one per layer.

    Example:
        >>> mlp = MLP(2, 3, width_size=8, depth=2, key=jax.random.key(0))
        >>> mlp(jnp.ones(2)).shape
        (3,)
    """

    layers: tuple[Linear, ...]
    activation: Callable[..., Any]
    final_activation: Callable[..., Any]
    use_bias: bool = field(static=True)
    use_final_bias: bool = field(static=True)
    in_size: int | Literal["scalar"] = field(static=True)
    out_size: int | Literal["scalar"] = field(static=True)
    width_size: int = field(static=True)
    depth: int = field(static=True)
    scan: bool = field(static=True, default=False)

    def __init__(
        self,
        in_size: int | Literal["scalar"],
        out_size: int | Literal["scalar"],
        width_size: int,
        depth: int,
        activation: Callable[..., Any] = jax.nn.relu,
        final_activation: Callable[..., Any] = identity,
        use_bias: bool = True,
        use_final_bias: bool = True,
        dtype: Any = None,
        *,
        scan: bool = False,
        key: jax.Array,
    ) -> None:
        check_size("MLP", "in_size", in_size, scalar=True)
        check_size("MLP", "out_size", out_size, scalar=True)
        check_size("MLP", "width_size", width_size)
        check_size("MLP", "depth", depth)
        keys = jr.split(key, depth + 1)
        layers: list[Linear] = []
        if depth == 0:
            layers.append(Linear(in_size, out_size, use_final_bias, dtype, key=keys[0]))
        else:
            layers.append(Linear(in_size, width_size, use_bias, dtype, key=keys[0]))
            if scan and depth > 1:

                def make_hidden(k: jax.Array) -> Linear:
                    return Linear(width_size, width_size, use_bias, dtype, key=k)

                layers.append(filter_vmap(make_hidden)(keys[1:depth]))
            else:
                for i in range(1, depth):
                    layers.append(Linear(width_size, width_size, use_bias, dtype, key=keys[i]))
            layers.append(Linear(width_size, out_size, use_final_bias, dtype, key=keys[depth]))
        self.layers = tuple(layers)
        self.activation = _broadcast(activation, depth, width_size)
        if out_size == "scalar":
            self.final_activation = final_activation
        else:
            self.final_activation = _broadcast(final_activation, out_size)
        self.use_bias = use_bias
        self.use_final_bias = use_final_bias
        self.in_size = in_size
        self.out_size = out_size
        self.width_size = width_size
        self.depth = depth
        self.scan = scan

    def __call__(
        self,
        x: Shaped[ArrayLike, " in_size"] | Shaped[ArrayLike, ""],
        *,
        key: jax.Array | None = None,
    ) -> jax.Array:
        """Apply the MLP to one unbatched input of shape `(in_size,)` (or `()`).

        Arguments:
            x: the input.
            key: ignored.

        Returns:
            An array of shape `(out_size,)` (or `()`).
        """
        with jax.named_scope("eqx.nn.MLP"):
            h: Any = x  # the hidden activations, one layer at a time
            if self.scan and self.depth > 1:
                first, hidden, last = self.layers
                h = _apply_per_neuron(_select(self.activation, 0), first(h))

                hidden_acts = jax.tree_util.tree_map(
                    lambda leaf: leaf[1:] if is_array(leaf) else leaf, self.activation
                )
                dynamic_acts, static_acts = partition(hidden_acts, is_array)

                def step(carry: jax.Array, xs: tuple[Linear, Any]) -> tuple[jax.Array, None]:
                    layer, dynamic_act = xs
                    act = combine(dynamic_act, static_acts)
                    return _apply_per_neuron(act, layer(carry)), None

                h, _ = jax.lax.scan(step, h, (hidden, dynamic_acts))
            else:
                for i, layer in enumerate(self.layers[:-1]):
                    h = _apply_per_neuron(_select(self.activation, i), layer(h))
                last = self.layers[-1]
            h = last(h)
            if self.out_size == "scalar":
                return self.final_activation(h)
            return _apply_per_neuron(self.final_activation, h)
