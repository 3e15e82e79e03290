"""Tests for `BatchNorm`: formulas on hand data, modes, state, named axes."""

import dataclasses
from typing import Any

import jax
import jax.numpy as jnp
import jax.random as jr
import numpy as np
import optax
import pytest
from jax.sharding import Mesh, NamedSharding, PartitionSpec

import eqx_filter
import eqx_nn
import eqx_tree

# A batch of 4 inputs of shape (C=2, 3): batch statistics are per channel over
# the batch axis and the trailing axis.
X = jnp.arange(24, dtype=jnp.float32).reshape(4, 2, 3) ** 1.5 / 10
EPS = 1e-5
MOM = 0.9


def _batch_stats(x: Any) -> tuple[np.ndarray, np.ndarray]:
    x = np.asarray(x, np.float64)
    axes = (0, *tuple(range(2, x.ndim)))
    return x.mean(axes), x.var(axes)


def _normalise(x: Any, mean: Any, var: Any) -> np.ndarray:
    shape = (1, -1) + (1,) * (np.ndim(x) - 2)
    return (np.asarray(x) - np.reshape(mean, shape)) / np.sqrt(np.reshape(var, shape) + EPS)


def _make(mode: str, **kwargs: Any) -> tuple[eqx_nn.BatchNorm, eqx_nn.State]:
    return eqx_nn.make_with_state(eqx_nn.BatchNorm)(2, "batch", momentum=MOM, mode=mode, **kwargs)


def _run(bn: eqx_nn.BatchNorm, state: eqx_nn.State, x: Any = X, **kwargs: Any) -> Any:
    def call(xi: Any, st: Any) -> Any:
        return bn(xi, st, **kwargs)

    return jax.vmap(call, axis_name="batch", in_axes=(0, None), out_axes=(0, None))(x, state)


def test_fields_in_spec_order_with_static_hyperparameters() -> None:
    bn, _ = _make("batch")
    fields = dataclasses.fields(bn)
    assert [f.name for f in fields] == [
        "weight",
        "bias",
        "ema_first_time_index",
        "ema_state_index",
        "batch_counter",
        "batch_state_index",
        "axis_name",
        "inference",
        "input_size",
        "eps",
        "channelwise_affine",
        "momentum",
        "mode",
    ]
    static = [f.name for f in fields if f.metadata.get("static", False)]
    assert static == ["input_size", "eps", "channelwise_affine", "momentum", "mode"]


def test_legacy_mode_warns_and_acts_as_ema() -> None:
    with pytest.warns(eqx_tree.EqxWarning, match="mode='batch'"):
        legacy, legacy_state = eqx_nn.make_with_state(eqx_nn.BatchNorm)(2, "batch", momentum=MOM)
    ema, ema_state = _make("ema")
    assert legacy.mode == "ema"
    assert legacy.batch_counter is None
    assert legacy.ema_state_index is not None
    out_legacy, _ = _run(legacy, legacy_state)
    out_ema, _ = _run(ema, ema_state)
    assert np.array_equal(out_legacy, out_ema)


def test_unknown_mode_raises() -> None:
    with pytest.raises(ValueError, match="must be 'ema', 'batch' or 'legacy', got 'running'"):
        eqx_nn.BatchNorm(2, "batch", mode="running")


def test_state_layout_per_mode() -> None:
    ema, ema_state = _make("ema")
    assert ema.batch_counter is None
    assert ema.batch_state_index is None
    assert ema.ema_first_time_index is not None
    assert ema.ema_state_index is not None
    assert bool(ema_state.get(ema.ema_first_time_index))
    assert [a.shape for a in ema_state.get(ema.ema_state_index)] == [(2,), (2,)]
    batch, batch_state = _make("batch")
    assert batch.ema_first_time_index is None
    assert batch.ema_state_index is None
    assert batch.batch_counter is not None
    assert batch.batch_state_index is not None
    assert int(batch_state.get(batch.batch_counter)) == 0
    mean, var = batch_state.get(batch.batch_state_index)
    assert np.array_equal(mean, np.zeros(2))
    assert np.array_equal(var, np.ones(2))


@pytest.mark.parametrize("mode", ["ema", "batch"])
def test_training_normalises_with_batch_statistics_on_first_call(mode: str) -> None:
    bn, state = _make(mode)
    out, _ = _run(bn, state)
    mean, var = _batch_stats(X)
    assert np.allclose(out, _normalise(X, mean, var), atol=1e-5)


