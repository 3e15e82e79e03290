"""End-to-end idioms an Equinox user writes, run through `import eqx` only.

Each test is one pattern from Equinox's public documentation or common practice
(custom Modules, training loops with optax, freezing, stateful layers, serialisation,
filtered transforms, runtime errors), with its numbers checked against plain JAX or a
hand computation. They guard the seams between packages that the per-package tests
cannot see.
"""

import abc
import pathlib
import types
from collections.abc import Callable
from typing import Any, ClassVar

import jax
import jax.numpy as jnp
import jax.tree_util as jtu
import numpy as np
import optax
import pytest

import eqx

# ---------------------------------------------------------------------------------------
# A hand-written model, used by several tests
# ---------------------------------------------------------------------------------------


def _double(x: jax.Array) -> jax.Array:
    return 2 * x


class TinyMLP(eqx.Module):
    layers: list[eqx.nn.Linear]
    extra_bias: jax.Array

    def __init__(self, key: jax.Array) -> None:
        key1, key2, key3 = jax.random.split(key, 3)
        self.layers = [
            eqx.nn.Linear(2, 8, key=key1),
            eqx.nn.Linear(8, 8, key=key2),
            eqx.nn.Linear(8, 1, key=key3),
        ]
        self.extra_bias = jnp.ones(1)

    def __call__(self, x: jax.Array) -> jax.Array:
        for layer in self.layers[:-1]:
            x = jax.nn.relu(layer(x))
        return self.layers[-1](x) + self.extra_bias


def _plain_forward(params: dict[str, Any], x: jax.Array) -> jax.Array:
    for w, b in params["layers"][:-1]:
        x = jax.nn.relu(w @ x + b)
    w, b = params["layers"][-1]
    return w @ x + b + params["extra_bias"]


def _plain_params(model: TinyMLP) -> dict[str, Any]:
    return {
        "layers": [(layer.weight, layer.bias) for layer in model.layers],
        "extra_bias": model.extra_bias,
    }


def _data() -> tuple[jax.Array, jax.Array]:
    x = jax.random.normal(jax.random.key(1), (16, 2))
    y = jnp.sum(x**2, axis=1, keepdims=True)
    return x, y


def _mse(model: Callable[[jax.Array], jax.Array], x: jax.Array, y: jax.Array) -> jax.Array:
    pred = jax.vmap(model)(x)
    return jnp.mean((pred - y) ** 2)


@pytest.fixture
def standard_promotion() -> Any:
    """optax's Adam mixes its int32 step count with floats, which the suite's strict
    promotion flag (set in the root conftest for the library's sake) rejects."""
    with jax.numpy_dtype_promotion("standard"):
        yield


# ---------------------------------------------------------------------------------------
# Training
# ---------------------------------------------------------------------------------------


def test_custom_module_forward_under_vmap_matches_plain_jax() -> None:
    model = TinyMLP(jax.random.key(0))
    x, _ = _data()
    expected = jax.vmap(lambda xi: _plain_forward(_plain_params(model), xi))(x)
    assert jnp.allclose(jax.vmap(model)(x), expected)
    assert jax.vmap(model)(x).shape == (16, 1)


def test_filter_value_and_grad_equals_plain_jax_grad_on_the_same_arrays() -> None:
    model = TinyMLP(jax.random.key(0))
    x, y = _data()

    loss, grads = eqx.filter_value_and_grad(_mse)(model, x, y)

    def plain_loss(params: dict[str, Any]) -> jax.Array:
        pred = jax.vmap(lambda xi: _plain_forward(params, xi))(x)
        return jnp.mean((pred - y) ** 2)

    plain_value, plain_grads = jax.value_and_grad(plain_loss)(_plain_params(model))
    assert jnp.allclose(loss, plain_value)
    assert isinstance(grads, TinyMLP)
    for layer_grad, (gw, gb) in zip(grads.layers, plain_grads["layers"], strict=True):
        assert jnp.allclose(layer_grad.weight, gw)
        assert jnp.allclose(layer_grad.bias, gb)
    assert jnp.allclose(grads.extra_bias, plain_grads["extra_bias"])


@pytest.mark.usefixtures("standard_promotion")
def test_adam_training_loop_under_filter_jit_decreases_the_loss() -> None:
    model = TinyMLP(jax.random.key(0))
    x, y = _data()
    optim = optax.adam(5e-2)
    opt_state = optim.init(eqx.filter(model, eqx.is_array))

    def step(
        model: TinyMLP, opt_state: optax.OptState, x: jax.Array, y: jax.Array
    ) -> tuple[TinyMLP, optax.OptState, jax.Array]:
        loss, grads = eqx.filter_value_and_grad(_mse)(model, x, y)
        updates, opt_state = optim.update(grads, opt_state, eqx.filter(model, eqx.is_array))
        model = eqx.apply_updates(model, updates)
        return model, opt_state, loss

    make_step = eqx.filter_jit(step)
    first_loss = _mse(model, x, y)
    # The compiled step computes what the same step computes eagerly.
    jit_model, _, _ = make_step(model, opt_state, x, y)
    eager_model, _, _ = step(model, opt_state, x, y)
    assert eqx.tree_equal(jit_model, eager_model, rtol=1e-5, atol=1e-6)

    losses = []
    for _ in range(30):
        model, opt_state, loss = make_step(model, opt_state, x, y)
        losses.append(float(loss))
    assert losses[0] == pytest.approx(float(first_loss), rel=1e-5)
    assert losses[-1] < losses[10] < losses[0]
    assert float(_mse(model, x, y)) < 0.75 * float(first_loss)
    assert isinstance(model, TinyMLP)


@pytest.mark.usefixtures("standard_promotion")
def test_one_adam_step_matches_optax_on_plain_params() -> None:
    model = TinyMLP(jax.random.key(0))
    x, y = _data()
    optim = optax.adam(1e-2)
    params = eqx.filter(model, eqx.is_array)
    grads = eqx.filter_grad(_mse)(model, x, y)
    updates, _ = optim.update(grads, optim.init(params), params)
    new_model = eqx.apply_updates(model, updates)

    plain = _plain_params(model)
    plain_grads = jax.grad(
        lambda p: jnp.mean((jax.vmap(lambda xi: _plain_forward(p, xi))(x) - y) ** 2)
    )(plain)
    plain_updates, _ = optim.update(plain_grads, optim.init(plain), plain)
    plain_new = optax.apply_updates(plain, plain_updates)
    assert jnp.allclose(new_model.layers[0].weight, plain_new["layers"][0][0])
    assert jnp.allclose(new_model.extra_bias, plain_new["extra_bias"])


@pytest.mark.usefixtures("standard_promotion")
def test_optax_adamw_with_a_weight_decay_mask_and_gradient_clipping() -> None:
    model = eqx.nn.MLP(2, 1, 3, 1, key=jax.random.key(0))
    params = eqx.filter(model, eqx.is_array)
    # Decay weights only, not biases.
    mask = jtu.tree_map(lambda x: x.ndim > 1, params)
    optim = optax.chain(
        optax.clip_by_global_norm(1.0), optax.adamw(1e-2, weight_decay=1.0, mask=mask)
    )
    opt_state = optim.init(params)
    zero_grads = jtu.tree_map(jnp.zeros_like, params)
    updates, _ = optim.update(zero_grads, opt_state, params)
    new = eqx.apply_updates(model, updates)
    # With zero gradients only the decay acts: weights shrink, biases stay.
    assert jnp.allclose(new.layers[0].weight, model.layers[0].weight * (1 - 1e-2))
    assert jnp.array_equal(new.layers[0].bias, model.layers[0].bias)
    assert new.activation is model.activation


def test_optax_optimiser_passed_to_filter_jit_is_static_and_traces_once() -> None:
    model = eqx.nn.Linear(2, 1, key=jax.random.key(0))
    optim = optax.sgd(0.1)
    opt_state = optim.init(eqx.filter(model, eqx.is_array))

    @eqx.filter_jit
    @eqx.debug.assert_max_traces(max_traces=1)
    def step(
        model: eqx.nn.Linear,
        opt_state: optax.OptState,
        optim: optax.GradientTransformation,
        x: jax.Array,
    ) -> tuple[eqx.nn.Linear, optax.OptState]:
        grads = eqx.filter_grad(lambda m: jnp.sum(m(x)))(model)
        updates, opt_state = optim.update(grads, opt_state)
        return eqx.apply_updates(model, updates), opt_state

    start_bias = model.bias
    for _ in range(3):
        model, opt_state = step(model, opt_state, optim, jnp.ones(2))
    assert eqx.debug.get_num_traces(step) == 1
    # d(w @ x + b)/db = 1, so each SGD step lowers the bias by the learning rate.
    assert jnp.allclose(model.bias, start_bias - 0.3)


@pytest.mark.usefixtures("standard_promotion")
def test_training_loop_inside_lax_scan_with_partition_and_combine() -> None:
    model = eqx.nn.MLP(2, 1, 4, 1, key=jax.random.key(0))
    x, y = _data()
    optim = optax.sgd(0.05)
    params, static = eqx.partition(model, eqx.is_array)
    opt_state = optim.init(params)

    def step(
        carry: tuple[eqx.nn.MLP, optax.OptState], _: None
    ) -> tuple[tuple[eqx.nn.MLP, optax.OptState], jax.Array]:
        params, opt_state = carry
        loss, grads = eqx.filter_value_and_grad(lambda p: _mse(eqx.combine(p, static), x, y))(
            params
        )
        updates, opt_state = optim.update(grads, opt_state)
        return (eqx.apply_updates(params, updates), opt_state), loss

    (params, _), losses = jax.lax.scan(step, (params, opt_state), None, length=5)
    assert losses.shape == (5,)
    # The same five steps, unrolled in Python.
    manual = model
    for i in range(5):
        loss, grads = eqx.filter_value_and_grad(_mse)(manual, x, y)
        assert jnp.allclose(loss, losses[i], rtol=1e-5)
        manual = eqx.apply_updates(manual, jtu.tree_map(lambda g: -0.05 * g, grads))
    assert eqx.tree_equal(eqx.combine(params, static), manual, rtol=1e-5, atol=1e-6)


def test_per_example_gradients_with_filter_vmap_of_filter_grad() -> None:
    model = eqx.nn.MLP(2, 1, 3, 1, key=jax.random.key(0))
    x, y = _data()

    def loss(model: eqx.nn.MLP, xi: jax.Array, yi: jax.Array) -> jax.Array:
        return jnp.sum((model(xi) - yi) ** 2)

    per_example = eqx.filter_vmap(eqx.filter_grad(loss), in_axes=(None, 0, 0))(model, x, y)
    assert per_example.layers[0].weight.shape == (16, 3, 2)
    assert per_example.activation is None
    batch = eqx.filter_grad(_mse)(model, x, y)
    mean = jtu.tree_map(lambda g: g.mean(axis=0), per_example)
    assert eqx.tree_equal(mean, batch, rtol=1e-5, atol=1e-6)


