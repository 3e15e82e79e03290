import dataclasses
import inspect

import jax
import jax.numpy as jnp
import jax.random as jr
import numpy as np
import pytest

from eqx_nn import Identity, Linear

KEY = jr.key(0)


def _x64():
    return jax.enable_x64(True) if hasattr(jax, "enable_x64") else jax.experimental.enable_x64()


def test_linear_signature_matches_spec():
    sig = inspect.signature(Linear)
    assert list(sig.parameters) == ["in_features", "out_features", "use_bias", "dtype", "key"]
    assert sig.parameters["use_bias"].default is True
    assert sig.parameters["dtype"].default is None
    assert sig.parameters["key"].kind is inspect.Parameter.KEYWORD_ONLY


def test_linear_fields_order_and_static():
    fields = dataclasses.fields(Linear)
    assert [f.name for f in fields] == ["weight", "bias", "in_features", "out_features", "use_bias"]
    assert [bool(f.metadata.get("static", False)) for f in fields] == [
        False,
        False,
        True,
        True,
        True,
    ]


def test_linear_computes_weight_times_x_plus_bias():
    layer = Linear(3, 2, key=KEY)
    x = jnp.array([1.0, -2.0, 0.5])
    expected = np.asarray(layer.weight) @ np.asarray(x) + np.asarray(layer.bias)
    np.testing.assert_allclose(layer(x), expected, rtol=1e-6)


def test_linear_init_splits_key_and_draws_uniform_within_one_over_sqrt_in():
    layer = Linear(4, 3, key=KEY)
    wkey, bkey = jr.split(KEY)
    np.testing.assert_array_equal(layer.weight, jr.uniform(wkey, (3, 4), minval=-0.5, maxval=0.5))
    np.testing.assert_array_equal(layer.bias, jr.uniform(bkey, (3,), minval=-0.5, maxval=0.5))


def test_linear_init_fills_the_uniform_range():
    layer = Linear(100, 100, key=KEY)
    w = np.asarray(layer.weight)
    assert w.min() >= -0.1
    assert w.max() <= 0.1
    assert w.min() < -0.09
    assert w.max() > 0.09


def test_linear_without_bias_has_none_bias_and_no_offset():
    layer = Linear(2, 2, use_bias=False, key=KEY)
    assert layer.bias is None
    np.testing.assert_allclose(layer(jnp.zeros(2)), jnp.zeros(2))


def test_linear_scalar_in_and_out_have_shape_unit_internally():
    layer = Linear("scalar", "scalar", key=KEY)
    assert layer.weight.shape == (1, 1)
    assert layer.bias.shape == (1,)
    out = layer(jnp.array(2.0))
    assert out.shape == ()
    np.testing.assert_allclose(out, layer.weight[0, 0] * 2 + layer.bias[0], rtol=1e-6)


def test_linear_scalar_in_rejects_non_scalar_input():
    layer = Linear("scalar", 2, key=KEY)
    with pytest.raises(ValueError, match="x must have scalar shape"):
        layer(jnp.ones(1))


@pytest.mark.usefixtures("not_under_import_hook")
def test_linear_rejects_batched_input_suggesting_vmap():
    layer = Linear(3, 2, key=KEY)
    with pytest.raises(ValueError, match=r"\(3,\).*jax.vmap"):
        layer(jnp.ones((5, 3)))


def test_linear_zero_in_features_uses_limit_one_and_outputs_bias():
    layer = Linear(0, 2, key=KEY)
    assert layer.weight.shape == (2, 0)
    np.testing.assert_allclose(layer(jnp.ones(0)), layer.bias)


def test_linear_missing_key_is_type_error():
    with pytest.raises(TypeError):
        Linear(2, 2)  # type: ignore[call-arg]


@pytest.mark.parametrize("dtype", [jnp.float16, jnp.bfloat16, jnp.float32])
def test_linear_preserves_low_precision_dtype(dtype):
    layer = Linear(3, 2, dtype=dtype, key=KEY)
    assert layer.weight.dtype == dtype
    assert layer(jnp.ones(3, dtype)).dtype == dtype


def test_linear_default_dtype_is_float64_under_x64():
    with _x64():
        layer = Linear(3, 2, key=KEY)
        assert layer.weight.dtype == jnp.float64
        assert layer(jnp.ones(3)).dtype == jnp.float64


def test_linear_complex_init_draws_real_and_imag_from_split_key():
    layer = Linear(4, 3, dtype=jnp.complex64, key=KEY)
    wkey, _ = jr.split(KEY)
    rkey, ikey = jr.split(wkey)
    np.testing.assert_array_equal(
        layer.weight.real, jr.uniform(rkey, (3, 4), minval=-0.5, maxval=0.5)
    )
    np.testing.assert_array_equal(
        layer.weight.imag, jr.uniform(ikey, (3, 4), minval=-0.5, maxval=0.5)
    )
    assert layer(jnp.ones(4, jnp.complex64)).dtype == jnp.complex64


def test_linear_works_under_jit_grad_and_vmap():
    layer = Linear(3, 2, key=KEY)
    xs = jnp.arange(12.0).reshape(4, 3)
    out = jax.jit(jax.vmap(layer))(xs)
    np.testing.assert_allclose(
        out, np.asarray(xs) @ np.asarray(layer.weight).T + np.asarray(layer.bias), rtol=1e-5
    )
    grad = jax.grad(lambda m: jnp.sum(m(xs[0])))(layer)
    np.testing.assert_allclose(grad.weight, jnp.broadcast_to(xs[0], (2, 3)))
    np.testing.assert_allclose(grad.bias, jnp.ones(2))


def test_identity_ignores_arguments_and_returns_input():
    ident = Identity(1, 2, foo="bar")
    x = object()
    assert ident(x) is x
    assert ident(x, key=KEY) is x
    assert jax.tree_util.tree_leaves(ident) == []
