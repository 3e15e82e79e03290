"""Typical Equinox user code runs with nothing changed but the import line.

Each test is written as a user of `import equinox as eqx` would write it; only the import
is `import eqx`. Results are compared with the same computation in plain JAX.
"""

import jax
import jax.numpy as jnp
import numpy as np

import eqx


class TwoLayer(eqx.Module):
    layers: list
    extra_bias: jax.Array

    def __init__(self, key: jax.Array) -> None:
        k1, k2 = jax.random.split(key)
        self.layers = [eqx.nn.Linear(2, 8, key=k1), eqx.nn.Linear(8, 1, key=k2)]
        self.extra_bias = jnp.ones(1)

    def __call__(self, x: jax.Array) -> jax.Array:
        for layer in self.layers[:-1]:
            x = jax.nn.relu(layer(x))
        return self.layers[-1](x) + self.extra_bias


def plain_forward(model: TwoLayer, x: jax.Array) -> jax.Array:
    first, last = model.layers
    hidden = jax.nn.relu(first.weight @ x + first.bias)
    return last.weight @ hidden + last.bias + model.extra_bias


def test_partition_combine_with_jax_jit_static_argnums() -> None:
    # Module protocol: the static half (holding a `layers: list` field) is hashable,
    # so plain `jax.jit(..., static_argnums=1)` accepts it.
    model = TwoLayer(jax.random.key(0))
    x = jnp.array([0.5, -1.5])
    params, static = eqx.partition(model, eqx.is_array)

    def loss(params: TwoLayer, static: TwoLayer, x: jax.Array) -> jax.Array:
        model = eqx.combine(params, static)
        return jnp.sum(model(x) ** 2)

    value = jax.jit(loss, static_argnums=1)(params, static, x)
    expected = jnp.sum(plain_forward(model, x) ** 2)
    np.testing.assert_allclose(value, expected, rtol=1e-6)
    grads = jax.grad(loss)(params, static, x)
    # d/d(extra_bias) of sum(out**2) is 2 * out.
    np.testing.assert_allclose(grads.extra_bias, 2 * plain_forward(model, x), rtol=1e-6)


def test_filter_grad_of_a_module_gives_a_module_of_gradients() -> None:
    model = TwoLayer(jax.random.key(1))
    x = jnp.array([1.0, 2.0])

    @eqx.filter_grad
    def grad_loss(model: TwoLayer, x: jax.Array) -> jax.Array:
        return jnp.sum(model(x))

    grads = grad_loss(model, x)
    assert isinstance(grads, TwoLayer)
    expected = jax.grad(
        lambda b: jnp.sum(plain_forward(eqx.tree_at(lambda m: m.extra_bias, model, b), x))
    )(model.extra_bias)
    np.testing.assert_allclose(grads.extra_bias, expected)


def test_filter_jit_training_step_with_apply_updates_lowers_the_loss() -> None:
    model = TwoLayer(jax.random.key(2))
    xs = jax.random.normal(jax.random.key(3), (16, 2))
    ys = jnp.sum(xs, axis=1, keepdims=True)

    def loss(model: TwoLayer, xs: jax.Array, ys: jax.Array) -> jax.Array:
        return jnp.mean((jax.vmap(model)(xs) - ys) ** 2)

    @eqx.filter_jit
    def step(model: TwoLayer, xs: jax.Array, ys: jax.Array) -> tuple[jax.Array, TwoLayer]:
        value, grads = eqx.filter_value_and_grad(loss)(model, xs, ys)
        updates = jax.tree_util.tree_map(lambda g: -0.05 * g, grads)
        return value, eqx.apply_updates(model, updates)

    first, model = step(model, xs, ys)
    for _ in range(20):
        last, model = step(model, xs, ys)
    assert float(last) < float(first)


def test_tree_at_replaces_one_layer_weight_and_leaves_the_input_untouched() -> None:
    model = TwoLayer(jax.random.key(4))
    new = eqx.tree_at(lambda m: m.layers[0].weight, model, jnp.zeros((8, 2)))
    assert jnp.array_equal(new.layers[0].weight, jnp.zeros((8, 2)))
    assert not jnp.array_equal(model.layers[0].weight, jnp.zeros((8, 2)))
    assert new.layers[1].weight is model.layers[1].weight  # arrays are not copied


def test_filter_vmap_builds_an_ensemble_of_mlps() -> None:
    keys = jax.random.split(jax.random.key(5), 3)
    make = lambda key: eqx.nn.MLP(2, 1, 4, 1, key=key)
    ensemble = eqx.filter_vmap(make)(keys)
    assert ensemble.layers[0].weight.shape == (3, 4, 2)
    x = jnp.ones(2)
    out = eqx.filter_vmap(lambda m, x: m(x), in_axes=(eqx.if_array(0), None))(ensemble, x)
    one = make(keys[1])
    np.testing.assert_allclose(out[1], one(x), rtol=1e-6)