@pytest.mark.usefixtures("standard_promotion")
def test_data_parallel_training_step_with_filter_shard() -> None:
    from jax.sharding import Mesh, NamedSharding, PartitionSpec

    devices = jax.devices()
    mesh = Mesh(np.array(devices), ("batch",))
    data_sharding = NamedSharding(mesh, PartitionSpec("batch"))
    replicated = NamedSharding(mesh, PartitionSpec())

    model = eqx.filter_shard(TinyMLP(jax.random.key(0)), replicated)
    optim = optax.adam(1e-2)
    opt_state = optim.init(eqx.filter(model, eqx.is_array))

    @eqx.filter_jit(donate="all-except-first")
    def train_step(
        model: TinyMLP, opt_state: optax.OptState, x: jax.Array, y: jax.Array
    ) -> tuple[TinyMLP, optax.OptState, jax.Array]:
        model, opt_state = eqx.filter_shard((model, opt_state), replicated)
        x, y = eqx.filter_shard((x, y), data_sharding)
        loss, grads = eqx.filter_value_and_grad(_mse)(model, x, y)
        updates, opt_state = optim.update(grads, opt_state, eqx.filter(model, eqx.is_array))
        model = eqx.apply_updates(model, updates)
        model, opt_state = eqx.filter_shard((model, opt_state), replicated)
        return model, opt_state, loss

    x, y = _data()
    x, y = eqx.filter_shard((x, y), data_sharding)
    assert x.sharding == data_sharding
    expected_loss = _mse(model, x, y)
    new_model, opt_state, loss = train_step(model, opt_state, x, y)
    assert jnp.allclose(loss, expected_loss, rtol=1e-5)
    # Everything but the first argument was donated.
    assert x.is_deleted() and not model.layers[0].weight.is_deleted()
    assert new_model.layers[0].weight.sharding.is_equivalent_to(replicated, 2)
    assert isinstance(new_model, TinyMLP)


def test_parameter_count_and_shapes_via_filter() -> None:
    model = eqx.nn.MLP(3, 2, 4, 2, key=jax.random.key(0))
    params = eqx.filter(model, eqx.is_array)
    count = sum(x.size for x in jtu.tree_leaves(params))
    assert count == (3 * 4 + 4) + (4 * 4 + 4) + (4 * 2 + 2)
    shapes = jtu.tree_map(lambda x: x.shape, params)
    assert shapes.layers[1].weight == (4, 4)


# ---------------------------------------------------------------------------------------
# Freezing and model surgery
# ---------------------------------------------------------------------------------------


def test_freezing_all_but_the_last_layer_with_a_filter_spec() -> None:
    model = TinyMLP(jax.random.key(0))
    x, y = _data()
    filter_spec = jtu.tree_map(lambda _: False, model)
    filter_spec = eqx.tree_at(
        lambda m: (m.layers[-1].weight, m.layers[-1].bias),
        filter_spec,
        replace=(True, True),
    )
    diff_model, static_model = eqx.partition(model, filter_spec)
    assert diff_model.layers[0].weight is None
    assert diff_model.extra_bias is None
    assert static_model.layers[-1].weight is None

    def loss(diff_model: TinyMLP, static_model: TinyMLP) -> jax.Array:
        return _mse(eqx.combine(diff_model, static_model), x, y)

    grads = jax.grad(loss)(diff_model, static_model)
    full_grads = eqx.filter_grad(_mse)(model, x, y)
    assert grads.layers[0].weight is None
    assert jnp.allclose(grads.layers[-1].weight, full_grads.layers[-1].weight)
    assert jnp.allclose(grads.layers[-1].bias, full_grads.layers[-1].bias)
    assert eqx.tree_equal(eqx.combine(diff_model, static_model), model)


def test_freezing_one_weight_via_tree_at_replace_true() -> None:
    model = TinyMLP(jax.random.key(0))
    filter_spec = jtu.tree_map(lambda _: False, model)
    filter_spec = eqx.tree_at(lambda m: m.layers[-1].weight, filter_spec, replace=True)
    trainable, frozen = eqx.partition(model, filter_spec)
    assert jtu.tree_leaves(trainable) == [model.layers[-1].weight]
    assert eqx.combine(trainable, frozen).layers[-1].weight is model.layers[-1].weight


def test_stop_gradient_on_a_frozen_layer_inside_the_model() -> None:
    class Frozen(eqx.Module):
        frozen: eqx.nn.Linear
        trained: eqx.nn.Linear

        def __call__(self, x: jax.Array) -> jax.Array:
            frozen = jax.lax.stop_gradient(self.frozen)
            return self.trained(frozen(x))

    keys = jax.random.split(jax.random.key(0))
    model = Frozen(eqx.nn.Linear(2, 2, key=keys[0]), eqx.nn.Linear(2, 1, key=keys[1]))
    grads = eqx.filter_grad(lambda m: jnp.sum(m(jnp.ones(2))))(model)
    assert jnp.all(grads.frozen.weight == 0)
    assert jnp.any(grads.trained.weight != 0)


def test_apply_updates_skips_none_updates() -> None:
    model = TinyMLP(jax.random.key(0))
    updates = jtu.tree_map(jnp.ones_like, eqx.filter(model, eqx.is_array))
    updates = eqx.tree_at(lambda m: m.extra_bias, updates, None)
    new = eqx.apply_updates(model, updates)
    assert new.extra_bias is model.extra_bias
    assert jnp.allclose(new.layers[0].weight, model.layers[0].weight + 1)


def test_custom_weight_init_by_tree_at_over_every_linear() -> None:
    model = eqx.nn.MLP(2, 2, 3, 2, key=jax.random.key(0))

    def is_linear(x: Any) -> bool:
        return isinstance(x, eqx.nn.Linear)

    def get_weights(m: eqx.nn.MLP) -> list[jax.Array]:
        return [x.weight for x in jtu.tree_leaves(m, is_leaf=is_linear) if is_linear(x)]

    weights = get_weights(model)
    new_weights = [jnp.full_like(w, 0.5) for w in weights]
    model = eqx.tree_at(get_weights, model, new_weights)
    assert all(jnp.all(layer.weight == 0.5) for layer in model.layers)
    assert jnp.array_equal(
        model.layers[0].bias, eqx.nn.MLP(2, 2, 3, 2, key=jax.random.key(0)).layers[0].bias
    )


def test_modules_are_immutable_and_updated_with_tree_at() -> None:
    linear = eqx.nn.Linear(2, 2, key=jax.random.key(0))
    with pytest.raises(AttributeError):
        linear.weight = jnp.zeros((2, 2))  # type: ignore[misc]
    new = eqx.tree_at(lambda m: m.weight, linear, jnp.zeros((2, 2)))
    assert jnp.array_equal(new.weight, jnp.zeros((2, 2)))
    assert new.bias is linear.bias
    assert not jnp.array_equal(linear.weight, new.weight)
    doubled = eqx.tree_at(lambda m: m.bias, linear, replace_fn=lambda b: 2 * b)
    assert jnp.allclose(doubled.bias, 2 * linear.bias)


def test_tree_at_replaces_a_whole_sublayer() -> None:
    mlp = eqx.nn.MLP(2, 2, 3, 2, key=jax.random.key(0))
    new_layer = eqx.nn.Linear(3, 3, use_bias=False, key=jax.random.key(1))
    swapped = eqx.tree_at(lambda m: m.layers[1], mlp, new_layer)
    assert swapped.layers[1] is new_layer
    assert swapped(jnp.ones(2)).shape == (2,)


def test_tree_at_fills_a_none_bias_with_is_leaf() -> None:
    linear = eqx.nn.Linear(2, 2, use_bias=False, key=jax.random.key(0))
    with_bias = eqx.tree_at(lambda m: m.bias, linear, jnp.ones(2), is_leaf=lambda x: x is None)
    assert jnp.array_equal(with_bias.bias, jnp.ones(2))
    assert jnp.allclose(with_bias(jnp.zeros(2)), jnp.ones(2))


def test_key_paths_name_module_fields() -> None:
    model = eqx.nn.MLP(2, 2, 3, 1, key=jax.random.key(0))
    paths = [jtu.keystr(path) for path, _ in jtu.tree_flatten_with_path(model)[0]]
    assert paths[:4] == [
        ".layers[0].weight",
        ".layers[0].bias",
        ".layers[1].weight",
        ".layers[1].bias",
    ]


# ---------------------------------------------------------------------------------------
# Built-in layers
# ---------------------------------------------------------------------------------------


def test_nn_mlp_matches_hand_computation() -> None:
    mlp = eqx.nn.MLP(3, 2, width_size=4, depth=2, key=jax.random.key(0))
    assert len(mlp.layers) == 3
    x = jnp.arange(3.0)
    h = x
    for layer in mlp.layers[:-1]:
        h = jax.nn.relu(layer.weight @ h + layer.bias)
    expected = mlp.layers[-1].weight @ h + mlp.layers[-1].bias
    assert jnp.allclose(mlp(x), expected)
    assert jax.vmap(mlp)(jnp.ones((5, 3))).shape == (5, 2)


def test_nn_mlp_scalar_in_and_out_with_final_activation() -> None:
    mlp = eqx.nn.MLP(
        "scalar", "scalar", 4, 1, final_activation=jax.nn.sigmoid, key=jax.random.key(0)
    )
    out = mlp(jnp.array(0.5))
    assert out.shape == ()
    assert 0 < float(out) < 1


def test_linear_without_bias_and_with_scalar_input() -> None:
    key = jax.random.key(0)
    linear = eqx.nn.Linear(3, 2, use_bias=False, key=key)
    assert linear.bias is None
    x = jnp.array([1.0, 2.0, 3.0])
    assert jnp.allclose(linear(x), linear.weight @ x)

    scalar_in = eqx.nn.Linear("scalar", 2, key=key)
    assert scalar_in.weight.shape == (2, 1)
    assert jnp.allclose(scalar_in(jnp.array(2.0)), scalar_in.weight[:, 0] * 2 + scalar_in.bias)

    scalar_out = eqx.nn.Linear(3, "scalar", key=key)
    assert scalar_out(x).shape == ()
    with pytest.raises(ValueError, match="x must have scalar shape"):
        scalar_in(jnp.ones(2))


def test_linear_same_key_gives_same_parameters() -> None:
    a = eqx.nn.Linear(3, 2, key=jax.random.key(7))
    b = eqx.nn.Linear(3, 2, key=jax.random.key(7))
    assert eqx.tree_equal(a, b)
    wkey, bkey = jax.random.split(jax.random.key(7))
    lim = 1 / np.sqrt(3)
    assert jnp.allclose(a.weight, jax.random.uniform(wkey, (2, 3), minval=-lim, maxval=lim))
    assert jnp.allclose(a.bias, jax.random.uniform(bkey, (2,), minval=-lim, maxval=lim))


