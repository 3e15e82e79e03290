# pyright: reportUnnecessaryTypeIgnoreComment=error
"""Type-checking fixture for eqx_nn layers (only checked, never run; see `check_module.py`).

Layers annotate their input with jaxtyping shapes (`Shaped[ArrayLike, " in_features"]`),
which type checkers read as the array type inside: any array-like (a JAX or NumPy array,
a Python scalar) is accepted, and the result is a `jax.Array`. A line that must be
rejected carries `# type: ignore[<mypy code>]`.
"""

from typing import assert_type

import jax
import jax.numpy as jnp
import jax.random as jr
import numpy as np

import eqx
import eqx_filter
import eqx_nn
from eqx_nn import (
    MLP,
    AdaptiveAvgPool1d,
    Conv1d,
    Conv2d,
    ConvTranspose2d,
    Embedding,
    GRUCell,
    Linear,
    LSTMCell,
    MaxPool2d,
    RotaryPositionalEmbedding,
)

key = jr.key(0)

linear = Linear(3, 2, key=key)
assert_type(linear(jnp.ones(3)), jax.Array)
assert_type(linear(np.ones(3)), jax.Array)
assert_type(Linear("scalar", 2, key=key)(1.0), jax.Array)
linear("not an array")  # type: ignore[arg-type]
linear([1.0, 2.0, 3.0])  # type: ignore[arg-type]

mlp = MLP(3, 2, 8, 2, key=key)
assert_type(mlp(jnp.ones(3)), jax.Array)
mlp(None)  # type: ignore[arg-type]

assert_type(Conv1d(2, 4, 3, key=key)(jnp.ones((2, 10))), jax.Array)
assert_type(Conv2d(2, 4, 3, key=key)(np.ones((2, 8, 8))), jax.Array)
assert_type(ConvTranspose2d(2, 4, 3, key=key)(jnp.ones((2, 8, 8))), jax.Array)
Conv2d(2, 4, 3, key=key)("image")  # type: ignore[arg-type]

embedding = Embedding(10, 4, key=key)
assert_type(embedding(3), jax.Array)
assert_type(embedding(jnp.array(3)), jax.Array)
embedding("three")  # type: ignore[arg-type]

gru = GRUCell(3, 4, key=key)
assert_type(gru(jnp.ones(3), jnp.zeros(4)), jax.Array)
gru(jnp.ones(3))  # type: ignore[call-arg]
h, c = LSTMCell(3, 4, key=key)(jnp.ones(3), (jnp.zeros(4), jnp.zeros(4)))
assert_type(h, jax.Array)

assert_type(MaxPool2d(2)(jnp.ones((3, 8, 8))), jax.Array)
assert_type(AdaptiveAvgPool1d(4)(np.ones((3, 16))), jax.Array)
assert_type(RotaryPositionalEmbedding(8)(jnp.ones((5, 8))), jax.Array)

# The layers (and eqx_filter's names) load on first use through a module `__getattr__`
# that type checkers do not see: a misspelt name is still an error, through every path.
assert_type(eqx.nn.Linear(2, 3, key=jr.key(0)), Linear)
assert_type(eqx_nn.__version__, str)
eqx.nn.Linaer  # type: ignore[attr-defined]
eqx_nn.Linaer  # type: ignore[attr-defined]
eqx_filter.filter_jt  # type: ignore[attr-defined]
eqx.filter_jt  # type: ignore[attr-defined]