def test_ema_training_mixes_running_statistics_after_first_call_and_stores_them() -> None:
    bn, state = _make("ema")
    assert bn.ema_state_index is not None
    assert bn.ema_first_time_index is not None
    _, state = _run(bn, state)
    mean1, var1 = _batch_stats(X)
    stored = state.get(bn.ema_state_index)
    assert np.allclose(stored[0], mean1)
    assert np.allclose(stored[1], var1)
    assert not bool(state.get(bn.ema_first_time_index))

    x2 = X[::-1] * 2 - 1
    out2, state = _run(bn, state, x2)
    mean2, var2 = _batch_stats(x2)
    mixed_mean = (1 - MOM) * mean2 + MOM * mean1
    mixed_var = (1 - MOM) * var2 + MOM * var1
    assert np.allclose(out2, _normalise(x2, mixed_mean, mixed_var), atol=1e-5)
    stored = state.get(bn.ema_state_index)
    assert np.allclose(stored[0], mixed_mean)
    assert np.allclose(stored[1], mixed_var)


def test_ema_inference_uses_stored_statistics_and_leaves_state_unchanged() -> None:
    bn, state = _make("ema")
    assert bn.ema_state_index is not None
    _, state = _run(bn, state)
    mean, var = _batch_stats(X)
    x2 = X + 3.0
    out, new_state = _run(eqx_nn.inference_mode(bn), state, x2)
    assert np.allclose(out, _normalise(x2, mean, var), atol=1e-5)
    assert np.array_equal(new_state.get(bn.ema_state_index)[0], state.get(bn.ema_state_index)[0])


def test_batch_training_increments_counter_and_updates_hidden_with_momentum() -> None:
    bn, state = _make("batch")
    assert bn.batch_counter is not None
    assert bn.batch_state_index is not None
    _, state = _run(bn, state)
    mean1, var1 = _batch_stats(X)
    assert int(state.get(bn.batch_counter)) == 1
    hidden = state.get(bn.batch_state_index)
    assert np.allclose(hidden[0], (1 - MOM) * mean1)
    assert np.allclose(hidden[1], MOM * 1 + (1 - MOM) * var1)
    x2 = X * 0.5
    out2, state = _run(bn, state, x2)
    mean2, var2 = _batch_stats(x2)
    assert np.allclose(out2, _normalise(x2, mean2, var2), atol=1e-5)  # batch stats only
    assert int(state.get(bn.batch_counter)) == 2
    hidden = state.get(bn.batch_state_index)
    assert np.allclose(hidden[0], MOM * (1 - MOM) * mean1 + (1 - MOM) * mean2)


def test_batch_inference_debiases_hidden_statistics() -> None:
    bn, state = _make("batch")
    assert bn.batch_state_index is not None
    _, state = _run(bn, state)
    _, state = _run(bn, state, X * 0.5)
    hidden_mean, hidden_var = (np.asarray(a) for a in state.get(bn.batch_state_index))
    divisor = 1 - MOM**2
    out, _ = _run(bn, state, X, inference=True)
    expected = _normalise(X, hidden_mean / divisor, hidden_var / divisor)
    assert np.allclose(out, expected, atol=1e-4)


def test_batch_inference_on_fresh_model_is_nearly_identity() -> None:
    bn, state = _make("batch", inference=True)
    out, _ = _run(bn, state)
    assert np.allclose(out, X / np.sqrt(1 + EPS), atol=1e-5)


def test_affine_parameters_scale_and_shift_per_channel() -> None:
    bn, state = _make("batch")
    bn = eqx_tree.tree_at(
        lambda b: (b.weight, b.bias), bn, (jnp.array([2.0, -1.0]), jnp.array([0.5, 3.0]))
    )
    out, _ = _run(bn, state)
    mean, var = _batch_stats(X)
    expected = (
        _normalise(X, mean, var) * np.array([2.0, -1.0])[:, None] + np.array([0.5, 3.0])[:, None]
    )
    assert np.allclose(out, expected, atol=1e-5)


def test_no_channelwise_affine_has_no_weight_or_bias() -> None:
    bn, state = _make("batch", channelwise_affine=False)
    assert bn.weight is None
    assert bn.bias is None
    out, _ = _run(bn, state)
    mean, var = _batch_stats(X)
    assert np.allclose(out, _normalise(X, mean, var), atol=1e-5)


