"""Out-of-range hyperparameters are a `ValueError` naming the layer, parameter and range."""

import jax
import jax.numpy as jnp
import jax.random as jr
import pytest

import eqx_nn as nn

K = jr.key(0)

CASES = [
    (
        lambda: nn.Linear(-1, 4, key=K),
        r"`Linear`: `in_features` must be an int >= 0 \(or \"scalar\"\); got -1",
    ),
    (lambda: nn.Linear(4, -2, key=K), r"`Linear`: `out_features` must be an int >= 0"),
    (lambda: nn.MLP(2, 3, 4, -1, key=K), r"`MLP`: `depth` must be an int >= 0; got -1"),
    (lambda: nn.MLP(2, 3, -4, 2, key=K), r"`MLP`: `width_size` must be an int >= 0; got -4"),
    (lambda: nn.Dropout(1.5), r"`Dropout`: `p` must be in \[0, 1\]; got 1.5"),
    (lambda: nn.Dropout(jnp.array(-0.1)), r"`Dropout`: `p` must be in \[0, 1\]"),
    (lambda: nn.Conv2d(-1, 3, 3, key=K), r"`Conv`: `in_channels` must be an int >= 1; got -1"),
    (
        lambda: nn.ConvTranspose1d(2, 0, 3, key=K),
        r"`ConvTranspose`: `out_channels` must be an int >= 1",
    ),
    (
        lambda: nn.MultiheadAttention(0, 4, key=K),
        r"`MultiheadAttention`: `num_heads` must be an int >= 1",
    ),
    (lambda: nn.MultiheadAttention(2, 4, dropout_p=2.0, key=K), r"`dropout_p` must be in \[0, 1\]"),
    (lambda: nn.GRUCell(-1, 3, key=K), r"`GRUCell`: `input_size` must be an int >= 0; got -1"),
    (lambda: nn.LSTMCell(3, 0, key=K), r"`LSTMCell`: `hidden_size` must be an int >= 1; got 0"),
    (lambda: nn.LayerNorm(3, eps=-1.0), r"`LayerNorm`: `eps` must be >= 0; got -1.0"),
    (lambda: nn.LayerNorm((2, -3)), r"`LayerNorm`: every entry of `shape` must be an int >= 0"),
    (lambda: nn.RMSNorm(3, eps=-1e-6), r"`RMSNorm`: `eps` must be >= 0"),
    (lambda: nn.GroupNorm(0, 4), r"`GroupNorm`: `groups` must be an int >= 1; got 0"),
    (
        lambda: nn.BatchNorm(3, "batch", momentum=2.0, mode="batch"),
        r"`BatchNorm`: `momentum` must be in \[0, 1\]",
    ),
    (
        lambda: nn.BatchNorm(-3, "batch", mode="batch"),
        r"`BatchNorm`: `input_size` must be an int >= 0",
    ),
    (
        lambda: nn.AdaptiveAvgPool1d(0),
        r"`AdaptivePool`: every entry of `target_shape` must be an int >= 1",
    ),
    (
        lambda: nn.SpectralNorm(nn.Linear(2, 2, key=K), "weight", num_power_iterations=-1, key=K),
        r"`SpectralNorm`: `num_power_iterations` must be an int >= 0",
    ),
]


@pytest.mark.parametrize(
    ("make", "message"), CASES, ids=[m.split(":")[0] + str(i) for i, (_, m) in enumerate(CASES)]
)
def test_out_of_range_hyperparameter_is_a_value_error_naming_it(make, message):
    with pytest.raises(ValueError, match=message):
        make()


def test_the_edges_of_each_range_are_accepted():
    nn.Dropout(0.0), nn.Dropout(1.0), nn.Linear(0, 4, key=K), nn.MLP(2, 3, 4, 0, key=K)
    nn.MultiheadAttention(1, 4, dropout_p=1.0, key=K), nn.LayerNorm(3, eps=0)
    assert nn.Linear("scalar", "scalar", key=K)(jnp.array(1.0)).shape == ()


def test_a_traced_dropout_rate_keeps_jax_semantics():
    # Under `jit` the rate is a tracer: it cannot be checked, and it is not.
    out = jax.jit(lambda p: nn.Dropout(p)(jnp.ones(4), inference=True))(jnp.array(0.3))
    assert out.shape == (4,)
