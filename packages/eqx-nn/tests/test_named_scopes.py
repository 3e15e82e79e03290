# ruff: noqa: E501
"""Every layer's `__call__` runs in `jax.named_scope("eqx.nn.<ClassName>")` and takes `key=None`."""

import jax
import jax.numpy as jnp
import jax.random as jr
import pytest

from eqx_nn import (
    MLP,
    AdaptiveAvgPool1d,
    AdaptiveMaxPool2d,
    AvgPool2d,
    Conv1d,
    Conv2d,
    Conv3d,
    ConvTranspose1d,
    ConvTranspose2d,
    Dropout,
    Embedding,
    GroupNorm,
    GRUCell,
    LayerNorm,
    Linear,
    LSTMCell,
    MaxPool1d,
    MaxPool3d,
    MultiheadAttention,
    PReLU,
    RMSNorm,
    RotaryPositionalEmbedding,
)

KEY = jr.key(0)

CASES = [
    ("Linear", lambda: Linear(3, 2, key=KEY), lambda m, x: m(x, key=None), jnp.ones(3)),
    ("MLP", lambda: MLP(3, 2, 4, 1, key=KEY), lambda m, x: m(x, key=None), jnp.ones(3)),
    ("Conv1d", lambda: Conv1d(1, 1, 2, key=KEY), lambda m, x: m(x, key=None), jnp.ones((1, 4))),
    ("ConvTranspose1d", lambda: ConvTranspose1d(1, 1, 2, key=KEY), lambda m, x: m(x, key=None), jnp.ones((1, 4))),
    ("MaxPool1d", lambda: MaxPool1d(2), lambda m, x: m(x, key=None), jnp.ones((1, 4))),
    ("AdaptiveAvgPool1d", lambda: AdaptiveAvgPool1d(2), lambda m, x: m(x, key=None), jnp.ones((1, 4))),
    ("Dropout", lambda: Dropout(0.5), lambda m, x: m(x, key=KEY), jnp.ones(3)),
    ("Embedding", lambda: Embedding(3, 2, key=KEY), lambda m, x: m(x.astype(jnp.int32)[0], key=None), jnp.ones(1)),
    ("RotaryPositionalEmbedding", lambda: RotaryPositionalEmbedding(2), lambda m, x: m(x, key=None), jnp.ones((3, 2))),
    ("MultiheadAttention", lambda: MultiheadAttention(1, 2, key=KEY), lambda m, x: m(x, x, x, key=None), jnp.ones((3, 2))),
    ("GRUCell", lambda: GRUCell(2, 2, key=KEY), lambda m, x: m(x, x, key=None), jnp.ones(2)),
    ("LSTMCell", lambda: LSTMCell(2, 2, key=KEY), lambda m, x: m(x, (x, x), key=None)[0], jnp.ones(2)),
    ("PReLU", lambda: PReLU(), lambda m, x: m(x, key=None), jnp.ones(2)),
    ("LayerNorm", lambda: LayerNorm(2), lambda m, x: m(x, key=None), jnp.ones(2)),
    ("RMSNorm", lambda: RMSNorm(2), lambda m, x: m(x, key=None), jnp.ones(2)),
    ("GroupNorm", lambda: GroupNorm(1, 2), lambda m, x: m(x, key=None), jnp.ones(2)),
]  # fmt: skip


@pytest.mark.parametrize(("name", "make", "call", "x"), CASES, ids=[c[0] for c in CASES])
def test_layer_call_runs_in_its_named_scope(name, make, call, x):
    layer = make()
    jaxpr = jax.make_jaxpr(lambda x: call(layer, x))(x).jaxpr
    scopes = {str(eqn.source_info.name_stack) for eqn in jaxpr.eqns}
    assert scopes, "the layer staged no operations"
    assert any(scope.startswith(f"eqx.nn.{name}") for scope in scopes), scopes


SUBCLASS_CASES = [
    (lambda: Conv2d(1, 1, 2, key=KEY), jnp.ones((1, 3, 3)), "eqx.nn.Conv2d", "eqx.nn.Conv"),
    (lambda: Conv3d(1, 1, 2, key=KEY), jnp.ones((1, 2, 2, 2)), "eqx.nn.Conv3d", "eqx.nn.Conv"),
    (lambda: ConvTranspose2d(1, 1, 2, key=KEY), jnp.ones((1, 2, 2)), "eqx.nn.ConvTranspose2d", "eqx.nn.ConvTranspose"),
    (lambda: AvgPool2d(2), jnp.ones((1, 3, 3)), "eqx.nn.AvgPool2d", "eqx.nn.Pool"),
    (lambda: MaxPool3d(2), jnp.ones((1, 2, 2, 2)), "eqx.nn.MaxPool3d", "eqx.nn.Pool"),
    (lambda: AdaptiveMaxPool2d(1), jnp.ones((1, 2, 2)), "eqx.nn.AdaptiveMaxPool2d", "eqx.nn.AdaptivePool"),
]  # fmt: skip


@pytest.mark.parametrize(
    ("make", "x", "outer", "inner"), SUBCLASS_CASES, ids=[c[2] for c in SUBCLASS_CASES]
)
def test_dimension_specific_layers_run_in_their_own_and_the_parents_scope(make, x, outer, inner):
    layer = make()
    jaxpr = jax.make_jaxpr(lambda x: layer(x, key=None))(x).jaxpr
    stacks = [str(eqn.source_info.name_stack).split("/") for eqn in jaxpr.eqns]
    assert any(stack[:2] == [outer, inner] for stack in stacks), stacks