def test_cnn_with_conv2d_maxpool2d_and_linear_head() -> None:
    class CNN(eqx.Module):
        layers: list[Any]

        def __init__(self, key: jax.Array) -> None:
            key1, key2 = jax.random.split(key)
            self.layers = [
                eqx.nn.Conv2d(1, 2, kernel_size=3, key=key1),
                eqx.nn.MaxPool2d(kernel_size=2, stride=2),
                jax.nn.relu,
                jnp.ravel,
                eqx.nn.Linear(2 * 3 * 3, 4, key=key2),
                jax.nn.log_softmax,
            ]

        def __call__(self, x: jax.Array) -> jax.Array:
            for layer in self.layers:
                x = layer(x)
            return x

    model = CNN(jax.random.key(0))
    x = jax.random.normal(jax.random.key(1), (1, 8, 8))
    conv = model.layers[0]
    expected = jax.lax.conv_general_dilated(x[None], conv.weight, (1, 1), "VALID")[0]
    expected = expected + conv.bias
    assert jnp.allclose(conv(x), expected, atol=1e-6)
    pooled = model.layers[1](expected)
    assert pooled.shape == (2, 3, 3)
    assert jnp.allclose(pooled, expected[:, :6, :6].reshape(2, 3, 2, 3, 2).max(axis=(2, 4)))
    out = jax.vmap(model)(jnp.stack([x, x]))
    assert out.shape == (2, 4)
    assert jnp.allclose(jnp.sum(jnp.exp(out), axis=1), 1.0, atol=1e-5)
    grads = eqx.filter_grad(lambda m: jnp.sum(m(x)))(model)
    assert grads.layers[0].weight.shape == conv.weight.shape


def test_sequential_with_lambda_activation_and_indexing() -> None:
    key1, key2 = jax.random.split(jax.random.key(0))
    model = eqx.nn.Sequential(
        [
            eqx.nn.Linear(2, 3, key=key1),
            eqx.nn.Lambda(jax.nn.relu),
            eqx.nn.Linear(3, 1, key=key2),
        ]
    )
    x = jnp.array([1.0, -1.0])
    first, _, last = model.layers
    assert jnp.allclose(model(x), last(jax.nn.relu(first(x))))
    assert len(model) == 3
    assert model[0] is first
    assert isinstance(model[:2], eqx.nn.Sequential)
    assert jnp.allclose(model[:2](x), jax.nn.relu(first(x)))
    # Lambda's function is not an array leaf, so it survives filtering.
    params, static = eqx.partition(model, eqx.is_array)
    assert len(jtu.tree_leaves(params)) == 4
    assert eqx.combine(params, static)(x).shape == (1,)


def test_layer_norm_matches_hand_computation() -> None:
    norm = eqx.nn.LayerNorm(4)
    x = jnp.array([1.0, 2.0, 3.0, 6.0])
    expected = (x - x.mean()) / jnp.sqrt(x.var() + 1e-5)
    assert jnp.allclose(norm(x), expected, atol=1e-5)
    assert jnp.array_equal(norm.weight, jnp.ones(4))
    assert jax.vmap(norm)(jnp.stack([x, x])).shape == (2, 4)
    with pytest.raises(ValueError, match="vmap"):
        norm(jnp.ones((2, 4)))


def test_dropout_with_keys_and_inference_mode() -> None:
    class Model(eqx.Module):
        linear: eqx.nn.Linear
        dropout: eqx.nn.Dropout

        def __init__(self, key: jax.Array) -> None:
            self.linear = eqx.nn.Linear(4, 64, key=key)
            self.dropout = eqx.nn.Dropout(p=0.5)

        def __call__(self, x: jax.Array, *, key: jax.Array | None = None) -> jax.Array:
            return self.dropout(self.linear(x), key=key)

    model = Model(jax.random.key(0))
    x = jnp.ones(4)
    full = model.linear(x)
    out = model(x, key=jax.random.key(1))
    kept = out != 0
    assert 0 < int(kept.sum()) < 64
    assert jnp.allclose(out[kept], 2 * full[kept])
    assert not jnp.array_equal(out, model(x, key=jax.random.key(2)))
    with pytest.raises(RuntimeError, match="Dropout requires a key"):
        model(x)

    inference_model = eqx.nn.inference_mode(model)
    assert inference_model.dropout.inference is True
    assert model.dropout.inference is False
    assert jnp.array_equal(inference_model(x), full)
    assert jnp.array_equal(inference_model(x, key=jax.random.key(1)), full)
    back = eqx.nn.inference_mode(inference_model, value=False)
    assert back.dropout.inference is False


def test_multihead_attention_on_unbatched_sequences_matches_hand_computation() -> None:
    attn = eqx.nn.MultiheadAttention(num_heads=2, query_size=4, key=jax.random.key(0))
    q = jax.random.normal(jax.random.key(1), (3, 4))
    kv = jax.random.normal(jax.random.key(2), (5, 4))
    out = attn(q, kv, kv)
    assert out.shape == (3, 4)

    def heads(proj: eqx.nn.Linear, x: jax.Array) -> jax.Array:
        return jax.vmap(proj)(x).reshape(x.shape[0], 2, 2)

    qh, kh, vh = heads(attn.query_proj, q), heads(attn.key_proj, kv), heads(attn.value_proj, kv)
    logits = jnp.einsum("qhd,khd->hqk", qh / jnp.sqrt(2.0), kh)
    weights = jax.nn.softmax(logits, axis=-1)
    merged = jnp.einsum("hqk,khd->qhd", weights, vh).reshape(3, 4)
    expected = jax.vmap(attn.output_proj)(merged)
    assert jnp.allclose(out, expected, atol=1e-5)

    causal = jnp.tril(jnp.ones((3, 3), dtype=bool))
    masked = attn(q, q, q, mask=causal)
    # The first query only sees the first key, so changing the rest leaves it unchanged.
    q2 = q.at[1:].set(0.0)
    assert jnp.allclose(masked[0], attn(q2, q2, q2, mask=causal)[0], atol=1e-6)


def test_gru_cell_under_lax_scan_matches_a_python_loop() -> None:
    cell = eqx.nn.GRUCell(2, 3, key=jax.random.key(0))
    xs = jax.random.normal(jax.random.key(1), (5, 2))
    h0 = jnp.zeros(3)

    def step(h: jax.Array, x: jax.Array) -> tuple[jax.Array, jax.Array]:
        h = cell(x, h)
        return h, h

    final, hs = jax.lax.scan(step, h0, xs)
    h = h0
    for x in xs:
        h = cell(x, h)
    assert hs.shape == (5, 3)
    assert jnp.allclose(final, h, atol=1e-6)

    # One step by hand, from the GRU equations.
    x = xs[0]
    i_r, i_z, i_n = jnp.split(cell.weight_ih @ x + cell.bias, 3)
    h_r, h_z, h_n = jnp.split(cell.weight_hh @ h0, 3)
    r = jax.nn.sigmoid(i_r + h_r)
    z = jax.nn.sigmoid(i_z + h_z)
    n = jnp.tanh(i_n + r * (h_n + cell.bias_n))
    assert jnp.allclose(hs[0], n + z * (h0 - n), atol=1e-6)


def test_lstm_cell_returns_hidden_and_cell_state() -> None:
    cell = eqx.nn.LSTMCell(2, 3, key=jax.random.key(0))
    h, c = cell(jnp.ones(2), (jnp.zeros(3), jnp.zeros(3)))
    gates = cell.weight_ih @ jnp.ones(2) + cell.bias
    i, _, g, o = jnp.split(gates, 4)  # the forget gate multiplies c = 0
    c_expected = jax.nn.sigmoid(i) * jnp.tanh(g)
    assert jnp.allclose(c, c_expected, atol=1e-6)
    assert jnp.allclose(h, jax.nn.sigmoid(o) * jnp.tanh(c_expected), atol=1e-6)


def test_mlp_with_scan_true_matches_the_unrolled_mlp() -> None:
    key = jax.random.key(0)
    scanned = eqx.nn.MLP(2, 2, 3, 3, scan=True, key=key)
    unrolled = eqx.nn.MLP(2, 2, 3, 3, key=key)
    x = jnp.array([0.3, -0.7])
    assert jnp.allclose(scanned(x), unrolled(x), atol=1e-6)


def test_mlp_with_a_learnt_prelu_activation_has_per_neuron_parameters() -> None:
    mlp = eqx.nn.MLP(2, 1, 3, 2, activation=eqx.nn.PReLU(), key=jax.random.key(0))
    assert mlp.activation.negative_slope.shape == (2, 3)
    x = jnp.array([1.0, -1.0])
    h = x
    for i, layer in enumerate(mlp.layers[:-1]):
        z = layer(h)
        h = jnp.where(z >= 0, z, mlp.activation.negative_slope[i] * z)
    assert jnp.allclose(mlp(x), mlp.layers[-1](h), atol=1e-6)
    grads = eqx.filter_grad(lambda m: jnp.sum(m(x)))(mlp)
    assert grads.activation.negative_slope.shape == (2, 3)


def test_sequential_splits_the_key_for_dropout_layers() -> None:
    model = eqx.nn.Sequential(
        [eqx.nn.Dropout(0.5), eqx.nn.Lambda(lambda x: x + 0), eqx.nn.Dropout(0.5)]
    )
    x = jnp.ones(32)
    key = jax.random.key(0)
    k0, _, k2 = jax.random.split(key, 3)
    expected = model[2](model[0](x, key=k0), key=k2)
    assert jnp.array_equal(model(x, key=key), expected)
    assert jnp.array_equal(eqx.nn.inference_mode(model)(x), x)


def test_vmap_a_model_with_per_example_dropout_keys() -> None:
    model = eqx.nn.Sequential([eqx.nn.Linear(2, 16, key=jax.random.key(0)), eqx.nn.Dropout(0.5)])
    x = jnp.ones((3, 2))
    keys = jax.random.split(jax.random.key(1), 3)
    out = jax.vmap(model)(x, key=keys)
    assert out.shape == (3, 16)
    for i in range(3):
        assert jnp.array_equal(out[i], model(x[i], key=keys[i]))
    # Same inputs, different keys: different masks.
    assert not jnp.array_equal(out[0], out[1])


def test_rnn_classifier_from_gru_cell_scan_and_linear_head() -> None:
    class RNN(eqx.Module):
        hidden_size: int = eqx.field(static=True)
        cell: eqx.nn.GRUCell
        linear: eqx.nn.Linear
        bias: jax.Array

        def __init__(self, in_size: int, out_size: int, hidden_size: int, *, key: jax.Array):
            ckey, lkey = jax.random.split(key)
            self.hidden_size = hidden_size
            self.cell = eqx.nn.GRUCell(in_size, hidden_size, key=ckey)
            self.linear = eqx.nn.Linear(hidden_size, out_size, use_bias=False, key=lkey)
            self.bias = jnp.zeros(out_size)

        def __call__(self, inputs: jax.Array) -> jax.Array:
            def f(carry: jax.Array, inp: jax.Array) -> tuple[jax.Array, None]:
                return self.cell(inp, carry), None

            out, _ = jax.lax.scan(f, jnp.zeros(self.hidden_size), inputs)
            return jax.nn.sigmoid(self.linear(out) + self.bias)

    model = RNN(2, 1, 4, key=jax.random.key(0))
    xs = jax.random.normal(jax.random.key(1), (3, 6, 2))
    out = jax.vmap(model)(xs)
    assert out.shape == (3, 1)
    h = jnp.zeros(4)
    for x in xs[0]:
        h = model.cell(x, h)
    assert jnp.allclose(out[0], jax.nn.sigmoid(model.linear.weight @ h), atol=1e-6)
    grads = eqx.filter_jit(eqx.filter_grad(lambda m: jnp.mean(jax.vmap(m)(xs))))(model)
    assert grads.hidden_size == 4
    assert grads.cell.weight_ih.shape == (12, 2)