@pytest.mark.parametrize("shape", [(4, 2), (4, 2, 3, 2, 2)])
def test_any_number_of_trailing_dims(shape: tuple[int, ...]) -> None:
    x = jr.normal(jr.key(0), shape)
    bn, state = _make("batch")
    out, _ = _run(bn, state, x)
    mean, var = _batch_stats(x)
    assert out.shape == shape
    assert np.allclose(out, _normalise(x, mean, var), atol=1e-4)


def test_half_precision_input_keeps_its_dtype() -> None:
    bn, state = _make("batch")
    out, state = _run(bn, state, X.astype(jnp.float16))
    assert out.dtype == jnp.float16
    mean, var = _batch_stats(X)
    assert np.allclose(out.astype(np.float32), _normalise(X, mean, var), atol=2e-2)


def test_wrong_channel_count_raises_with_shapes() -> None:
    bn, state = _make("batch")
    with pytest.raises(ValueError, match=r"shape `\(2, \.\.\.\)`.*got shape \(3, 4\)"):
        bn(jnp.zeros((3, 4)), state)


@pytest.mark.parametrize("as_array", [jnp.asarray, np.asarray], ids=["jax", "numpy"])
def test_outside_named_axis_raises_name_error_with_vmap_hint(as_array: Any) -> None:
    bn, state = _make("batch")
    with pytest.raises(NameError, match=r"unbound axis name.*jax.vmap\(bn, axis_name='batch'"):
        bn(as_array(X[0]), state)
    assert int(state.get(bn.batch_counter)) == 0  # the failed call used up nothing


def test_axis_name_sequence_averages_over_nested_axes() -> None:
    bn, state = eqx_nn.make_with_state(eqx_nn.BatchNorm)(2, ("outer", "inner"), mode="batch")
    x = X.reshape(2, 2, 2, 3)
    inner = jax.vmap(bn, axis_name="inner", in_axes=(0, None), out_axes=(0, None))
    outer = jax.vmap(inner, axis_name="outer", in_axes=(0, None), out_axes=(0, None))
    out, _ = outer(x, state)
    mean, var = _batch_stats(X)
    assert np.allclose(out.reshape(X.shape), _normalise(X, mean, var), atol=1e-5)


def test_gradients_flow_through_batch_statistics() -> None:
    bn, state = _make("batch")
    weights = jnp.array([[[1.0, -2.0, 0.5]]])

    def loss(x: jax.Array) -> jax.Array:
        out, _ = _run(bn, state, x)
        return jnp.sum(out * weights)

    def reference(x: jax.Array) -> jax.Array:
        axes = (0, 2)
        mean = x.mean(axes, keepdims=True)
        var = ((x - mean) ** 2).mean(axes, keepdims=True)
        return jnp.sum((x - mean) / jnp.sqrt(var + EPS) * weights)

    assert np.allclose(jax.grad(loss)(X), jax.grad(reference)(X), atol=1e-4)


def test_works_under_filter_jit() -> None:
    bn, state = _make("ema")
    out, _ = eqx_filter.filter_jit(_run)(bn, state)
    mean, var = _batch_stats(X)
    assert np.allclose(out, _normalise(X, mean, var), atol=1e-5)


def test_pmap_over_devices_averages_across_them() -> None:
    n = jax.local_device_count()
    x = jr.normal(jr.key(1), (n, 3, 2, 4))
    bn_devices, state = eqx_nn.make_with_state(eqx_nn.BatchNorm)(
        2, ("device", "batch"), momentum=MOM, mode="ema"
    )
    # pmap maps every input: give each device its own copy of the state.
    states = jax.tree_util.tree_map(lambda a: jnp.stack([a] * n), state)
    inner = jax.vmap(bn_devices, axis_name="batch", in_axes=(0, None), out_axes=(0, None))
    out, new_states = jax.pmap(inner, axis_name="device")(x, states)
    flat = x.reshape(n * 3, 2, 4)
    mean, var = _batch_stats(flat)
    assert np.allclose(out.reshape(flat.shape), _normalise(flat, mean, var), atol=1e-4)
    assert bn_devices.ema_state_index is not None
    stored_mean = new_states.get(bn_devices.ema_state_index)[0]
    assert np.allclose(stored_mean, np.broadcast_to(mean, (n, 2)), atol=1e-5)


