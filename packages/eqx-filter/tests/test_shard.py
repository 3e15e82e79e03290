"""filter_shard (spec §4.6) and a data-parallel step under a Mesh (2 or 8 devices)."""

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