def test_embedding_under_vmap_over_tokens() -> None:
    embedding = eqx.nn.Embedding(10, 4, key=jax.random.key(0))
    tokens = jnp.array([3, 1, 3])
    out = jax.vmap(embedding)(tokens)
    assert jnp.array_equal(out, embedding.weight[tokens])
    from_weight = eqx.nn.Embedding(weight=jnp.eye(3))
    assert from_weight.num_embeddings == 3 and from_weight.embedding_size == 3


def test_embedding_rejects_a_batch_of_tokens_suggesting_vmap() -> None:
    import eqx_nn._embedding

    if isinstance(getattr(eqx_nn._embedding, "jaxtyping", None), types.ModuleType):
        pytest.skip("under jaxtyping's import hook the index's annotation rejects it first")
    embedding = eqx.nn.Embedding(10, 4, key=jax.random.key(0))
    with pytest.raises(ValueError, match="vmap"):
        embedding(jnp.array([3, 1, 3]))


def test_rms_norm_and_group_norm_match_hand_computation() -> None:
    x = jnp.array([1.0, -2.0, 3.0, 0.5])
    rms = eqx.nn.RMSNorm(4)
    assert jnp.allclose(rms(x), x / jnp.sqrt(jnp.mean(x**2) + 1e-5), atol=1e-6)

    group = eqx.nn.GroupNorm(groups=2, channels=4)
    y = jnp.arange(8.0).reshape(4, 2)
    groups = y.reshape(2, 4)
    normed = (groups - groups.mean(axis=1, keepdims=True)) / jnp.sqrt(
        groups.var(axis=1, keepdims=True) + 1e-5
    )
    assert jnp.allclose(group(y), normed.reshape(4, 2), atol=1e-5)


def test_conv1d_same_padding_keeps_the_length_and_avg_pool_averages() -> None:
    conv = eqx.nn.Conv1d(2, 3, kernel_size=3, padding="SAME", key=jax.random.key(0))
    assert conv.padding == "SAME"
    x = jax.random.normal(jax.random.key(1), (2, 7))
    assert conv(x).shape == (3, 7)
    pool = eqx.nn.AvgPool1d(kernel_size=2, stride=2)
    assert jnp.allclose(pool(jnp.array([[1.0, 3.0, 5.0, 7.0]])), jnp.array([[2.0, 6.0]]))
    adaptive = eqx.nn.AdaptiveAvgPool2d(1)
    assert jnp.allclose(adaptive(jnp.ones((2, 3, 3)) * 4), jnp.full((2, 1, 1), 4.0))


def test_conv_transpose_inverts_the_strided_conv_shape() -> None:
    conv = eqx.nn.Conv2d(1, 2, kernel_size=2, stride=2, key=jax.random.key(0))
    deconv = eqx.nn.ConvTranspose2d(2, 1, kernel_size=2, stride=2, key=jax.random.key(1))
    x = jnp.ones((1, 4, 4))
    assert conv(x).shape == (2, 2, 2)
    assert deconv(conv(x)).shape == (1, 4, 4)


def test_prelu_learns_its_slope() -> None:
    prelu = eqx.nn.PReLU()
    x = jnp.array([-2.0, 3.0])
    assert jnp.allclose(prelu(x), jnp.array([-0.5, 3.0]))
    grads = eqx.filter_grad(lambda p: jnp.sum(p(x)))(prelu)
    assert float(grads.negative_slope) == -2.0


def test_rope_inside_multihead_attention_via_process_heads() -> None:
    rope = eqx.nn.RotaryPositionalEmbedding(embedding_size=2)
    attn = eqx.nn.MultiheadAttention(2, 4, key=jax.random.key(0))
    x = jax.random.normal(jax.random.key(1), (3, 4))

    def process_heads(
        q: jax.Array, k: jax.Array, v: jax.Array
    ) -> tuple[jax.Array, jax.Array, jax.Array]:
        q = jax.vmap(rope, in_axes=1, out_axes=1)(q)
        k = jax.vmap(rope, in_axes=1, out_axes=1)(k)
        return q, k, v

    out = attn(x, x, x, process_heads=process_heads)
    assert out.shape == (3, 4)
    assert not jnp.allclose(out, attn(x, x, x))
    with pytest.raises(ValueError, match="must not change the shape"):
        attn(x, x, x, process_heads=lambda q, k, v: (q[:, :1], k, v))


def test_weight_norm_and_spectral_norm_wrap_a_linear() -> None:
    linear = eqx.nn.Linear(3, 2, key=jax.random.key(0))
    x = jnp.array([1.0, 2.0, 3.0])
    weight_norm = eqx.nn.WeightNorm(linear)
    assert jnp.allclose(weight_norm(x), linear(x), atol=1e-5)

    spectral, state = eqx.nn.make_with_state(eqx.nn.SpectralNorm)(
        linear, "weight", key=jax.random.key(1)
    )
    out, state = spectral(x, state)
    sigma = jnp.linalg.norm(linear.weight, ord=2)
    assert jnp.allclose(out, linear.weight @ x / sigma + linear.bias, rtol=1e-3)


# ---------------------------------------------------------------------------------------
# State: BatchNorm, make_with_state, threading a State
# ---------------------------------------------------------------------------------------


class NormedModel(eqx.Module):
    linear: eqx.nn.Linear
    norm: eqx.nn.BatchNorm

    def __init__(self, key: jax.Array) -> None:
        self.linear = eqx.nn.Linear(3, 2, key=key)
        self.norm = eqx.nn.BatchNorm(2, axis_name="batch", momentum=0.5, mode="batch")

    def __call__(self, x: jax.Array, state: eqx.nn.State) -> tuple[jax.Array, eqx.nn.State]:
        x, state = self.norm(self.linear(x), state)
        return x, state


def test_batch_norm_with_make_with_state_and_named_vmap() -> None:
    model, state = eqx.nn.make_with_state(NormedModel)(jax.random.key(0))
    x = jax.random.normal(jax.random.key(1), (8, 3))
    batched = jax.vmap(model, axis_name="batch", in_axes=(0, None), out_axes=(0, None))
    out, new_state = batched(x, state)

    h = jax.vmap(model.linear)(x)
    expected = (h - h.mean(axis=0, keepdims=True)) / jnp.sqrt(h.var(axis=0, keepdims=True) + 1e-5)
    assert jnp.allclose(out, expected, atol=1e-5)
    assert isinstance(new_state, eqx.nn.State)

    # The running statistics were updated, in the new state only.
    counter = new_state.get(model.norm.batch_counter)
    assert int(counter) == 1
    mean, var = new_state.get(model.norm.batch_state_index)
    assert jnp.allclose(mean, 0.5 * h.mean(axis=0), atol=1e-6)
    assert jnp.allclose(var, 0.5 + 0.5 * h.var(axis=0), atol=1e-5)

    # In inference mode the stored statistics, debiased, normalise the input.
    inference_model = eqx.nn.inference_mode(model)
    inf_out, _ = jax.vmap(
        inference_model, axis_name="batch", in_axes=(0, None), out_axes=(0, None)
    )(x, new_state)
    assert jnp.allclose(
        inf_out, (h - mean[None] / 0.5) / jnp.sqrt(var[None] / 0.5 + 1e-5), atol=1e-5
    )


def test_ema_batch_norm_uses_batch_statistics_first_then_mixes() -> None:
    norm, state = eqx.nn.make_with_state(eqx.nn.BatchNorm)(
        2, axis_name="batch", momentum=0.5, mode="ema"
    )
    batched = eqx.filter_jit(
        eqx.filter_vmap(
            norm, axis_name="batch", in_axes=(eqx.if_array(0), None), out_axes=(0, None)
        )
    )
    x1 = jnp.array([[0.0, 1.0], [2.0, 5.0]])
    x2 = jnp.array([[4.0, 1.0], [8.0, 1.0]])
    out1, state = batched(x1, state)
    mean1, var1 = x1.mean(axis=0), x1.var(axis=0)
    expected1 = (x1 - mean1[None]) / jnp.sqrt(var1[None] + 1e-5)
    assert jnp.allclose(out1, expected1, atol=1e-5)

    out2, state = batched(x2, state)
    mean = 0.5 * x2.mean(axis=0) + 0.5 * mean1
    var = 0.5 * x2.var(axis=0) + 0.5 * var1
    assert jnp.allclose(out2, (x2 - mean[None]) / jnp.sqrt(var[None] + 1e-5), atol=1e-5)
    stored_mean, stored_var = state.get(norm.ema_state_index)
    assert jnp.allclose(stored_mean, mean) and jnp.allclose(stored_var, var)


def test_stateful_training_step_threads_the_state_through_filter_jit() -> None:
    model, state = eqx.nn.make_with_state(NormedModel)(jax.random.key(0))
    x = jax.random.normal(jax.random.key(1), (8, 3))

    def loss(model: NormedModel, state: eqx.nn.State) -> tuple[jax.Array, eqx.nn.State]:
        batched = jax.vmap(model, axis_name="batch", in_axes=(0, None), out_axes=(0, None))
        out, state = batched(x, state)
        return jnp.sum(out[:, 0] * jnp.arange(8.0)), state

    @eqx.filter_jit
    def step(
        model: NormedModel, state: eqx.nn.State
    ) -> tuple[NormedModel, eqx.nn.State, jax.Array]:
        (value, state), grads = eqx.filter_value_and_grad(loss, has_aux=True)(model, state)
        model = eqx.apply_updates(model, jtu.tree_map(lambda g: -0.1 * g, grads))
        return model, state, value

    for expected_count in (1, 2, 3):
        model, state, _ = step(model, state)
        assert int(state.get(model.norm.batch_counter)) == expected_count


def test_state_get_and_set_on_a_state_index() -> None:
    class Counter(eqx.Module):
        index: eqx.nn.StateIndex

        def __init__(self) -> None:
            self.index = eqx.nn.StateIndex(jnp.array(0))

        def __call__(self, x: jax.Array, state: eqx.nn.State) -> tuple[jax.Array, eqx.nn.State]:
            count = state.get(self.index)
            return x + count, state.set(self.index, count + 1)

    counter, state = eqx.nn.make_with_state(Counter)()
    x = jnp.array(10)
    for expected in (10, 11, 12):
        out, state = counter(x, state)
        assert int(out) == expected
    assert int(state.get(counter.index)) == 3
    new_state = state.set(counter.index, jnp.array(0))
    assert int(new_state.get(counter.index)) == 0
    with pytest.raises(ValueError, match="Attempted to use old state"):
        state.get(counter.index)
    with pytest.raises(ValueError, match="StateIndex"):
        state.get("not an index")  # type: ignore[arg-type]


