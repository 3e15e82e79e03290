"""Recurrent cells: `GRUCell` and `LSTMCell` (one step each; loop with `lax.scan`)."""

import math
from collections.abc import Sequence
from typing import Any

import jax
import jax.numpy as jnp
import jax.random as jr
from jax.typing import ArrayLike
from jaxtyping import Shaped

from eqx_module import Module, field

from ._hyperparameters import check_size
from ._misc import default_floating_dtype, uniform_init

__all__ = ["GRUCell", "LSTMCell"]


def _check_vector(cell: str, name: str, x: jax.Array, size: int, size_name: str) -> None:
    if jnp.shape(x) != (size,):
        msg = (
            f"{cell} expects `{name}` of shape ({size},) (`{size_name}`), but got shape "
            f"{jnp.shape(x)}."
        )
        if jnp.ndim(x) > 1:
            msg += " Cells take unbatched inputs: for a batch use `jax.vmap(cell)`."
        raise ValueError(msg)


class GRUCell(Module):
    """One step of a gated recurrent unit.

    Arguments:
        input_size: size of the input vector.
        hidden_size: size of the hidden state `H`.
        use_bias: whether to use the biases `bias` and `bias_n`.
        dtype: parameter dtype; `None` is float32 (float64 under x64). Complex allowed.
        key: a PRNG key, `split(key, 4)` for `weight_ih`, `weight_hh`, `bias`, `bias_n`,
            all drawn from U(-1/sqrt(H), 1/sqrt(H)).

    Example:
        >>> cell = GRUCell(3, 4, key=jax.random.key(0))
        >>> cell(jnp.ones(3), jnp.zeros(4)).shape
        (4,)
    """

    weight_ih: jax.Array
    weight_hh: jax.Array
    bias: jax.Array | None
    bias_n: jax.Array | None
    input_size: int = field(static=True)
    hidden_size: int = field(static=True)
    use_bias: bool = field(static=True)

    def __init__(
        self,
        input_size: int,
        hidden_size: int,
        use_bias: bool = True,
        dtype: Any = None,
        *,
        key: jax.Array,
    ) -> None:
        check_size("GRUCell", "input_size", input_size)
        check_size("GRUCell", "hidden_size", hidden_size, minimum=1)
        dtype = default_floating_dtype() if dtype is None else dtype
        ihkey, hhkey, bkey, bkey2 = jr.split(key, 4)
        lim = math.sqrt(1 / hidden_size)
        self.weight_ih = uniform_init(ihkey, (3 * hidden_size, input_size), dtype, lim)
        self.weight_hh = uniform_init(hhkey, (3 * hidden_size, hidden_size), dtype, lim)
        self.bias = uniform_init(bkey, (3 * hidden_size,), dtype, lim) if use_bias else None
        self.bias_n = uniform_init(bkey2, (hidden_size,), dtype, lim) if use_bias else None
        self.input_size = input_size
        self.hidden_size = hidden_size
        self.use_bias = use_bias

    def __call__(
        self,
        input: Shaped[ArrayLike, " input_size"],
        hidden: Shaped[ArrayLike, " hidden_size"],
        *,
        key: jax.Array | None = None,
    ) -> jax.Array:
        """One step: `(input (input_size,), hidden (hidden_size,)) -> new hidden`."""
        with jax.named_scope("eqx.nn.GRUCell"):
            input, hidden = jnp.asarray(input), jnp.asarray(hidden)
            _check_vector("GRUCell", "input", input, self.input_size, "input_size")
            _check_vector("GRUCell", "hidden", hidden, self.hidden_size, "hidden_size")
            igates = self.weight_ih @ input
            if self.bias is not None:
                igates = igates + self.bias
            hgates = self.weight_hh @ hidden
            i_r, i_z, i_n = jnp.split(igates, 3)
            h_r, h_z, h_n = jnp.split(hgates, 3)
            reset = jax.nn.sigmoid(i_r + h_r)
            update = jax.nn.sigmoid(i_z + h_z)
            if self.bias_n is not None:
                h_n = h_n + self.bias_n
            new = jnp.tanh(i_n + reset * h_n)
            return new + update * (hidden - new)


class LSTMCell(Module):
    """One step of a long short-term memory cell.

    Arguments:
        input_size: size of the input vector.
        hidden_size: size `H` of the hidden and cell states.
        use_bias: whether to use `bias`.
        dtype: parameter dtype; `None` is float32 (float64 under x64). Complex allowed.
        key: a PRNG key, `split(key, 3)` for `weight_ih`, `weight_hh`, `bias`, all drawn
            from U(-1/sqrt(H), 1/sqrt(H)).

    Example:
        >>> cell = LSTMCell(3, 4, key=jax.random.key(0))
        >>> h, c = cell(jnp.ones(3), (jnp.zeros(4), jnp.zeros(4)))
        >>> h.shape, c.shape
        ((4,), (4,))
    """

    weight_ih: jax.Array
    weight_hh: jax.Array
    bias: jax.Array | None
    input_size: int = field(static=True)
    hidden_size: int = field(static=True)
    use_bias: bool = field(static=True)

    def __init__(
        self,
        input_size: int,
        hidden_size: int,
        use_bias: bool = True,
        dtype: Any = None,
        *,
        key: jax.Array,
    ) -> None:
        check_size("LSTMCell", "input_size", input_size)
        check_size("LSTMCell", "hidden_size", hidden_size, minimum=1)
        dtype = default_floating_dtype() if dtype is None else dtype
        ihkey, hhkey, bkey = jr.split(key, 3)
        lim = math.sqrt(1 / hidden_size)
        self.weight_ih = uniform_init(ihkey, (4 * hidden_size, input_size), dtype, lim)
        self.weight_hh = uniform_init(hhkey, (4 * hidden_size, hidden_size), dtype, lim)
        self.bias = uniform_init(bkey, (4 * hidden_size,), dtype, lim) if use_bias else None
        self.input_size = input_size
        self.hidden_size = hidden_size
        self.use_bias = use_bias

    def __call__(
        self,
        input: Shaped[ArrayLike, " input_size"],
        hidden: tuple[ArrayLike, ArrayLike] | Sequence[ArrayLike],
        *,
        key: jax.Array | None = None,
    ) -> tuple[jax.Array, jax.Array]:
        """One step: `(input, (h, c)) -> (h', c')`."""
        with jax.named_scope("eqx.nn.LSTMCell"):
            input = jnp.asarray(input)
            h, c = jnp.asarray(hidden[0]), jnp.asarray(hidden[1])
            _check_vector("LSTMCell", "input", input, self.input_size, "input_size")
            _check_vector("LSTMCell", "hidden[0]", h, self.hidden_size, "hidden_size")
            _check_vector("LSTMCell", "hidden[1]", c, self.hidden_size, "hidden_size")
            lin = self.weight_ih @ input + self.weight_hh @ h
            if self.bias is not None:
                lin = lin + self.bias
            i, f, g, o = jnp.split(lin, 4)
            i = jax.nn.sigmoid(i)
            f = jax.nn.sigmoid(f)
            g = jnp.tanh(g)
            o = jax.nn.sigmoid(o)
            c = f * c + i * g
            h = o * jnp.tanh(c)
            return (h, c)