def test_sharded_batch_matches_unsharded() -> None:
    devices = np.array(jax.devices())
    mesh = Mesh(devices, ("data",))
    x = jr.normal(jr.key(2), (2 * len(devices), 2, 3))
    sharded = jax.device_put(x, NamedSharding(mesh, PartitionSpec("data")))
    bn, state = _make("batch")
    run = eqx_filter.filter_jit(_run)
    out_sharded, state_sharded = run(bn, state, sharded)
    out_plain, state_plain = run(bn, state, x)
    assert np.allclose(out_sharded, out_plain, atol=1e-5)
    assert bn.batch_state_index is not None
    assert np.allclose(
        state_sharded.get(bn.batch_state_index)[1], state_plain.get(bn.batch_state_index)[1]
    )


@pytest.mark.multidevice
@pytest.mark.skipif(jax.device_count() < 8, reason="needs 8 (simulated) devices")
def test_pmap_over_eight_devices_matches_single_batch() -> None:
    x = jr.normal(jr.key(3), (8, 2, 2, 3))
    bn, state = eqx_nn.make_with_state(eqx_nn.BatchNorm)(2, ("device", "batch"), mode="batch")
    states = jax.tree_util.tree_map(lambda a: jnp.stack([a] * 8), state)
    inner = jax.vmap(bn, axis_name="batch", in_axes=(0, None), out_axes=(0, None))
    out, _ = jax.pmap(inner, axis_name="device")(x, states)
    flat = x.reshape(16, 2, 3)
    mean, var = _batch_stats(flat)
    assert np.allclose(out.reshape(flat.shape), _normalise(flat, mean, var), atol=1e-4)


def _shard_map(fn: Any, mesh: Mesh, in_specs: Any, out_specs: Any) -> Any:
    # `jax.shard_map` is public from JAX 0.6; before that it is experimental. Its
    # replication/VMA check is off: with it on, JAX (0.10) fails on a `pmean` over a
    # `vmap` axis name inside `shard_map` (an AssertionError in JAX itself).
    if hasattr(jax, "shard_map"):
        return jax.shard_map(fn, mesh=mesh, in_specs=in_specs, out_specs=out_specs, check_vma=False)
    from jax.experimental.shard_map import shard_map

    return shard_map(fn, mesh=mesh, in_specs=in_specs, out_specs=out_specs, check_rep=False)


def _check_filter_pmap_with_broadcast_state(n: int) -> None:
    assert jax.device_count() == n  # pmap maps over every device
    x = jr.normal(jr.key(4), (n, 3, 2, 4))
    bn, state = eqx_nn.make_with_state(eqx_nn.BatchNorm)(
        2, ("device", "batch"), momentum=MOM, mode="batch"
    )
    inner = eqx_filter.filter_vmap(bn, in_axes=(0, None), out_axes=(0, None), axis_name="batch")
    # The statistics are averaged over every device, so the new state is the same on
    # each: it can be broadcast in and returned unmapped.
    run = eqx_filter.filter_pmap(inner, axis_name="device", in_axes=(0, None), out_axes=(0, None))
    out, state = run(x, state)
    flat = x.reshape(n * 3, 2, 4)
    mean, var = _batch_stats(flat)
    assert np.allclose(out.reshape(flat.shape), _normalise(flat, mean, var), atol=1e-4)
    assert bn.batch_state_index is not None
    hidden_mean, hidden_var = state.get(bn.batch_state_index)
    assert np.allclose(hidden_mean, (1 - MOM) * mean, atol=1e-6)
    assert np.allclose(hidden_var, MOM + (1 - MOM) * var, atol=1e-5)


def _check_shard_map_over_a_mesh_axis(n: int) -> None:
    mesh = Mesh(np.array(jax.devices()[:n]), ("data",))
    x = jr.normal(jr.key(5), (2 * n, 2, 3))
    bn, state = eqx_nn.make_with_state(eqx_nn.BatchNorm)(
        2, ("data", "batch"), momentum=MOM, mode="ema"
    )
    local = jax.vmap(bn, axis_name="batch", in_axes=(0, None), out_axes=(0, None))
    run = jax.jit(
        _shard_map(
            local,
            mesh,
            in_specs=(PartitionSpec("data"), PartitionSpec()),
            out_specs=(PartitionSpec("data"), PartitionSpec()),
        )
    )
    out, state = run(x, state)
    mean, var = _batch_stats(x)
    assert np.allclose(out, _normalise(x, mean, var), atol=1e-4)
    assert bn.ema_state_index is not None
    assert np.allclose(state.get(bn.ema_state_index)[1], var, atol=1e-5)


