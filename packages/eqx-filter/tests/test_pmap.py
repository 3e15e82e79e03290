"""filter_pmap; runs on the 2 simulated CPU devices of the default suite."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from eqx_filter import filter_pmap
from eqx_tree import EqxDeprecationWarning

N = jax.device_count()


def test_maps_over_devices_with_non_array_arguments():
    x = jnp.arange(float(N * 3)).reshape(N, 3)
    out = filter_pmap(lambda x, n, label: (x * n, label))(x, 2, "lbl")
    np.testing.assert_array_equal(out[0], x * 2)
    assert out[1] == "lbl"


def test_collectives_with_an_axis_name():
    x = jnp.arange(float(N))
    out = filter_pmap(lambda x: jax.lax.psum(x, "d"), axis_name="d")(x)
    np.testing.assert_array_equal(out, jnp.full(N, x.sum()))


def test_a_miss_traces_twice_and_a_hit_traces_zero_times():
    count = [0]

    def f(x):
        count[0] += 1
        return x + 1

    wrapped = filter_pmap(f)
    wrapped(jnp.ones((N, 2)))
    assert count[0] == 2
    wrapped(jnp.zeros((N, 2)))
    assert count[0] == 2


def test_out_axes_outside_the_output_rank_raise():
    with pytest.raises(ValueError, match="outside its rank"):
        filter_pmap(lambda x: x, out_axes=3)(jnp.ones((N, 2)))


def test_out_axes_none_returns_an_unmapped_output():
    out = filter_pmap(lambda x: (x, jnp.ones(3)), out_axes=(0, None))(jnp.ones((N, 2)))
    assert out[1].shape == (3,)


def test_donate_modes():
    with pytest.raises(ValueError, match="'all', 'warn', 'none'"):
        filter_pmap(lambda x: x, donate="some")
    with pytest.warns(EqxDeprecationWarning, match="donate='all'"):
        filter_pmap(lambda x: x, donate="arrays")
    out = filter_pmap(lambda x: x + 1, donate="all")(jnp.ones((N, 2)))
    np.testing.assert_array_equal(out, jnp.full((N, 2), 2.0))


@pytest.mark.parametrize("name", ["static_broadcasted_argnums", "donate_argnums"])
def test_rejected_pmap_keywords(name):
    with pytest.raises(ValueError, match=name):
        filter_pmap(lambda x: x, **{name: 0})


def test_keyword_arguments_at_call_time_raise():
    with pytest.raises(RuntimeError, match="keyword arguments cannot be used"):
        filter_pmap(lambda x, y: x)(jnp.ones((N, 1)), y=1)


def test_lower_gives_text():
    lowered = filter_pmap(lambda x: x * 2).lower(jnp.ones((N, 2)))
    assert "multiply" in lowered.as_text()


@pytest.mark.parametrize("donate", ["none", "all", "warn"])
def test_a_compiled_function_takes_the_original_arguments(donate):
    def f(x, y, label):
        return x * y, label

    wrapped = filter_pmap(f, donate=donate)
    x, y = jnp.arange(2.0 * N).reshape(N, 2), jnp.full((N, 2), 3.0)
    if donate == "warn":  # JAX's warning is shown: `y`'s buffer has no output to go to
        with pytest.warns(UserWarning, match="Some donated buffers were not usable"):
            compiled = wrapped.lower(x, y, "lbl").compile()
    else:
        compiled = wrapped.lower(x, y, "lbl").compile()
    out, label = compiled(jnp.arange(2.0 * N).reshape(N, 2), jnp.full((N, 2), 3.0), "lbl")
    np.testing.assert_array_equal(out, np.arange(2.0 * N).reshape(N, 2) * 3.0)
    assert label == "lbl"
    with pytest.raises(ValueError, match="differ from the call it was lowered for"):
        compiled(jnp.ones((N, 3)), jnp.ones((N, 3)), "lbl")
    with pytest.raises(ValueError, match="Lower it again"):
        compiled(jnp.ones((N, 2)), jnp.ones((N, 2)), "other")


@pytest.mark.multidevice
@pytest.mark.skipif(jax.device_count() < 8, reason="needs 8 devices (nox -s multidevice)")
def test_eight_devices():
    out = filter_pmap(lambda x: jax.lax.psum(x, "d"), axis_name="d")(jnp.arange(8.0))
    np.testing.assert_array_equal(out, jnp.full(8, 28.0))


def test_a_new_input_rank_is_a_miss_and_its_out_axes_are_checked_again():
    wrapped = filter_pmap(lambda x: x, out_axes=1)
    assert wrapped(jnp.ones((N, 2))).shape == (2, N)
    with pytest.raises(ValueError, match="outside its rank"):
        wrapped(jnp.ones((N,)))


def test_an_unhashable_static_argument_is_named_by_its_path():
    with pytest.raises(TypeError, match=r"`args\[1\]\['k'\]\[1\]` is unhashable"):
        filter_pmap(lambda x, opts: x)(jnp.ones((N, 1)), {"k": [1, {2}]})


@pytest.mark.multidevice
@pytest.mark.skipif(jax.device_count() < 8, reason="needs 8 devices (nox -s multidevice)")
def test_eight_devices_with_a_module_non_arrays_and_out_axes():
    from eqx_module import Module

    class Scale(Module):
        weight: jax.Array
        activation: object
        name: str

        def __call__(self, x, label):
            return {"y": self.activation(x * self.weight), "label": label, "none": None}

    model = Scale(jnp.array([0.5, 2.0]), jnp.tanh, "scale")
    xs = jnp.arange(16.0).reshape(8, 2) / 10
    out = filter_pmap(model)(xs, "lbl")
    np.testing.assert_allclose(out["y"], jax.vmap(lambda x: model(x, "lbl")["y"])(xs), rtol=1e-6)
    assert out["label"] == "lbl" and out["none"] is None
    assert len(out["y"].sharding.device_set) == 8
    moved = filter_pmap(lambda x: x[:, None] * jnp.ones((1, 3)), out_axes=1)(xs)
    assert moved.shape == (2, 8, 3)
    np.testing.assert_array_equal(moved, jnp.moveaxis(jnp.repeat(xs[:, :, None], 3, axis=2), 0, 1))


def test_the_cache_does_not_keep_the_arrays_of_the_first_call_alive():
    import gc
    import weakref

    wrapped = filter_pmap(lambda x, label: x * 2)
    x = jnp.ones((N, 2)) + 1
    ref = weakref.ref(x)
    jax.block_until_ready(wrapped(x, "a"))
    del x
    gc.collect()
    assert ref() is None


@pytest.mark.multidevice
@pytest.mark.skipif(jax.device_count() < 8, reason="needs 8 devices (nox -s multidevice)")
def test_eight_device_data_parallel_gradient_with_pmean():
    from eqx_filter import filter_grad
    from eqx_module import Module

    class Linear(Module):
        weight: jax.Array
        activation: object

    def loss(model, x):
        return jnp.mean(model.activation(x @ model.weight))

    model = Linear(jnp.array([0.5, -1.0]), jnp.tanh)
    xs = jnp.arange(32.0).reshape(8, 2, 2) / 32

    def step(model, x):
        grads = filter_grad(loss)(model, x)
        return jax.lax.pmean(grads.weight, "devices")

    out = filter_pmap(step, in_axes=(None, 0), axis_name="devices")(model, xs)
    expected = jax.grad(lambda w: jnp.mean(jnp.tanh(xs.reshape(16, 2) @ w)))(model.weight)
    np.testing.assert_allclose(out, jnp.broadcast_to(expected, (8, 2)), rtol=1e-5)


def test_nothing_mapped_with_axis_size_runs_on_that_many_devices():
    out = filter_pmap(lambda x: x * 2, in_axes=None, axis_size=N)(jnp.arange(3.0))
    np.testing.assert_array_equal(out, jnp.broadcast_to(jnp.arange(3.0) * 2, (N, 3)))


def test_nothing_mapped_without_axis_size_runs_unmapped_as_filter_vmap_does():
    assert filter_pmap(lambda x: x + 1)(1.0) == 2.0
    out = filter_pmap(lambda x: (x, "s"), in_axes=None, out_axes=None)(jnp.arange(2.0))
    np.testing.assert_array_equal(out[0], jnp.arange(2.0))
    assert out[1] == "s"
    with pytest.raises(ValueError, match="Cannot resolve batch dimension"):
        filter_pmap(lambda x: jnp.ones(2) * x)(1.0)
    with pytest.raises(ValueError, match="Cannot resolve batch dimension"):
        filter_pmap(lambda x: x).lower(1.0)


def test_each_new_input_signature_traces_twice_and_repeats_trace_zero_times():
    count = [0]

    @filter_pmap(in_axes=None, axis_size=1)
    def f(*args):
        count[0] += 1
        return jnp.ones(2)

    for args, expected in [
        ((jnp.zeros(2),), 2),
        ((jnp.zeros(2),), 2),
        ((jnp.zeros(3),), 4),  # a new shape
        ((jnp.zeros(3),), 4),
        (([jnp.zeros(2)],), 6),  # a new structure
        (([jnp.zeros(2), jnp.zeros(3)], jnp.zeros(4), "hi", 1), 8),
        (([jnp.zeros(2), jnp.zeros(3)], jnp.zeros(4), "hi", 1), 8),
    ]:
        assert f(*args).shape == (1, 2)
        assert count[0] == expected


def test_devices_can_be_the_list_jax_devices_returns():
    f = filter_pmap(lambda x: x * 2, devices=jax.devices())
    np.testing.assert_array_equal(f(jnp.ones((N, 2))), jnp.full((N, 2), 2.0))


def test_an_explicit_int_out_axis_broadcasts_a_python_int_output():
    def f(x):
        return x, 1

    xs = jnp.arange(float(N))
    out = filter_pmap(f, out_axes=0)(xs)
    assert isinstance(out[1], jax.Array) and out[1].shape == (N,)
    np.testing.assert_array_equal(out[1], np.ones(N, dtype=np.int32))
    out = filter_pmap(f, out_axes=None)(xs)
    assert out[1] == 1 and type(out[1]) is int
    out = filter_pmap(f)(xs)  # the default `if_array(0)` leaves it unmapped
    assert out[1] == 1 and type(out[1]) is int
