"""filter_vmap."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from eqx_filter import filter_jit, filter_vmap, if_array
from eqx_module import Module


class Linear(Module):
    weight: jax.Array
    bias: jax.Array
    activation: object

    def __call__(self, x):
        return self.activation(self.weight @ x + self.bias)


def make_linear(key):
    return Linear(jax.random.normal(key, (2, 3)), jnp.zeros(2), jnp.tanh)


def test_maps_arrays_and_closes_over_non_arrays():
    x = jnp.arange(12.0).reshape(4, 3)
    out = filter_vmap(lambda x, fn, n: fn(x) * n)(x, jnp.sin, 2)
    np.testing.assert_allclose(out, jax.vmap(lambda x: jnp.sin(x) * 2)(x), rtol=1e-6)


def test_in_axes_none_broadcasts_a_module():
    model = make_linear(jax.random.PRNGKey(0))
    xs = jnp.ones((5, 3))
    out = filter_vmap(lambda m, x: m(x), in_axes=(None, 0))(model, xs)
    np.testing.assert_allclose(out, jax.vmap(model)(xs), rtol=1e-6)


def test_ensemble_of_modules_from_keys():
    keys = jax.random.split(jax.random.PRNGKey(0), 4)
    ensemble = filter_vmap(make_linear)(keys)
    assert ensemble.weight.shape == (4, 2, 3)
    assert ensemble.activation is jnp.tanh
    with pytest.raises(ValueError, match="must resolve to None"):
        filter_vmap(lambda m, x: m(x), in_axes=(0, None))(ensemble, jnp.ones(3))
    out = filter_vmap(lambda m, x: m(x), in_axes=(if_array(0), None))(ensemble, jnp.ones(3))
    np.testing.assert_allclose(out[1], make_linear(keys[1])(jnp.ones(3)), rtol=1e-5)


def test_in_axes_dict_by_parameter_name():
    def f(x, y):
        return x + y

    out = filter_vmap(f, in_axes={"y": None})(jnp.ones((3, 2)), jnp.arange(2.0))
    np.testing.assert_array_equal(out, jnp.ones((3, 2)) + jnp.arange(2.0)[None, :])


def test_in_axes_dict_with_an_unknown_key_raises():
    with pytest.raises(ValueError, match="did not correspond to any argument"):
        filter_vmap(lambda x: x, in_axes={"z": 0})(jnp.ones(2))


def test_out_axes_places_the_mapped_axis_including_negative_and_rank_3():
    x = jnp.ones((4, 2, 3))
    assert filter_vmap(lambda x: x, out_axes=2)(x).shape == (2, 3, 4)
    assert filter_vmap(lambda x: x, out_axes=-1)(x).shape == (2, 3, 4)
    assert filter_vmap(lambda x: x, out_axes=1)(x).shape == (2, 4, 3)


def test_unbatched_output_with_none_out_axes_is_returned_once():
    out = filter_vmap(lambda x: (x, jnp.ones(2)), out_axes=(0, None))(jnp.ones((5, 3)))
    assert out[0].shape == (5, 3)
    assert out[1].shape == (2,)


def test_non_array_outputs_are_returned_as_they_are():
    out = filter_vmap(lambda x: (x * 2, "label", None, 3))(jnp.ones((2, 3)))
    assert out[1:] == ("label", None, 3)


def test_spec_examples():
    assert filter_vmap(lambda x: x, out_axes=None, axis_size=5)(1) == 1
    out = filter_vmap(lambda x: x, in_axes=None, out_axes=0, axis_size=5)(jnp.array([3, 4]))
    assert out.shape == (5, 2)


def test_nothing_mapped_runs_unmapped():
    calls = []
    out = filter_vmap(lambda x: calls.append(x) or "done", in_axes=None, out_axes=None)(jnp.ones(2))
    assert out == "done"
    assert not isinstance(calls[0], jax.core.Tracer)


def test_mapped_output_without_mapped_input_or_axis_size_raises():
    with pytest.raises(ValueError, match="Cannot resolve batch dimension"):
        filter_vmap(lambda x: x, in_axes=None)(jnp.ones(2))


def test_keyword_arguments_raise():
    with pytest.raises(
        RuntimeError,
        match="keyword arguments cannot be used with functions wrapped with `filter_vmap`",
    ):
        filter_vmap(lambda x, y: x)(jnp.ones(2), y=jnp.ones(2))


def test_bad_spec_leaf_raises():
    with pytest.raises(ValueError, match="must consist of None, ints, and callables only"):
        filter_vmap(lambda x: x, in_axes=("zero",))(jnp.ones(2))


def test_non_array_with_an_int_axis_raises():
    with pytest.raises(ValueError, match="must resolve to None"):
        filter_vmap(lambda x, n: x, in_axes=(0, 0))(jnp.ones(2), 3)


def test_size_mismatch_raises_jax_value_error_naming_each_argument():
    with pytest.raises(ValueError, match="vmap got inconsistent sizes for array axes") as info:
        filter_vmap(lambda x, y: x + y["k"])(jnp.ones(2), {"k": jnp.ones(3)})
    assert "size 2: axis 0 of `args[0]`" in str(info.value)
    assert "size 3: axis 0 of `args[1]['k']`" in str(info.value)
    with pytest.raises(ValueError, match="the `axis_size` argument was 4"):
        filter_vmap(lambda x: x, axis_size=4)(jnp.ones(2))


def test_mapping_a_missing_axis_raises_value_error():
    with pytest.raises(ValueError, match=r"map its argument along axis 2.*`args\[0\]`"):
        filter_vmap(lambda x: x, in_axes=2)(jnp.ones((2, 3)))
    with pytest.raises(ValueError, match="rank should be at least 3"):
        filter_vmap(lambda x: x, in_axes=-3)(jnp.ones((2, 3)))


def test_axis_name_and_callable_in_axes():
    out = filter_vmap(lambda x: x - jax.lax.pmean(x, "i"), axis_name="i", in_axes=if_array(0))(
        jnp.arange(4.0)
    )
    np.testing.assert_allclose(out, jnp.arange(4.0) - 1.5)


def test_jaxpr_is_that_of_jax_vmap():
    def f(x):
        return jnp.sin(x) * 2

    x = jnp.ones((3, 2))
    assert str(jax.make_jaxpr(filter_vmap(f))(x)) == str(jax.make_jaxpr(jax.vmap(f))(x))


def test_under_filter_jit_and_as_a_method():
    class Scaler(Module):
        scale: jax.Array

        @filter_vmap(in_axes=(None, 0))
        def apply(self, x):
            return self.scale * x

    out = filter_jit(lambda s, x: s.apply(x))(Scaler(jnp.array(2.0)), jnp.arange(3.0))
    np.testing.assert_array_equal(out, jnp.arange(3.0) * 2)


def test_a_list_in_axes_describes_the_arguments_as_in_jax_vmap():
    x, y = jnp.ones((2, 3)), jnp.arange(3.0)
    out = filter_vmap(lambda a, b: a + b, in_axes=[0, None])(x, y)
    np.testing.assert_array_equal(out, jax.vmap(lambda a, b: a + b, in_axes=[0, None])(x, y))


def test_an_explicit_int_out_axis_broadcasts_a_python_int_output_as_jax_vmap_does():
    def f(x):
        return x, 1, "label"

    xs = jnp.arange(3.0)
    out = filter_vmap(f, out_axes=0)(xs)
    expected = jax.vmap(lambda x: 1, out_axes=0)(xs)
    assert isinstance(out[1], jax.Array)
    assert (out[1].shape, out[1].dtype) == (expected.shape, expected.dtype) == ((3,), jnp.int32)
    np.testing.assert_array_equal(out[1], expected)
    assert out[2] == "label"  # not array-like: returned as it is
    # Unmapped (explicitly, or by the default `if_array(0)`), it is returned unchanged.
    for spec in ((0, None, None), if_array(0)):
        out = filter_vmap(f, out_axes=spec)(xs)
        assert out[1] == 1 and type(out[1]) is int
    out = filter_vmap(lambda x: (1, 2.5), out_axes=None)(xs)
    assert out == (1, 2.5) and (type(out[0]), type(out[1])) == (int, float)
    # A mapped axis other than 0 places it there too.
    out = filter_vmap(lambda x: (x, 2.5), out_axes=(0, 0))(xs)
    np.testing.assert_array_equal(out[1], jnp.full((3,), 2.5))