def test_sequential_threads_state_through_stateful_layers() -> None:
    key1, key2 = jax.random.split(jax.random.key(0))
    model, state = eqx.nn.make_with_state(eqx.nn.Sequential)(
        [
            eqx.nn.Linear(3, 2, key=key1),
            eqx.nn.BatchNorm(2, axis_name="batch", mode="batch"),
            eqx.nn.Linear(2, 1, key=key2),
        ]
    )
    x = jax.random.normal(jax.random.key(1), (4, 3))
    out, state = jax.vmap(model, axis_name="batch", in_axes=(0, None), out_axes=(0, None))(x, state)
    h = jax.vmap(model[0])(x)
    h = (h - h.mean(axis=0, keepdims=True)) / jnp.sqrt(h.var(axis=0, keepdims=True) + 1e-5)
    assert jnp.allclose(out, jax.vmap(model[2])(h), atol=1e-5)
    assert int(state.get(model[1].batch_counter)) == 1


def test_inference_with_state_bound_by_partial_and_plain_vmap() -> None:
    model, state = eqx.nn.make_with_state(NormedModel)(jax.random.key(0))
    inference_model = eqx.nn.inference_mode(model)
    inference_model = eqx.Partial(inference_model, state=state)
    x = jax.random.normal(jax.random.key(1), (5, 3))
    # A fresh batch-mode BatchNorm in inference returns (almost) its input.
    out, _ = jax.vmap(inference_model, out_axes=(0, None))(x)
    h = jax.vmap(model.linear)(x)
    assert jnp.allclose(out, h / jnp.sqrt(1 + 1e-5), atol=1e-5)


def test_make_with_state_works_under_filter_jit_and_jax_jit() -> None:
    class Counter(eqx.Module):
        index: eqx.nn.StateIndex

        def __init__(self) -> None:
            self.index = eqx.nn.StateIndex(jnp.zeros(2))

    eager_model, eager_state = eqx.nn.make_with_state(NormedModel)(jax.random.key(0))
    model, state = eqx.filter_jit(eqx.nn.make_with_state(NormedModel))(jax.random.key(0))
    assert eqx.tree_equal(model, eager_model)
    assert eqx.tree_equal(state, eager_state)
    counter, counter_state = jax.jit(eqx.nn.make_with_state(Counter))()
    assert jnp.array_equal(counter_state.get(counter.index), jnp.zeros(2))


def test_ensemble_of_stateful_models_with_filter_vmap() -> None:
    keys = jax.random.split(jax.random.key(0), 3)
    models, states = eqx.filter_vmap(eqx.nn.make_with_state(NormedModel))(keys)
    assert models.linear.weight.shape == (3, 2, 3)
    x = jax.random.normal(jax.random.key(1), (4, 3))

    def evaluate(model: NormedModel, state: eqx.nn.State) -> tuple[jax.Array, eqx.nn.State]:
        return jax.vmap(model, axis_name="batch", in_axes=(0, None), out_axes=(0, None))(x, state)

    out, new_states = eqx.filter_vmap(evaluate)(models, states)
    assert jnp.array_equal(new_states.get(models.norm.batch_counter), jnp.ones(3, jnp.int32))
    assert out.shape == (3, 4, 2)
    single_model, single_state = eqx.nn.make_with_state(NormedModel)(keys[1])
    single_out, _ = evaluate(single_model, single_state)
    assert jnp.allclose(out[1], single_out, atol=1e-5)


# ---------------------------------------------------------------------------------------
# Shared: tied weights
# ---------------------------------------------------------------------------------------


class TiedEmbeddings(eqx.Module):
    shared: eqx.nn.Shared

    def __init__(self, key: jax.Array) -> None:
        key1, key2 = jax.random.split(key)
        embedding = eqx.nn.Embedding(5, 3, key=key1)
        head = eqx.nn.Linear(3, 5, use_bias=False, key=key2)
        where = lambda pair: pair[1].weight
        get = lambda pair: pair[0].weight
        self.shared = eqx.nn.Shared((embedding, head), where, get)

    def __call__(self, token: jax.Array) -> jax.Array:
        embedding, head = self.shared()
        return head(embedding(token))


def test_shared_ties_the_head_to_the_embedding_and_accumulates_gradients() -> None:
    model = TiedEmbeddings(jax.random.key(0))
    embedding, head = model.shared()
    assert head.weight is embedding.weight
    token = jnp.array(2)
    weight = embedding.weight
    assert jnp.allclose(model(token), weight @ weight[2])

    grads = eqx.filter_grad(lambda m: jnp.sum(m(token) ** 2))(model)
    expected = jax.grad(lambda w: jnp.sum((w @ w[2]) ** 2))(weight)
    assert jnp.allclose(grads.shared.pytree[0].weight, expected, atol=1e-5)
    # Only the source holds an array: the tied copy is not a separate parameter.
    assert len(jtu.tree_leaves(eqx.filter(model, eqx.is_array))) == 1


def test_shared_rejects_nodes_of_different_structure() -> None:
    linear = eqx.nn.Linear(2, 3, key=jax.random.key(0))
    with pytest.raises(ValueError, match="must have the same pytree structure"):
        eqx.nn.Shared(linear, lambda m: m.weight, lambda m: m.bias)


# ---------------------------------------------------------------------------------------
# Serialisation
# ---------------------------------------------------------------------------------------


def test_serialise_and_deserialise_into_a_filter_eval_shape_skeleton(
    tmp_path: pathlib.Path,
) -> None:
    model = TinyMLP(jax.random.key(0))
    path = tmp_path / "model.eqx"
    eqx.tree_serialise_leaves(path, model)

    skeleton = eqx.filter_eval_shape(TinyMLP, jax.random.key(1))
    assert isinstance(skeleton.layers[0].weight, jax.ShapeDtypeStruct)
    loaded = eqx.tree_deserialise_leaves(path, skeleton)
    assert isinstance(loaded.layers[0].weight, jax.Array)
    assert eqx.tree_equal(loaded, model)


def test_serialise_model_and_state_together_and_resume(tmp_path: pathlib.Path) -> None:
    model, state = eqx.nn.make_with_state(NormedModel)(jax.random.key(0))
    x = jax.random.normal(jax.random.key(1), (4, 3))
    batched = jax.vmap(model, axis_name="batch", in_axes=(0, None), out_axes=(0, None))
    _, state = batched(x, state)
    eqx.tree_serialise_leaves(tmp_path / "ckpt", (model, state))
    assert (tmp_path / "ckpt.eqx").exists()

    like = eqx.nn.make_with_state(NormedModel)(jax.random.key(5))
    loaded_model, loaded_state = eqx.tree_deserialise_leaves(tmp_path / "ckpt.eqx", like)
    assert eqx.tree_equal(loaded_model, model)
    assert int(loaded_state.get(loaded_model.norm.batch_counter)) == 1
    assert eqx.tree_equal(
        loaded_state.get(loaded_model.norm.batch_state_index),
        state.get(model.norm.batch_state_index),
    )


def test_deserialise_model_and_state_into_an_eval_shape_skeleton(
    tmp_path: pathlib.Path,
) -> None:
    model, state = eqx.nn.make_with_state(NormedModel)(jax.random.key(0))
    x = jax.random.normal(jax.random.key(1), (4, 3))
    _, state = jax.vmap(model, axis_name="batch", in_axes=(0, None), out_axes=(0, None))(x, state)
    eqx.tree_serialise_leaves(tmp_path / "ckpt.eqx", (model, state))

    skeleton = eqx.filter_eval_shape(eqx.nn.make_with_state(NormedModel), jax.random.key(0))
    loaded_model, loaded_state = eqx.tree_deserialise_leaves(tmp_path / "ckpt.eqx", skeleton)
    assert eqx.tree_equal(loaded_model, model)
    assert int(loaded_state.get(loaded_model.norm.batch_counter)) == 1


def test_deserialise_into_a_model_of_another_shape_names_the_leaf(
    tmp_path: pathlib.Path,
) -> None:
    eqx.tree_serialise_leaves(tmp_path / "small.eqx", eqx.nn.Linear(2, 3, key=jax.random.key(0)))
    with pytest.raises(RuntimeError, match=r"\.weight.*has changed shape|has changed shape"):
        eqx.tree_deserialise_leaves(
            tmp_path / "small.eqx", eqx.nn.Linear(2, 4, key=jax.random.key(0))
        )


def test_serialise_to_an_open_file_object(tmp_path: pathlib.Path) -> None:
    model = eqx.nn.MLP(2, 2, 3, 1, key=jax.random.key(0))
    with open(tmp_path / "mlp.eqx", "wb") as f:
        eqx.tree_serialise_leaves(f, model)
    with open(tmp_path / "mlp.eqx", "rb") as f:
        loaded = eqx.tree_deserialise_leaves(f, eqx.nn.MLP(2, 2, 3, 1, key=jax.random.key(1)))
    assert eqx.tree_equal(loaded, model)


def test_hyperparameters_as_json_then_leaves_in_the_same_file(tmp_path: pathlib.Path) -> None:
    import json

    def make(*, key: jax.Array, width: int, depth: int) -> eqx.nn.MLP:
        return eqx.nn.MLP(2, 1, width, depth, key=key)

    hyperparams = {"width": 3, "depth": 2}
    model = make(key=jax.random.key(0), **hyperparams)
    with open(tmp_path / "model.eqx", "wb") as f:
        f.write((json.dumps(hyperparams) + "\n").encode())
        eqx.tree_serialise_leaves(f, model)

    with open(tmp_path / "model.eqx", "rb") as f:
        loaded_hyperparams = json.loads(f.readline().decode())
        skeleton = make(key=jax.random.key(1), **loaded_hyperparams)
        loaded = eqx.tree_deserialise_leaves(f, skeleton)
    assert eqx.tree_equal(loaded, model)


def test_mixed_precision_cast_with_tree_map_then_serialise(tmp_path: pathlib.Path) -> None:
    model = eqx.nn.Linear(2, 2, key=jax.random.key(0))
    half = jtu.tree_map(lambda x: x.astype(jnp.bfloat16) if eqx.is_inexact_array(x) else x, model)
    assert half.weight.dtype == jnp.bfloat16
    assert half(jnp.ones(2, jnp.bfloat16)).dtype == jnp.bfloat16
    eqx.tree_serialise_leaves(tmp_path / "half.eqx", half)
    loaded = eqx.tree_deserialise_leaves(tmp_path / "half.eqx", half)
    assert loaded.weight.dtype == jnp.bfloat16
    assert eqx.tree_equal(loaded, half)
    with pytest.raises(RuntimeError, match="has changed dtype"):
        eqx.tree_deserialise_leaves(tmp_path / "half.eqx", model)


def test_serialise_python_scalars_and_numpy_arrays_in_a_module(
    tmp_path: pathlib.Path,
) -> None:
    class Config(eqx.Module):
        lr: float
        steps: int
        table: np.ndarray
        name: str = eqx.field(static=True)

    config = Config(0.1, 7, np.arange(3), "run")
    eqx.tree_serialise_leaves(tmp_path / "config.eqx", config)
    loaded = eqx.tree_deserialise_leaves(
        tmp_path / "config.eqx", Config(0.0, 0, np.zeros(3, np.int64), "run")
    )
    assert loaded.lr == 0.1 and type(loaded.lr) is float
    assert loaded.steps == 7 and type(loaded.steps) is int
    assert isinstance(loaded.table, np.ndarray)
    assert np.array_equal(loaded.table, np.arange(3))


