"""filter_shard_map: jax.shard_map over PyTrees with non-array leaves, prefix specs."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from jax.sharding import Mesh, PartitionSpec

from eqx_filter import filter_grad, filter_jit, filter_shard_map
from eqx_module import Module
from eqx_tree import apply_updates

P = PartitionSpec


class Linear(Module):
    weight: jax.Array
    bias: jax.Array
    activation: object

    def __call__(self, x: jax.Array) -> jax.Array:
        return self.activation(self.weight @ x + self.bias)  # type: ignore[operator]


def _mesh(n: int | None = None) -> Mesh:
    devices = jax.devices() if n is None else jax.devices()[:n]
    return Mesh(np.array(devices), ("data",))


def _model() -> Linear:
    k1, k2 = jax.random.split(jax.random.key(0))
    return Linear(jax.random.normal(k1, (2, 3)), jax.random.normal(k2, (2,)), jnp.tanh)


def _data(n_rows: int) -> tuple[jax.Array, jax.Array]:
    kx, ky = jax.random.split(jax.random.key(1))
    return jax.random.normal(kx, (n_rows, 3)), jax.random.normal(ky, (n_rows, 2))


def _loss(model: Linear, x: jax.Array, y: jax.Array) -> jax.Array:
    return jnp.mean((jax.vmap(model)(x) - y) ** 2)


def test_non_array_leaves_pass_through_and_blocks_are_local():
    mesh = _mesh()
    n = jax.device_count()
    seen_shapes = []

    def f(model, x, tag):
        seen_shapes.append(x.shape)
        total = jax.lax.psum(jnp.sum(jax.vmap(model)(x)), "data")
        return {"total": total, "tag": tag, "fn": model.activation}

    g = filter_shard_map(f, mesh=mesh, in_specs=(P(), P("data"), None), out_specs=P())
    model = _model()
    x = jnp.arange(4.0 * n * 3).reshape(4 * n, 3) / 10
    out = g(model, x, "hello")
    assert seen_shapes == [(4, 3)]  # the local block of 4 * n rows over n devices
    assert out["tag"] == "hello"
    assert out["fn"] is jnp.tanh
    np.testing.assert_allclose(out["total"], jnp.sum(jax.vmap(model)(x)), rtol=1e-5)


def test_decorator_form_and_a_split_output():
    n = jax.device_count()

    @filter_shard_map(mesh=_mesh(), in_specs=P("data"), out_specs=P("data"))
    def double(x):
        return 2 * x

    x = jnp.arange(2.0 * n)
    out = double(x)
    np.testing.assert_array_equal(out, 2 * np.arange(2.0 * n))
    assert out.sharding.spec == P("data")


def _train(step, model, x, y, steps=20):
    for _ in range(steps):
        model = step(model, x, y)
    return model


def _check_data_parallel_equals_one_device(n_devices: int) -> None:
    mesh = _mesh(n_devices)
    x, y = _data(4 * n_devices)

    @filter_jit
    def reference_step(model, x, y):
        grads = filter_grad(_loss)(model, x, y)
        return apply_updates(model, jax.tree.map(lambda g: -0.1 * g, grads))

    # The global loss: each device's mean over its rows, averaged over the devices.
    # Differentiated from outside, so the result does not depend on how a JAX version
    # transposes collectives inside `shard_map`.
    sharded_loss = filter_shard_map(
        lambda model, x, y: jax.lax.pmean(_loss(model, x, y), "data"),
        mesh=mesh,
        in_specs=(P(), P("data"), P("data")),
        out_specs=P(),
    )

    @filter_jit
    def sharded_step(model, x, y):
        grads = filter_grad(sharded_loss)(model, x, y)
        return apply_updates(model, jax.tree.map(lambda g: -0.1 * g, grads))

    expected = _train(reference_step, _model(), x, y)
    actual = _train(sharded_step, _model(), x, y)
    assert actual.activation is jnp.tanh
    np.testing.assert_allclose(actual.weight, expected.weight, rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(actual.bias, expected.bias, rtol=1e-5, atol=1e-6)
    assert not np.allclose(actual.weight, _model().weight)  # it really trained


def test_data_parallel_training_equals_one_device():
    _check_data_parallel_equals_one_device(jax.device_count())


@pytest.mark.multidevice
@pytest.mark.skipif(jax.device_count() < 8, reason="needs 8 devices (nox -s multidevice)")
def test_data_parallel_training_on_8_devices_equals_one_device():
    _check_data_parallel_equals_one_device(8)


def test_in_specs_not_a_prefix_names_the_argument_path():
    g = filter_shard_map(lambda m: m.weight, mesh=_mesh(), in_specs=((P(), P()),), out_specs=P())
    with pytest.raises(
        ValueError,
        match=r"`in_specs` is not a PyTree prefix of `args`: at `args\[0\]`, `args` has a `Linear`",
    ):
        g(_model())


def test_a_spec_naming_a_missing_axis_names_the_leaf_and_the_mesh_axes():
    g = filter_shard_map(lambda m: m.weight, mesh=_mesh(), in_specs=P("model"), out_specs=P())
    with pytest.raises(
        ValueError,
        match=r"`args\[0\].weight`: .* names mesh axis 'model', but the mesh has axes \('data',\)",
    ):
        g(_model())


def test_a_mesh_axis_not_dividing_the_dimension_names_the_leaf():
    n = jax.device_count()
    g = filter_shard_map(lambda x: x, mesh=_mesh(), in_specs=P("data"), out_specs=P("data"))
    with pytest.raises(ValueError, match=rf"`args\[0\]\['x'\]`: dimension 0 has size {2 * n + 1}"):
        g({"x": jnp.ones(2 * n + 1)})


def test_keyword_arguments_are_refused():
    g = filter_shard_map(lambda x: x, mesh=_mesh(), in_specs=P(), out_specs=P())
    with pytest.raises(
        RuntimeError,
        match="keyword arguments cannot be used with functions wrapped with `filter_shard_map`",
    ):
        g(x=jnp.ones(2))


def test_unconstrained_dimensions_name_no_mesh_axis():
    from eqx_filter._sharding_prefix import check_partition_spec

    mesh = _mesh()
    # Would raise if `P.UNCONSTRAINED` were read as an axis name.
    check_partition_spec("args[0]", (3, 2 * jax.device_count()), P(P.UNCONSTRAINED, "data"), mesh)
    with pytest.raises(ValueError, match=r"`args\[0\]`: dimension 1 has size 3"):
        check_partition_spec("args[0]", (2, 3), P(P.UNCONSTRAINED, "data"), mesh)