def test_filter_pmap_with_broadcast_state_averages_over_devices() -> None:
    _check_filter_pmap_with_broadcast_state(jax.device_count())


def test_shard_map_with_mesh_axis_name_matches_unsharded_statistics() -> None:
    _check_shard_map_over_a_mesh_axis(jax.device_count())


@pytest.mark.multidevice
@pytest.mark.skipif(jax.device_count() < 8, reason="needs 8 (simulated) devices")
def test_filter_pmap_over_eight_devices() -> None:
    _check_filter_pmap_with_broadcast_state(8)


@pytest.mark.multidevice
@pytest.mark.skipif(jax.device_count() < 8, reason="needs 8 (simulated) devices")
def test_shard_map_over_eight_devices() -> None:
    _check_shard_map_over_a_mesh_axis(8)


def test_works_under_filter_vmap_with_axis_name() -> None:
    bn, state = _make("batch")
    batched = eqx_filter.filter_vmap(bn, in_axes=(0, None), out_axes=(0, None), axis_name="batch")
    out, state = batched(X, state)
    mean, var = _batch_stats(X)
    assert np.allclose(out, _normalise(X, mean, var), atol=1e-5)
    assert bn.batch_counter is not None
    assert int(state.get(bn.batch_counter)) == 1


def test_small_cnn_with_batch_norm_trains_and_inference_ignores_the_rest_of_the_batch() -> None:
    def make(key: jax.Array) -> eqx_nn.Sequential:
        conv_key, linear_key = jr.split(key)
        return eqx_nn.Sequential(
            [
                eqx_nn.Conv2d(1, 2, kernel_size=3, key=conv_key),
                eqx_nn.BatchNorm(2, "batch", mode="batch"),
                eqx_nn.Lambda(jnp.ravel),
                eqx_nn.Linear(2 * 3 * 3, 1, key=linear_key),
            ]
        )

    model, state = eqx_nn.make_with_state(make)(jr.key(0))
    images = jr.normal(jr.key(1), (8, 1, 5, 5))
    targets = jnp.sum(images[:, 0, :3, :3], axis=(1, 2))[:, None]

    def forward(model: eqx_nn.Sequential, state: eqx_nn.State, x: jax.Array) -> Any:
        return jax.vmap(model, axis_name="batch", in_axes=(0, None), out_axes=(0, None))(x, state)

    def loss_fn(model: eqx_nn.Sequential, state: eqx_nn.State) -> tuple[jax.Array, Any]:
        out, state = forward(model, state, images)
        return jnp.mean((out - targets) ** 2), state

    @eqx_filter.filter_jit
    def step(model: Any, state: Any, opt_state: Any) -> Any:
        (loss, state), grads = eqx_filter.filter_value_and_grad(loss_fn, has_aux=True)(model, state)
        with jax.numpy_dtype_promotion("standard"):  # optax mixes a float with an int count
            updates, opt_state = optimiser.update(grads, opt_state)
        return eqx_tree.apply_updates(model, updates), state, opt_state, loss

    optimiser = optax.adam(3e-2)
    opt_state = optimiser.init(eqx_filter.filter(model, eqx_tree.is_array))
    losses = []
    for _ in range(15):
        model, state, opt_state, loss = step(model, state, opt_state)
        losses.append(float(loss))
    assert losses[-1] < 0.5 * losses[0]
    batch_norm = model[1]
    assert isinstance(batch_norm, eqx_nn.BatchNorm)
    assert batch_norm.batch_counter is not None
    assert int(state.get(batch_norm.batch_counter)) == 15

    eval_model = eqx_nn.inference_mode(model)
    full, state = forward(eval_model, state, images)
    again, state = forward(eval_model, state, images)
    first_two, state = forward(eval_model, state, images[:2])
    assert np.array_equal(full, again)
    # Running statistics, not batch ones: an example's output ignores the rest of the batch.
    assert np.allclose(full[:2], first_two, atol=1e-5)
    assert int(state.get(batch_norm.batch_counter)) == 15