def test_a_model_with_shared_weights_round_trips_through_serialisation(
    tmp_path: pathlib.Path,
) -> None:
    model = TiedEmbeddings(jax.random.key(0))
    eqx.tree_serialise_leaves(tmp_path / "tied.eqx", model)
    skeleton = eqx.filter_eval_shape(TiedEmbeddings, jax.random.key(1))
    loaded = eqx.tree_deserialise_leaves(tmp_path / "tied.eqx", skeleton)
    # `where`/`get` are lambdas made per instance (leaves that differ), so compare arrays.
    assert eqx.tree_equal(eqx.filter(loaded, eqx.is_array), eqx.filter(model, eqx.is_array))
    token = jnp.array(4)
    assert jnp.allclose(loaded(token), model(token))
    embedding, head = loaded.shared()
    assert head.weight is embedding.weight


def test_tree_save_and_tree_load_round_trip(tmp_path: pathlib.Path) -> None:
    model = eqx.nn.MLP(2, 2, 3, 1, key=jax.random.key(0))
    eqx.tree_save(tmp_path / "mlp.safetensors", model, metadata={"width": 3})
    loaded = eqx.tree_load(
        tmp_path / "mlp.safetensors", eqx.nn.MLP(2, 2, 3, 1, key=jax.random.key(1))
    )
    assert eqx.tree_equal(loaded, model)
    with pytest.raises(Exception, match=r"weight"):
        eqx.tree_load(tmp_path / "mlp.safetensors", eqx.nn.MLP(2, 2, 4, 1, key=jax.random.key(1)))


# ---------------------------------------------------------------------------------------
# Filtered transforms
# ---------------------------------------------------------------------------------------


class Activated(eqx.Module):
    weight: jax.Array
    activation: Callable[[jax.Array], jax.Array]
    power: int

    def __call__(self, x: jax.Array) -> jax.Array:
        return self.activation(self.weight * x) ** self.power


def test_filter_jit_treats_functions_and_ints_in_a_module_as_static() -> None:
    @eqx.filter_jit
    @eqx.debug.assert_max_traces(max_traces=2)
    def apply(model: Activated, x: jax.Array) -> jax.Array:
        return model(x)

    x = jnp.array([-1.0, 2.0])
    model = Activated(jnp.array(3.0), jax.nn.relu, 2)
    assert jnp.allclose(apply(model, x), jnp.array([0.0, 36.0]))
    # New array values reuse the trace; a new static int retraces.
    assert jnp.allclose(
        apply(eqx.tree_at(lambda m: m.weight, model, jnp.array(1.0)), x), jnp.array([0.0, 4.0])
    )
    assert eqx.debug.get_num_traces(apply) == 1
    assert jnp.allclose(apply(Activated(jnp.array(1.0), jax.nn.relu, 3), x), jnp.array([0.0, 8.0]))
    assert eqx.debug.get_num_traces(apply) == 2
    with pytest.raises(RuntimeError, match="can only be traced 2 times"):
        apply(Activated(jnp.array(1.0), jnp.tanh, 3), x)


def test_filter_jit_passes_python_scalars_and_strings_statically() -> None:
    @eqx.filter_jit
    def f(x: jax.Array, n: int, mode: str) -> jax.Array:
        assert isinstance(n, int)
        return x * n if mode == "scale" else x + n

    assert jnp.allclose(f(jnp.ones(2), 3, "scale"), 3.0)
    assert jnp.allclose(f(jnp.ones(2), 3, mode="shift"), 4.0)


def test_filter_jit_shares_a_trace_between_positional_and_keyword_spellings() -> None:
    @eqx.filter_jit
    def scale(x: jax.Array, factor: float = 1.0) -> jax.Array:
        return x * factor

    traces = []

    @eqx.filter_jit
    def traced(x: jax.Array, factor: float = 1.0) -> jax.Array:
        traces.append(None)
        return x * factor

    for call in (
        lambda: traced(jnp.ones(2), 2.0),
        lambda: traced(jnp.ones(2), factor=2.0),
        lambda: traced(x=jnp.ones(2), factor=2.0),
    ):
        assert jnp.array_equal(call(), jnp.full(2, 2.0))
    assert len(traces) == 1
    assert jnp.array_equal(scale(jnp.ones(2)), jnp.ones(2))


def test_assert_max_traces_under_filter_jit_counts_one_trace_for_both_spellings() -> None:
    @eqx.filter_jit
    @eqx.debug.assert_max_traces(max_traces=1)
    def scale(x: jax.Array, factor: float = 1.0) -> jax.Array:
        return x * factor

    scale(jnp.ones(2), 2.0)
    scale(jnp.ones(2), factor=2.0)
    assert eqx.debug.get_num_traces(scale) == 1


def test_filter_jit_returns_non_array_outputs_unchanged() -> None:
    @eqx.filter_jit
    def f(x: jax.Array) -> tuple[jax.Array, str, Callable[..., Any]]:
        return x + 1, "label", jax.nn.relu

    out, label, fn = f(jnp.zeros(2))
    assert jnp.array_equal(out, jnp.ones(2))
    assert label == "label"
    assert fn is jax.nn.relu


def test_filter_jit_returns_a_module_with_its_callables_intact() -> None:
    @eqx.filter_jit
    def make(key: jax.Array) -> eqx.nn.MLP:
        return eqx.nn.MLP(2, 2, 3, 1, activation=jax.nn.tanh, key=key)

    model = make(jax.random.key(0))
    assert model.activation is jax.nn.tanh
    assert eqx.tree_equal(
        model, eqx.nn.MLP(2, 2, 3, 1, activation=jax.nn.tanh, key=jax.random.key(0))
    )


def test_filter_jit_decorated_method_sees_self_as_an_argument() -> None:
    class Model(eqx.Module):
        weight: jax.Array

        @eqx.filter_jit
        def __call__(self, x: jax.Array) -> jax.Array:
            return self.weight @ x

    model = Model(jnp.eye(2) * 2)
    assert jnp.allclose(model(jnp.ones(2)), 2.0)
    assert jnp.allclose(Model(jnp.eye(2) * 3)(jnp.ones(2)), 3.0)


def test_filter_jit_with_donate_all_in_a_training_step() -> None:
    @eqx.filter_jit(donate="all")
    def step(model: eqx.nn.Linear, x: jax.Array) -> eqx.nn.Linear:
        grads = eqx.filter_grad(lambda m: jnp.sum(m(x) ** 2))(model)
        return jtu.tree_map(lambda p, g: p - 0.1 * g, model, grads)

    model = eqx.nn.Linear(2, 1, key=jax.random.key(0))
    expected_grads = eqx.filter_grad(lambda m: jnp.sum(m(jnp.ones(2)) ** 2))(model)
    expected = jtu.tree_map(lambda p, g: p - 0.1 * g, model, expected_grads)
    new = step(model, jnp.ones(2))
    assert eqx.tree_equal(new, expected, atol=1e-6)
    assert new.weight.shape == (1, 2)


def test_ahead_of_time_lower_and_compile() -> None:
    @eqx.filter_jit
    def apply(model: Activated, x: jax.Array) -> jax.Array:
        return model(x)

    model = Activated(jnp.array(2.0), jax.nn.relu, 2)
    x = jnp.array([-1.0, 1.0])
    lowered = apply.lower(model, x)
    assert "stablehlo" in lowered.as_text() or "mhlo" in lowered.as_text()
    compiled = lowered.compile()
    assert jnp.allclose(compiled(model, x), jnp.array([0.0, 4.0]))
    # Same shapes, new values: the compiled program serves them.
    assert jnp.allclose(
        compiled(Activated(jnp.array(3.0), jax.nn.relu, 2), x), jnp.array([0.0, 9.0])
    )


def test_filter_shard_and_filter_jit_on_a_model() -> None:
    device = jax.devices()[0]
    model = eqx.filter_shard(eqx.nn.Linear(2, 2, key=jax.random.key(0)), device)
    assert model.weight.devices() == {device}
    assert model.in_features == 2


def test_ensemble_built_with_filter_vmap_and_evaluated_with_filter_vmap() -> None:
    def make(key: jax.Array) -> eqx.nn.MLP:
        return eqx.nn.MLP(2, 1, 4, 1, key=key)

    keys = jax.random.split(jax.random.key(0), 3)
    ensemble = eqx.filter_vmap(make)(keys)
    assert ensemble.layers[0].weight.shape == (3, 4, 2)
    assert ensemble.activation is jax.nn.relu

    x = jnp.array([0.5, -1.0])
    out = eqx.filter_vmap(lambda model, x: model(x), in_axes=(eqx.if_array(0), None))(ensemble, x)
    assert out.shape == (3, 1)
    for i, key in enumerate(keys):
        assert jnp.allclose(out[i], make(key)(x), atol=1e-6)


def test_filter_vmap_over_models_and_data_together() -> None:
    keys = jax.random.split(jax.random.key(0), 2)
    ensemble = eqx.filter_vmap(lambda k: eqx.nn.Linear(2, 1, key=k))(keys)
    xs = jnp.array([[1.0, 0.0], [0.0, 1.0]])
    out = eqx.filter_vmap(lambda m, x: m(x))(ensemble, xs)
    assert jnp.allclose(out[:, 0], ensemble.weight[:, 0, :].diagonal() + ensemble.bias[:, 0])


def test_filter_vmap_with_in_axes_by_name() -> None:
    def affine(weight: jax.Array, x: jax.Array) -> jax.Array:
        return weight * x

    out = eqx.filter_vmap(affine, in_axes=dict(weight=None))(jnp.array(2.0), jnp.arange(3.0))
    assert jnp.array_equal(out, jnp.array([0.0, 2.0, 4.0]))


def test_vmap_of_a_bound_method_and_filter_jit_of_a_partial() -> None:
    class Poly(eqx.Module):
        coeffs: jax.Array

        def evaluate(self, x: jax.Array) -> jax.Array:
            return jnp.polyval(self.coeffs, x)

    poly = Poly(jnp.array([1.0, 0.0, -1.0]))
    xs = jnp.array([0.0, 1.0, 2.0])
    assert jnp.allclose(jax.vmap(poly.evaluate)(xs), xs**2 - 1)
    assert jnp.allclose(eqx.filter_vmap(poly.evaluate)(xs), xs**2 - 1)
    add = eqx.filter_jit(eqx.Partial(jnp.add, jnp.array(1.0)))
    assert float(add(jnp.array(2.0))) == 3.0


def test_jax_jit_of_a_bound_method() -> None:
    class Scaler(eqx.Module):
        scale: jax.Array

        def apply(self, x: jax.Array) -> jax.Array:
            return self.scale * x

    scaler = Scaler(jnp.array(3.0))
    assert jnp.allclose(jax.jit(scaler.apply)(jnp.array(2.0)), 6.0)
    assert jnp.allclose(eqx.filter_jit(scaler.apply)(jnp.array(2.0)), 6.0)
    # A bound method is a pytree holding the module's arrays.
    assert jtu.tree_leaves(scaler.apply) == [scaler.scale]
    assert jnp.allclose(jax.jit(lambda f, x: f(x))(scaler.apply, jnp.array(1.0)), 3.0)


