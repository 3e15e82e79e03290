"""Layers composed into small models train end to end with optax."""

import jax
import jax.numpy as jnp
import jax.random as jr
import optax

from eqx_filter import combine, is_inexact_array, partition
from eqx_module import Module
from eqx_nn import (
    MLP,
    Conv2d,
    Embedding,
    GRUCell,
    LayerNorm,
    Linear,
    MaxPool2d,
    MultiheadAttention,
    PReLU,
    RMSNorm,
    RotaryPositionalEmbedding,
)


class _TinyCNN(Module):
    conv: Conv2d
    pool: MaxPool2d
    norm: LayerNorm
    head: MLP

    def __init__(self, key):
        k1, k2 = jr.split(key)
        self.conv = Conv2d(1, 2, 3, padding=1, key=k1)
        self.pool = MaxPool2d(2, 2)
        self.norm = LayerNorm(8)
        self.head = MLP(8, 1, 8, 1, key=k2)

    def __call__(self, x):
        h = self.pool(jax.nn.relu(self.conv(x))).reshape(-1)
        return self.head(self.norm(h))[0]


def _train(model, loss_fn, steps=30):
    params, static = partition(model, is_inexact_array)
    opt = optax.adam(3e-2)
    state = opt.init(params)

    @jax.jit
    def step(params, state):
        loss, grads = jax.value_and_grad(lambda p: loss_fn(combine(p, static)))(params)
        # optax itself is not clean under strict promotion; only the layers are tested here.
        with jax.numpy_dtype_promotion("standard"):
            updates, state = opt.update(grads, state)
            return optax.apply_updates(params, updates), state, loss

    losses = []
    for _ in range(steps):
        params, state, loss = step(params, state)
        losses.append(float(loss))
    return losses


def test_small_cnn_loss_decreases():
    xs = jr.normal(jr.key(0), (8, 1, 4, 4))
    ys = jnp.sum(xs, axis=(1, 2, 3)) / 4
    model = _TinyCNN(jr.key(1))
    losses = _train(model, lambda m: jnp.mean((jax.vmap(m)(xs) - ys) ** 2))
    assert losses[-1] < 0.5 * losses[0]


def test_gru_regressor_loss_decreases():
    class _RNN(Module):
        cell: GRUCell
        out: Linear

        def __call__(self, seq):
            h, _ = jax.lax.scan(lambda h, x: (self.cell(x, h), None), jnp.zeros(4), seq)
            return self.out(h)

    k1, k2 = jr.split(jr.key(2))
    model = _RNN(GRUCell(1, 4, key=k1), Linear(4, "scalar", key=k2))
    seqs = jr.normal(jr.key(3), (8, 5, 1))
    targets = jnp.sum(seqs, axis=(1, 2)) / 5
    losses = _train(model, lambda m: jnp.mean((jax.vmap(m)(seqs) - targets) ** 2))
    assert losses[-1] < 0.5 * losses[0]


class _TinyTransformer(Module):
    embed: Embedding
    rope: RotaryPositionalEmbedding
    attn: MultiheadAttention
    norm: RMSNorm
    head: MLP

    def __init__(self, key):
        k1, k2, k3 = jr.split(key, 3)
        self.embed = Embedding(5, 4, key=k1)
        self.rope = RotaryPositionalEmbedding(2)
        self.attn = MultiheadAttention(2, 4, dropout_p=0.1, key=k2)
        self.norm = RMSNorm(4)
        self.head = MLP(4, "scalar", 4, 1, activation=PReLU(), key=k3)

    def __call__(self, tokens, key):
        x = jax.vmap(self.embed)(tokens)

        def rotate(q, k, v):
            return (
                jax.vmap(self.rope, in_axes=1, out_axes=1)(q),
                jax.vmap(self.rope, in_axes=1, out_axes=1)(k),
                v,
            )

        x = x + self.attn(x, x, x, key=key, process_heads=rotate)
        return self.head(self.norm(jnp.mean(x, axis=0)))


def test_small_attention_model_with_dropout_loss_decreases():
    tokens = jr.randint(jr.key(4), (8, 3), 0, 5)
    targets = jnp.sum(tokens == 2, axis=1).astype(jnp.float32)
    model = _TinyTransformer(jr.key(5))
    keys = jr.split(jr.key(6), 8)
    losses = _train(model, lambda m: jnp.mean((jax.vmap(m)(tokens, keys) - targets) ** 2))
    assert losses[-1] < 0.5 * losses[0]
