"""filter_jit(in_shardings=..., out_shardings=...): prefixes over array leaves, HLO, errors."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from jax.sharding import Mesh, NamedSharding, PartitionSpec

from eqx_filter import filter_grad, filter_jit
from eqx_module import Module
from eqx_tree import apply_updates

P = PartitionSpec


class MLP(Module):
    w1: jax.Array
    w2: jax.Array
    activation: object

    def __call__(self, x: jax.Array) -> jax.Array:
        return self.activation(x @ self.w1) @ self.w2  # type: ignore[operator]


class Batched(Module):
    mlp: MLP

    def __call__(self, xs: jax.Array) -> jax.Array:
        return jax.vmap(self.mlp)(xs)


def _mesh(n: int | None = None) -> Mesh:
    devices = jax.devices() if n is None else jax.devices()[:n]
    return Mesh(np.array(devices), ("data",))


def _mlp(width: int = 8) -> MLP:
    k1, k2 = jax.random.split(jax.random.key(0))
    return MLP(
        jax.random.normal(k1, (4, width)) / 2, jax.random.normal(k2, (width, 2)) / 3, jnp.tanh
    )


def test_arguments_get_the_shardings_and_the_hlo_carries_them():
    mesh = _mesh()
    n = jax.device_count()
    data = NamedSharding(mesh, P("data"))
    replicated = NamedSharding(mesh, P())

    def f(model, x, scale):
        return {"y": jax.vmap(model)(x) * scale, "tag": "out"}

    jitted = filter_jit(f, in_shardings=((replicated, data, None), None), out_shardings=data)
    model, x = _mlp(), jnp.ones((2 * n, 4))
    out = jitted(model, x, 2.0)
    assert out["tag"] == "out"
    assert out["y"].sharding.is_equivalent_to(data, 2)
    np.testing.assert_allclose(out["y"], jax.vmap(model)(x) * 2.0, rtol=1e-6)
    compiled = jitted.lower(model, x, 2.0).compile()
    # The inner arguments are the array leaves in leaf order: w1, w2, x.
    args_shardings, _ = compiled.compiled.input_shardings
    assert [
        s.is_equivalent_to(e, 2)
        for s, e in zip(args_shardings, [replicated, replicated, data], strict=True)
    ] == [True] * 3
    assert compiled.compiled.output_shardings[0].is_equivalent_to(data, 2)
    # The compiled function runs with the same static leaves.
    np.testing.assert_allclose(compiled(model, x, 2.0)["y"], out["y"])
    if n > 1:
        assert "sharding" in jitted.lower(model, x, 2.0).as_text()


def test_a_single_sharding_applies_to_every_array_and_keyword_arguments_too():
    mesh = _mesh()
    n = jax.device_count()
    data = NamedSharding(mesh, P("data"))

    def f(x, *, y):
        return x + y

    jitted = filter_jit(f, in_shardings=data)
    compiled = jitted.lower(jnp.ones(2 * n), y=jnp.ones(2 * n)).compile()
    shardings = jax.tree.leaves(compiled.compiled.input_shardings)
    assert len(shardings) == 2 and all(s.is_equivalent_to(data, 1) for s in shardings)
    np.testing.assert_array_equal(jitted(jnp.ones(2 * n), y=jnp.ones(2 * n)), 2 * np.ones(2 * n))


def test_none_leaves_an_argument_where_it_is():
    mesh = _mesh()
    replicated = NamedSharding(mesh, P())
    data = NamedSharding(mesh, P("data"))
    n = jax.device_count()
    y = jax.device_put(jnp.arange(2.0 * n), data)
    jitted = filter_jit(lambda x, y: (x, y * 1), in_shardings=((replicated, None), None))
    shardings = jitted.lower(jnp.ones(2), y).compile().compiled.input_shardings[0]
    assert shardings[0].is_equivalent_to(replicated, 1)
    assert shardings[1].is_equivalent_to(data, 1)  # y's own sharding


def test_with_donation_and_a_module_as_the_callable():
    mesh = _mesh()
    n = jax.device_count()
    data = NamedSharding(mesh, P("data"))
    model = _mlp()
    double = filter_jit(
        lambda m, x: x * 2, donate="all-except-first", in_shardings=((None, data), None)
    )
    x = jax.device_put(jnp.arange(2.0 * n), data)
    out = double(model, x)
    np.testing.assert_array_equal(out, 2 * np.arange(2.0 * n))
    assert x.is_deleted()  # donated: its buffer was reused for the output
    assert not model.w1.is_deleted()
    # A Module called directly: its own arrays get no constraint, the argument does.
    rows = jnp.ones((2 * n, 4))
    batched = filter_jit(Batched(model), in_shardings=((data,), None))
    lowered = batched.lower(rows)
    compiled = lowered.compile()
    assert compiled.compiled.input_shardings[0][-1].is_equivalent_to(data, 2)
    np.testing.assert_allclose(compiled(rows), jax.vmap(model)(rows), rtol=1e-6)


def _train(step, model, x, y, steps=20):
    for _ in range(steps):
        model = step(model, x, y)
    return model


def _loss(model, x, y):
    return jnp.mean((jax.vmap(model)(x) - y) ** 2)


def _step(model, x, y):
    grads = filter_grad(_loss)(model, x, y)
    return apply_updates(model, jax.tree.map(lambda g: -0.1 * g, grads))


def _check_training_equals_one_device(n_devices: int, fsdp: bool) -> None:
    mesh = _mesh(n_devices)
    data = NamedSharding(mesh, P("data"))
    replicated = NamedSharding(mesh, P())
    kx, ky = jax.random.split(jax.random.key(1))
    x = jax.random.normal(kx, (4 * n_devices, 4))
    y = jax.random.normal(ky, (4 * n_devices, 2))
    width = 2 * n_devices
    if fsdp:
        # Each hidden unit lives on one device: w1 split by columns, w2 by rows.
        params = MLP(NamedSharding(mesh, P(None, "data")), NamedSharding(mesh, P("data")), None)
    else:
        params = replicated
    sharded_step = filter_jit(
        _step, in_shardings=((params, data, data), None), out_shardings=params
    )
    expected = _train(filter_jit(_step), _mlp(width), x, y)
    actual = _train(sharded_step, _mlp(width), x, y)
    if fsdp:
        assert actual.w1.sharding.is_equivalent_to(params.w1, 2)
        assert {s.data.shape for s in actual.w1.addressable_shards} == {(4, width // n_devices)}
    np.testing.assert_allclose(actual.w1, expected.w1, rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(actual.w2, expected.w2, rtol=1e-5, atol=1e-6)
    assert not np.allclose(actual.w1, _mlp(width).w1)


@pytest.mark.parametrize("fsdp", [False, True], ids=["data_parallel", "fsdp"])
def test_sharded_training_equals_one_device(fsdp):
    _check_training_equals_one_device(jax.device_count(), fsdp)


@pytest.mark.multidevice
@pytest.mark.skipif(jax.device_count() < 8, reason="needs 8 devices (nox -s multidevice)")
@pytest.mark.parametrize("fsdp", [False, True], ids=["data_parallel", "fsdp"])
def test_sharded_training_on_8_devices_equals_one_device(fsdp):
    _check_training_equals_one_device(8, fsdp)


def test_a_prefix_that_does_not_fit_names_the_argument_path():
    replicated = NamedSharding(_mesh(), P())
    jitted = filter_jit(lambda m, x: x, in_shardings=(({"w": replicated}, None), None))
    match = r"`in_shardings` is not a PyTree prefix of `args`: at `args\[0\]`, `args` has a `MLP`"
    with pytest.raises(ValueError, match=match):
        jitted(_mlp(), jnp.ones(2))


def test_an_axis_not_dividing_a_dimension_names_the_argument_and_the_output():
    n = jax.device_count()
    data = NamedSharding(_mesh(), P("data"))
    odd = 2 * n + 1
    jitted = filter_jit(lambda x, *, y: y, in_shardings=(None, {"y": data}))
    with pytest.raises(ValueError, match=rf"`kwargs\['y'\]`: dimension 0 has size {odd}"):
        jitted(jnp.ones(2), y=jnp.ones(odd))
    out_jitted = filter_jit(lambda x: {"z": jnp.ones(odd)}, out_shardings={"z": data})
    with pytest.raises(ValueError, match=rf"`output\['z'\]`: dimension 0 has size {odd}"):
        out_jitted(jnp.ones(2))


def test_bad_prefix_leaves_and_ambiguous_pairs_are_refused_when_filter_jit_is_called():
    mesh = _mesh()
    with pytest.raises(
        TypeError, match=r"`in_shardings` must be a PyTree prefix.*PartitionSpec needs a mesh"
    ):
        filter_jit(lambda x: x, in_shardings=P("data"))
    with pytest.raises(TypeError, match="`out_shardings` must be a PyTree prefix"):
        filter_jit(lambda x: x, out_shardings=[0])
    a, b = NamedSharding(mesh, P()), NamedSharding(mesh, P("data"))
    with pytest.raises(ValueError, match=r"describes `\(args, kwargs\)`.*\(\(s_x, s_y\), None\)"):
        filter_jit(lambda x, y: x, in_shardings=(a, b))(jnp.ones(2), jnp.ones(2))
