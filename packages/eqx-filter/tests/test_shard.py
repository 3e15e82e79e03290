"""filter_shard and a data-parallel step under a Mesh (2 or 8 devices)."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from jax.sharding import Mesh, NamedSharding, PartitionSpec, SingleDeviceSharding

from eqx_filter import filter_grad, filter_jit, filter_shard
from eqx_module import Module


class Model(Module):
    weight: jax.Array
    activation: object


def test_a_device_places_every_array_leaf_and_leaves_non_arrays_alone():
    device = jax.devices()[-1]
    model = Model(jnp.ones(3), jnp.tanh)
    out = filter_shard(model, device)
    assert out.weight.sharding == SingleDeviceSharding(device)
    assert out.activation is jnp.tanh


def test_a_prefix_of_shardings():
    mesh = Mesh(np.array(jax.devices()), ("data",))
    replicated = NamedSharding(mesh, PartitionSpec())
    split = NamedSharding(mesh, PartitionSpec("data"))
    n = jax.device_count()
    x, y = jnp.ones((n * 2,)), jnp.ones((n * 2,))
    out_x, out_y = filter_shard((x, y), (split, replicated))
    assert out_x.sharding.is_equivalent_to(split, 1)
    assert out_y.sharding.is_equivalent_to(replicated, 1)


def test_inside_jit_it_is_a_sharding_constraint():
    mesh = Mesh(np.array(jax.devices()), ("data",))
    split = NamedSharding(mesh, PartitionSpec("data"))
    jaxpr = jax.make_jaxpr(lambda x: filter_shard(x, split))(jnp.ones(jax.device_count() * 2))
    assert "sharding_constraint" in str(jaxpr)


def _data_parallel_step(n_devices):
    mesh = Mesh(np.array(jax.devices()[:n_devices]), ("data",))
    data = NamedSharding(mesh, PartitionSpec("data"))
    replicated = NamedSharding(mesh, PartitionSpec())
    model = filter_shard(Model(jnp.array([1.0, 2.0]), jnp.tanh), replicated)
    xs = filter_shard(jnp.arange(float(n_devices * 4 * 2)).reshape(n_devices * 4, 2), data)

    def loss(model, xs):
        return jnp.mean(model.activation(xs @ model.weight))

    @filter_jit
    def step(model, xs):
        xs = filter_shard(xs, data)
        grads = filter_grad(loss)(model, xs)
        new = Model(model.weight - 0.1 * grads.weight, model.activation)
        return filter_shard(new, replicated)

    new_model = step(model, xs)
    expected = model.weight - 0.1 * jax.grad(lambda w: jnp.mean(jnp.tanh(np.asarray(xs) @ w)))(
        model.weight
    )
    np.testing.assert_allclose(new_model.weight, expected, rtol=1e-5)
    assert new_model.weight.sharding.is_equivalent_to(replicated, 1)


def test_data_parallel_step_on_the_default_devices():
    _data_parallel_step(jax.device_count())


@pytest.mark.multidevice
@pytest.mark.skipif(jax.device_count() < 8, reason="needs 8 devices (nox -s multidevice)")
def test_data_parallel_step_on_eight_devices():
    _data_parallel_step(8)


@pytest.mark.multidevice
@pytest.mark.skipif(jax.device_count() < 8, reason="needs 8 devices (nox -s multidevice)")
def test_a_prefix_of_shardings_over_a_two_axis_mesh_of_eight_devices():
    mesh = Mesh(np.array(jax.devices()[:8]).reshape(4, 2), ("data", "model"))
    by_model = NamedSharding(mesh, PartitionSpec(None, "model"))
    by_data = NamedSharding(mesh, PartitionSpec("data"))
    model = Model(jnp.ones((3, 4)), jnp.tanh)
    batch = jnp.arange(32.0).reshape(8, 4)
    out_model, out_batch = filter_shard((model, batch), (Model(by_model, None), by_data))
    assert out_model.weight.sharding.is_equivalent_to(by_model, 2)
    assert out_model.activation is jnp.tanh
    assert out_batch.sharding.is_equivalent_to(by_data, 2)
    np.testing.assert_array_equal(out_batch, batch)

    @filter_jit
    def apply(model, batch):
        batch = filter_shard(batch, by_data)
        return filter_shard(model.activation(batch @ model.weight.T), by_data)

    result = apply(out_model, out_batch)
    np.testing.assert_allclose(result, jnp.tanh(batch @ jnp.ones((4, 3))), rtol=1e-6)
    assert result.sharding.is_equivalent_to(by_data, 2)


def test_a_prefix_may_hold_none_where_the_tree_holds_no_arrays():
    device = jax.devices()[-1]
    sharding = SingleDeviceSharding(device)
    model = Model(jnp.ones(2), jnp.tanh)
    out = filter_shard(model, Model(sharding, None))
    assert out.weight.sharding == sharding
    assert out.activation is jnp.tanh
    with pytest.raises(ValueError, match="PyTree prefix of `x`"):
        filter_shard(model, Model(None, None))