def test_plain_jax_transforms_accept_modules_with_static_fields() -> None:
    linear = eqx.nn.Linear(2, 3, key=jax.random.key(0))
    x = jnp.ones((4, 2))
    assert jnp.allclose(jax.jit(jax.vmap(linear))(x), jax.vmap(linear)(x))
    grads = jax.grad(lambda m: jnp.sum(m(x[0])))(linear)
    assert grads.in_features == 2
    assert jnp.array_equal(grads.weight, jnp.ones((3, 2)))
    out = jax.jit(lambda m: m)(linear)
    assert out.in_features == 2 and eqx.tree_equal(out, linear)


def test_lax_cond_and_fori_loop_over_modules() -> None:
    a = eqx.nn.Linear(2, 2, key=jax.random.key(0))
    b = eqx.nn.Linear(2, 2, key=jax.random.key(1))
    chosen = jax.lax.cond(jnp.array(False), lambda: a, lambda: b)
    assert eqx.tree_equal(chosen, b)

    def body(i: jax.Array, m: eqx.nn.Linear) -> eqx.nn.Linear:
        return eqx.tree_at(lambda m: m.bias, m, m.bias + 1)

    looped = jax.lax.fori_loop(0, 3, body, a)
    assert jnp.allclose(looped.bias, a.bias + 3)


def test_scan_over_stacked_layers() -> None:
    keys = jax.random.split(jax.random.key(0), 4)
    stacked = eqx.filter_vmap(lambda k: eqx.nn.Linear(3, 3, key=k))(keys)
    dynamic, static = eqx.partition(stacked, eqx.is_array)

    def body(x: jax.Array, layer_params: eqx.nn.Linear) -> tuple[jax.Array, None]:
        layer = eqx.combine(layer_params, static)
        return jnp.tanh(layer(x)), None

    x = jnp.arange(3.0)
    out, _ = jax.lax.scan(body, x, dynamic)
    expected = x
    for i in range(4):
        expected = jnp.tanh(stacked.weight[i] @ expected + stacked.bias[i])
    assert jnp.allclose(out, expected, atol=1e-6)


def test_filter_grad_ignores_non_array_fields_and_returns_none_for_them() -> None:
    model = Activated(jnp.array(2.0), jnp.tanh, 1)
    grads = eqx.filter_grad(lambda m, x: m(x))(model, jnp.array(0.5))
    assert grads.activation is None
    assert grads.power == 1 or grads.power is None
    assert jnp.allclose(grads.weight, 0.5 * (1 - jnp.tanh(1.0) ** 2))


def test_grad_of_an_integer_array_field_is_none() -> None:
    class WithCount(eqx.Module):
        weight: jax.Array
        count: jax.Array

    model = WithCount(jnp.array(2.0), jnp.array(3))
    grads = eqx.filter_grad(lambda m: m.weight * m.count.astype(jnp.float32))(model)
    assert grads.count is None
    assert float(grads.weight) == 3.0


def test_filter_value_and_grad_with_has_aux() -> None:
    def loss(w: jax.Array) -> tuple[jax.Array, dict[str, jax.Array]]:
        return jnp.sum(w**2), {"norm": jnp.linalg.norm(w)}

    (value, aux), grads = eqx.filter_value_and_grad(loss, has_aux=True)(jnp.array([3.0, 4.0]))
    assert float(value) == 25.0
    assert float(aux["norm"]) == pytest.approx(5.0)
    assert jnp.array_equal(grads, jnp.array([6.0, 8.0]))


def test_filter_jvp_and_filter_vjp_on_a_module() -> None:
    linear = eqx.nn.Linear(2, 2, key=jax.random.key(0))
    x = jnp.array([1.0, 2.0])
    tangent = jtu.tree_map(jnp.ones_like, linear)
    out, t_out = eqx.filter_jvp(lambda m: m(x), (linear,), (tangent,))
    assert jnp.allclose(out, linear(x))
    assert jnp.allclose(t_out, jnp.ones((2, 2)) @ x + 1)

    out, vjp_fn = eqx.filter_vjp(lambda m: m(x), linear)
    (ct,) = vjp_fn(jnp.array([1.0, 0.0]))
    assert jnp.allclose(ct.weight, jnp.array([[1.0, 2.0], [0.0, 0.0]]))
    assert jnp.allclose(ct.bias, jnp.array([1.0, 0.0]))


def test_filter_hessian_of_a_quadratic() -> None:
    a = jnp.array([[2.0, 1.0], [1.0, 3.0]])
    hessian = eqx.filter_hessian(lambda x: 0.5 * x @ a @ x)(jnp.ones(2))
    assert jnp.allclose(hessian, a)
    jac = eqx.filter_jacrev(lambda x: a @ x)(jnp.ones(2))
    assert jnp.allclose(jac, a)
    assert jnp.allclose(eqx.filter_jacfwd(lambda x: a @ x)(jnp.ones(2)), a)


def test_filter_custom_vjp_for_a_clipped_gradient() -> None:
    @eqx.filter_custom_vjp
    def clip_gradient(x: jax.Array, threshold: float) -> jax.Array:
        return x

    @clip_gradient.def_fwd
    def fwd(perturbed: Any, x: jax.Array, threshold: float) -> tuple[jax.Array, None]:
        return x, None

    @clip_gradient.def_bwd
    def bwd(
        residuals: None, grad_out: jax.Array, perturbed: Any, x: jax.Array, threshold: float
    ) -> jax.Array:
        return jnp.clip(grad_out, -threshold, threshold)

    grad = jax.grad(lambda x: jnp.sum(3 * clip_gradient(x, 1.0)))(jnp.ones(2))
    assert jnp.array_equal(grad, jnp.ones(2))


def test_filter_custom_vjp_with_a_module_as_the_differentiated_argument() -> None:
    @eqx.filter_custom_vjp
    def apply(model: eqx.nn.MLP, x: jax.Array) -> jax.Array:
        return model(x)

    @apply.def_fwd
    def fwd(perturbed: Any, model: eqx.nn.MLP, x: jax.Array) -> tuple[jax.Array, None]:
        return model(x), None

    @apply.def_bwd
    def bwd(
        residuals: None, grad_out: jax.Array, perturbed: Any, model: eqx.nn.MLP, x: jax.Array
    ) -> eqx.nn.MLP:
        _, vjp_fn = eqx.filter_vjp(lambda m: m(x), model)
        (grads,) = vjp_fn(grad_out)
        return eqx.filter(grads, eqx.is_inexact_array)

    mlp = eqx.nn.MLP(2, 1, 3, 1, key=jax.random.key(0))
    xs = jnp.ones((3, 2))
    custom = eqx.filter_jit(
        eqx.filter_grad(lambda m: jnp.sum(jax.vmap(lambda xi: apply(m, xi))(xs)))
    )(mlp)
    plain = eqx.filter_grad(lambda m: jnp.sum(jax.vmap(m)(xs)))(mlp)
    assert eqx.tree_equal(custom, plain, atol=1e-5)


def test_filter_custom_jvp_on_a_module_argument() -> None:
    @eqx.filter_custom_jvp
    def square(x: jax.Array, label: str) -> jax.Array:
        return x**2

    @square.def_jvp
    def square_jvp(
        primals: tuple[Any, ...], tangents: tuple[Any, ...], **kwargs: Any
    ) -> tuple[jax.Array, jax.Array]:
        x, label = primals
        tx, t_label = tangents
        assert label == "sq" and t_label is None
        return x**2, 10 * x * tx  # deliberately not 2x, to see the rule is used

    assert float(jax.grad(lambda x: square(x, "sq"))(jnp.array(3.0))) == 30.0


def test_filter_checkpoint_gives_the_same_gradient() -> None:
    mlp = eqx.nn.MLP(2, 1, 3, 2, key=jax.random.key(0))
    x = jnp.array([0.5, 1.5])
    plain = eqx.filter_grad(lambda m: jnp.sum(m(x)))(mlp)
    checkpointed = eqx.filter_grad(lambda m: jnp.sum(eqx.filter_checkpoint(m)(x)))(mlp)
    assert eqx.tree_equal(plain, checkpointed, atol=1e-6)


def test_filter_make_jaxpr_of_a_linear_is_one_dot_and_one_add() -> None:
    linear = eqx.nn.Linear(2, 3, key=jax.random.key(0))
    jaxpr, out_struct, _ = eqx.filter_make_jaxpr(linear)(jnp.ones(2))
    primitives = [eqn.primitive.name for eqn in jaxpr.jaxpr.eqns]
    assert primitives.count("dot_general") == 1
    assert primitives.count("add") == 1
    assert out_struct == jax.ShapeDtypeStruct((3,), jnp.float32)


def test_filter_pure_callback_round_trips_through_numpy() -> None:
    def numpy_sin(x: Any) -> np.ndarray:
        return np.sin(np.asarray(x))

    @eqx.filter_jit
    def f(x: jax.Array) -> jax.Array:
        return eqx.filter_pure_callback(
            numpy_sin, x, result_shape_dtypes=jax.ShapeDtypeStruct(x.shape, x.dtype)
        )

    x = jnp.array([0.0, 1.0])
    assert jnp.allclose(f(x), jnp.sin(x))


def test_filter_eval_shape_builds_a_model_without_allocating() -> None:
    shapes = eqx.filter_eval_shape(eqx.nn.MLP, 2, 3, 4, 1, key=jax.random.key(0))
    assert isinstance(shapes, eqx.nn.MLP)
    assert shapes.layers[0].weight == jax.ShapeDtypeStruct((4, 2), jnp.float32)
    assert shapes.activation is jax.nn.relu


def test_filter_checks_every_kind_of_predicate() -> None:
    tree = (jnp.array(1.0), jnp.array(1), np.ones(2), 1.0, "s", jax.nn.relu)
    assert eqx.filter(tree, eqx.is_array) == (tree[0], tree[1], tree[2], None, None, None)
    inexact = eqx.filter(tree, eqx.is_inexact_array)
    assert inexact[1] is None and inexact[0] is tree[0]
    assert eqx.filter(tree, eqx.is_array, inverse=True)[3:] == (1.0, "s", jax.nn.relu)
    assert eqx.filter(tree, eqx.is_array_like)[3] == 1.0


# ---------------------------------------------------------------------------------------
# Runtime errors and debugging
# ---------------------------------------------------------------------------------------


def test_error_if_inside_filter_jit_raises_eqx_runtime_error() -> None:
    @eqx.filter_jit
    def safe_log(x: jax.Array) -> jax.Array:
        x = eqx.error_if(x, x <= 0, "x must be positive")
        return jnp.log(x)

    assert jnp.allclose(safe_log(jnp.array([1.0, jnp.e])), jnp.array([0.0, 1.0]))
    with pytest.raises(eqx.EqxRuntimeError, match="x must be positive") as info:
        safe_log(jnp.array([1.0, -1.0]))
    assert eqx.EquinoxRuntimeError is eqx.EqxRuntimeError
    assert isinstance(info.value, RuntimeError)
    with pytest.raises(eqx.EquinoxRuntimeError, match="x must be positive"):
        safe_log(jnp.array([0.0]))


