"""filter_device_put: placing the array leaves of a PyTree by a prefix of shardings."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from jax.sharding import Mesh, NamedSharding, PartitionSpec, SingleDeviceSharding

from eqx_filter import filter_device_put
from eqx_module import Module


class Layer(Module):
    weight: jax.Array
    bias: jax.Array
    activation: object


def _mesh() -> Mesh:
    return Mesh(np.array(jax.devices()), ("data",))


def test_one_device_places_every_array_and_leaves_non_arrays_alone():
    device = jax.devices()[-1]
    layer = Layer(jnp.ones((2, 3)), np.zeros(3, np.float32), jnp.tanh)
    out = filter_device_put(layer, device)
    assert out.weight.sharding == SingleDeviceSharding(device)
    assert out.bias.sharding == SingleDeviceSharding(device)  # NumPy arrays become JAX arrays
    assert out.activation is jnp.tanh
    np.testing.assert_array_equal(out.weight, layer.weight)


def test_a_prefix_splits_one_leaf_and_leaves_none_untouched():
    mesh = _mesh()
    n = jax.device_count()
    split = NamedSharding(mesh, PartitionSpec("data"))
    weight = jnp.arange(2.0 * n * 3).reshape(2 * n, 3)
    bias = jax.device_put(jnp.ones(3), jax.devices()[0])
    out = filter_device_put(Layer(weight, bias, "tanh"), Layer(split, None, None))  # type: ignore[arg-type]
    assert out.weight.sharding == split
    # Each device holds only its rows.
    assert {s.data.shape for s in out.weight.addressable_shards} == {(2, 3)}
    assert out.bias is bias
    assert out.activation == "tanh"
    np.testing.assert_array_equal(out.weight, weight)


def test_a_sharding_over_a_subtree_applies_to_every_array_in_it():
    replicated = NamedSharding(_mesh(), PartitionSpec())
    tree = {"a": [jnp.ones(2), 3, jnp.zeros(())], "b": jnp.ones(4)}
    out = filter_device_put(tree, {"a": replicated, "b": None})
    assert out["a"][0].sharding == replicated
    assert out["a"][2].sharding == replicated
    assert out["a"][1] == 3
    assert out["b"] is tree["b"]


def test_not_a_prefix_names_the_path_and_both_structures():
    replicated = NamedSharding(_mesh(), PartitionSpec())
    tree = {"layers": [jnp.ones(2), jnp.ones(2)]}
    with pytest.raises(
        ValueError, match=r"at `tree\['layers'\]`.*list of length 2.*tuple of length 3"
    ):
        filter_device_put(tree, {"layers": (replicated, replicated, replicated)})
    with pytest.raises(ValueError, match=r"at `tree\['layers'\]\[0\]`, `tree` has an array"):
        filter_device_put(tree, {"layers": [{"w": replicated}, None]})


def test_a_mesh_axis_that_does_not_divide_the_dimension_names_the_leaf():
    n = jax.device_count()
    split_cols = NamedSharding(_mesh(), PartitionSpec(None, "data"))
    layer = Layer(jnp.ones((4, 2 * n + 1)), jnp.ones(3), None)
    with pytest.raises(ValueError, match=rf"`tree.weight`: dimension 1 has size {2 * n + 1}.*Pad"):
        filter_device_put(layer, Layer(split_cols, None, None))  # type: ignore[arg-type]


def test_donation_reuses_the_buffers_where_the_backend_can():
    x = jnp.arange(4.0)
    out = filter_device_put({"x": x}, jax.devices()[0], donate=True)
    np.testing.assert_array_equal(out["x"], np.arange(4.0))