def test_branched_error_if_reports_the_message_at_the_index() -> None:
    @eqx.filter_jit
    def check(x: jax.Array, code: jax.Array) -> jax.Array:
        return eqx.branched_error_if(x, code > 0, code, ["ok", "too small", "too big"])

    assert jnp.array_equal(check(jnp.ones(2), jnp.array(0)), jnp.ones(2))
    with pytest.raises(eqx.EqxRuntimeError, match="too big"):
        check(jnp.ones(2), jnp.array(2))


def test_enumeration_selects_and_reports_a_status() -> None:
    class Status(eqx.Enumeration):
        ok = "Success"
        diverged = "Diverged"

    @eqx.filter_jit
    def classify(loss: jax.Array) -> Any:
        return Status.where(jnp.isfinite(loss), Status.ok, Status.diverged)

    assert classify(jnp.array(1.0)) == Status.ok
    assert Status[classify(jnp.array(jnp.nan))] == "Diverged"
    assert len(Status) == 2


def test_tree_check_rejects_a_layer_used_twice() -> None:
    linear = eqx.nn.Linear(2, 2, key=jax.random.key(0))
    eqx.tree_check(eqx.nn.Sequential([linear, eqx.nn.Linear(2, 2, key=jax.random.key(1))]))
    with pytest.raises(ValueError):
        eqx.tree_check(eqx.nn.Sequential([linear, linear]))


# ---------------------------------------------------------------------------------------
# Module features
# ---------------------------------------------------------------------------------------


def test_static_field_is_part_of_the_treedef_not_a_leaf() -> None:
    class Conv(eqx.Module):
        weight: jax.Array
        stride: int = eqx.field(static=True)

    conv = Conv(jnp.ones(2), 2)
    assert jtu.tree_leaves(conv) == [conv.weight]
    leaves, treedef = jtu.tree_flatten(conv)
    assert jtu.tree_unflatten(treedef, leaves).stride == 2
    assert treedef != jtu.tree_structure(Conv(jnp.ones(2), 3))


def test_field_converter_runs_at_construction() -> None:
    class Model(eqx.Module):
        weight: jax.Array = eqx.field(converter=jnp.asarray)
        sizes: tuple[int, ...] = eqx.field(converter=tuple, static=True)

    model = Model([1.0, 2.0], [3, 4])  # type: ignore[arg-type]
    assert isinstance(model.weight, jax.Array)
    assert model.sizes == (3, 4)
    assert jnp.array_equal(model.weight, jnp.array([1.0, 2.0]))


def test_check_init_validates_after_construction() -> None:
    class Positive(eqx.Module):
        value: jax.Array

        def __check_init__(self) -> None:
            if not jnp.all(self.value > 0):
                raise ValueError("value must be positive")

    assert float(Positive(jnp.array(1.0)).value) == 1.0
    with pytest.raises(ValueError, match="value must be positive"):
        Positive(jnp.array(-1.0))


def test_check_init_runs_for_parent_and_child() -> None:
    calls = []

    class Parent(eqx.Module):
        size: int

        def __check_init__(self) -> None:
            calls.append("parent")
            if self.size < 0:
                raise ValueError("size must be non-negative")

    class Child(Parent):
        def __check_init__(self) -> None:
            calls.append("child")

    Child(1)
    assert calls == ["child", "parent"]
    with pytest.raises(ValueError, match="size must be non-negative"):
        Child(-1)


def test_abstract_var_and_abstract_methods_in_a_module_hierarchy() -> None:
    class AbstractLayer(eqx.Module):
        size: eqx.AbstractVar[int]
        kind: eqx.AbstractClassVar[str]

        @abc.abstractmethod
        def __call__(self, x: jax.Array) -> jax.Array: ...

        def describe(self) -> str:
            return f"{self.kind}:{self.size}"

    class Double(AbstractLayer):
        size: int
        kind: ClassVar[str] = "double"

        def __call__(self, x: jax.Array) -> jax.Array:
            return 2 * x

    class Incomplete(AbstractLayer):
        size: int
        kind: ClassVar[str] = "incomplete"

    layer = Double(3)
    assert layer.describe() == "double:3"
    assert jnp.array_equal(layer(jnp.ones(2)), 2 * jnp.ones(2))
    assert isinstance(layer, AbstractLayer)
    with pytest.raises(TypeError, match="abstract method"):
        Incomplete(3)  # type: ignore[abstract]


def test_generic_module_and_abstract_var_satisfied_by_a_property() -> None:
    from typing import Generic, TypeVar

    T = TypeVar("T")

    class Box(eqx.Module, Generic[T]):
        value: T

    class AbstractShape(eqx.Module):
        area: eqx.AbstractVar[float]

    class Square(AbstractShape):
        side: float

        @property
        def area(self) -> float:
            return self.side**2

    box = Box[int](3)
    assert box.value == 3
    assert Square(2.0).area == 4.0
    with pytest.raises(TypeError, match="abstract attributes"):
        AbstractShape()  # type: ignore[call-arg]


def test_generic_module_with_custom_init_inherited_by_a_subclass() -> None:
    class Base(eqx.Module):
        weight: jax.Array

        def __init__(self, size: int) -> None:
            self.weight = jnp.zeros(size)

    class Child(Base):
        def total(self) -> jax.Array:
            return jnp.sum(self.weight + 1)

    child = Child(3)
    assert child.weight.shape == (3,)
    assert float(child.total()) == 3.0


def test_module_with_default_factory_and_post_init() -> None:
    class Buffers(eqx.Module):
        size: int
        history: list[int] = eqx.field(default_factory=list)
        doubled: int = eqx.field(init=False)

        def __post_init__(self) -> None:
            self.doubled = 2 * self.size

    a = Buffers(3)
    assert a.history == [] and a.doubled == 6
    assert Buffers(1).history is not a.history
    # A float computed in __post_init__ would be a trainable leaf: eqx warns about it.
    with pytest.warns(eqx.EqxWarning, match="doubled"):
        Float(1.5)


class Float(eqx.Module):
    scale: float
    doubled: float = eqx.field(init=False)

    def __post_init__(self) -> None:
        self.doubled = 2 * self.scale


def test_module_with_a_property_parameterisation() -> None:
    class Symmetric(eqx.Module):
        raw: jax.Array

        @property
        def weight(self) -> jax.Array:
            return 0.5 * (self.raw + self.raw.T)

        def __call__(self, x: jax.Array) -> jax.Array:
            return self.weight @ x

    model = Symmetric(jnp.array([[1.0, 2.0], [0.0, 1.0]]))
    assert jnp.array_equal(model.weight, jnp.array([[1.0, 1.0], [1.0, 1.0]]))
    grads = eqx.filter_grad(lambda m: jnp.sum(m(jnp.array([1.0, 0.0]))))(model)
    # d sum(W x)/dW = [[1, 0], [1, 0]] for x = e0, symmetrised by W = (R + Rᵀ)/2.
    assert jnp.allclose(grads.raw, jnp.array([[1.0, 0.5], [0.5, 0.0]]))
    assert jtu.tree_leaves(model) == [model.raw]


def test_module_holding_a_list_is_hashable_for_jax_jit_static_argnums() -> None:
    model = TinyMLP(jax.random.key(0))
    params, static = eqx.partition(model, eqx.is_array)
    x, y = _data()

    def loss(params: TinyMLP, static: TinyMLP) -> jax.Array:
        return _mse(eqx.combine(params, static), x, y)

    value = jax.jit(loss, static_argnums=1)(params, static)
    assert jnp.allclose(value, _mse(model, x, y))


def test_tree_equal_compares_structure_and_values() -> None:
    a = eqx.nn.Linear(2, 2, key=jax.random.key(0))
    b = eqx.nn.Linear(2, 2, key=jax.random.key(0))
    c = eqx.nn.Linear(2, 2, key=jax.random.key(1))
    # Comparing JAX arrays gives a 0-d JAX bool (a tracer under jit) ...
    equal = eqx.tree_equal(a, b)
    assert isinstance(equal, jax.Array) and equal.shape == () and bool(equal)
    assert not eqx.tree_equal(a, c)
    assert bool(a == b)
    nudged = eqx.tree_at(lambda m: m.weight, a, a.weight + 1e-7)
    assert not eqx.tree_equal(a, nudged)
    assert eqx.tree_equal(a, nudged, atol=1e-6)
    # ... while a mismatch decided without JAX is Python's False, so `is True` idioms work.
    assert eqx.tree_equal(a, eqx.nn.Linear(2, 3, key=jax.random.key(0))) is False
    assert eqx.tree_equal(a, (a.weight, a.bias)) is False
    assert eqx.tree_equal({"lr": 0.1}, {"lr": 0.1}) is True
    assert eqx.filter_jit(lambda x, y: eqx.tree_equal(x, y))(a, b).dtype == jnp.bool_


def test_tree_pformat_of_a_small_model() -> None:
    linear = eqx.nn.Linear(2, 3, key=jax.random.key(0))
    assert eqx.tree_pformat(linear, width=100) == (
        "Linear(weight=f32[3,2], bias=f32[3], in_features=2, out_features=3, use_bias=True)"
    )
    # Too long for the default width of 80: one field per line.
    assert eqx.tree_pformat(linear) == (
        "Linear(\n  weight=f32[3,2], bias=f32[3], in_features=2, out_features=3, use_bias=True\n)"
    )
    assert repr(linear) == eqx.tree_pformat(linear)
    text = eqx.tree_pformat(eqx.nn.Sequential([linear, eqx.nn.Lambda(_double)]))
    assert text == (
        "Sequential(\n"
        "  layers=(\n"
        "    Linear(\n"
        "      weight=f32[3,2], bias=f32[3], in_features=2, out_features=3, use_bias=True\n"
        "    ),\n"
        "    Lambda(fn=<function _double>)\n"
        "  )\n"
        ")"
    )
    # A custom_jvp function such as relu renders as the function it wraps.
    assert eqx.tree_pformat(jax.nn.relu) == eqx.tree_pformat(jax.nn.relu.__wrapped__)


def test_partial_closes_over_arrays_as_a_pytree() -> None:
    def affine(w: jax.Array, b: jax.Array, x: jax.Array) -> jax.Array:
        return w * x + b

    f = eqx.Partial(affine, jnp.array(2.0), b=jnp.array(1.0))
    assert float(f(x=jnp.array(3.0))) == 7.0
    # The function is a (non-array) leaf too, so filter before counting parameters.
    assert jtu.tree_leaves(eqx.filter(f, eqx.is_array)) == [f.args[0], f.keywords["b"]]
    grads = eqx.filter_grad(lambda f: f(x=jnp.array(3.0)))(f)
    assert float(grads.args[0]) == 3.0
    assert float(grads.keywords["b"]) == 1.0
    assert float(eqx.filter_jit(lambda f, x: f(x=x))(f, jnp.array(1.0))) == 3.0


def test_dataclasses_replace_and_fields_on_a_module_with_a_generated_init() -> None:
    import dataclasses

    class Scaled(eqx.Module):
        weight: jax.Array
        scale: int = eqx.field(static=True, default=1)

    model = Scaled(jnp.ones(2))
    replaced = dataclasses.replace(model, scale=3)
    assert replaced.scale == 3 and replaced.weight is model.weight
    assert model.scale == 1
    assert [f.name for f in dataclasses.fields(model)] == ["weight", "scale"]
    assert dataclasses.fields(model)[1].metadata == {"static": True}
