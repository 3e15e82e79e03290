import dataclasses
import inspect
from collections import Counter

import jax
import jax.numpy as jnp
import jax.random as jr
import numpy as np
import pytest

from eqx_filter import combine, is_inexact_array, partition
from eqx_nn import MLP, Linear, PReLU

KEY = jr.key(1)


def _reference(mlp, x, act=lambda v: np.maximum(v, 0), final=lambda v: v):
    h = np.asarray(x)
    for layer in mlp.layers[:-1]:
        h = act(np.asarray(layer.weight) @ h + np.asarray(layer.bias))
    last = mlp.layers[-1]
    h = np.asarray(last.weight) @ h
    if last.bias is not None:
        h = h + np.asarray(last.bias)
    return final(h)


def test_mlp_signature_matches_spec():
    sig = inspect.signature(MLP)
    assert list(sig.parameters) == [
        "in_size", "out_size", "width_size", "depth", "activation", "final_activation",
        "use_bias", "use_final_bias", "dtype", "scan", "key",
    ]  # fmt: skip
    assert sig.parameters["activation"].default is jax.nn.relu
    assert sig.parameters["scan"].kind is inspect.Parameter.KEYWORD_ONLY
    assert sig.parameters["scan"].default is False


def test_mlp_fields_order_and_static():
    fields = dataclasses.fields(MLP)
    assert [f.name for f in fields] == [
        "layers", "activation", "final_activation", "use_bias", "use_final_bias",
        "in_size", "out_size", "width_size", "depth", "scan",
    ]  # fmt: skip
    assert [bool(f.metadata.get("static", False)) for f in fields] == [False] * 3 + [True] * 7


def test_mlp_matches_hand_computation():
    mlp = MLP(3, 2, width_size=4, depth=2, key=KEY)
    x = jnp.array([0.3, -1.0, 2.0])
    np.testing.assert_allclose(mlp(x), _reference(mlp, x), rtol=1e-5, atol=1e-6)


def test_mlp_layers_use_keys_split_depth_plus_one():
    mlp = MLP(3, 2, width_size=4, depth=2, use_final_bias=False, key=KEY)
    keys = jr.split(KEY, 3)
    expected = [
        Linear(3, 4, key=keys[0]),
        Linear(4, 4, key=keys[1]),
        Linear(4, 2, False, key=keys[2]),
    ]
    assert len(mlp.layers) == 3
    for got, want in zip(mlp.layers, expected, strict=True):
        np.testing.assert_array_equal(got.weight, want.weight)
    assert mlp.layers[-1].bias is None
    assert mlp.layers[0].bias is not None


def test_mlp_depth_zero_is_one_linear_with_final_bias_flag():
    mlp = MLP(3, 2, width_size=4, depth=0, use_final_bias=False, key=KEY)
    assert len(mlp.layers) == 1
    assert mlp.layers[0].bias is None
    np.testing.assert_array_equal(
        mlp.layers[0].weight, Linear(3, 2, key=jr.split(KEY, 1)[0]).weight
    )


def test_mlp_final_activation_is_applied_to_output():
    mlp = MLP(3, 2, 4, 1, final_activation=jnp.tanh, key=KEY)
    x = jnp.array([1.0, 2.0, 3.0])
    np.testing.assert_allclose(mlp(x), _reference(mlp, x, final=np.tanh), rtol=1e-5)


def test_mlp_scalar_in_and_out():
    mlp = MLP("scalar", "scalar", 4, 2, final_activation=jnp.tanh, key=KEY)
    out = mlp(jnp.array(0.5))
    assert out.shape == ()
    np.testing.assert_allclose(out, _reference(mlp, np.array([0.5]), final=np.tanh)[0], rtol=1e-5)


def test_mlp_prelu_activation_gets_parameters_per_layer_and_neuron():
    mlp = MLP(3, 2, width_size=5, depth=2, activation=PReLU(0.1), key=KEY)
    assert mlp.activation.negative_slope.shape == (2, 5)
    np.testing.assert_allclose(mlp.activation.negative_slope, np.full((2, 5), 0.1))
    slopes = np.linspace(0.1, 1.0, 10, dtype=np.float32).reshape(2, 5)
    mlp = jax.tree_util.tree_map(
        lambda leaf: jnp.asarray(slopes) if getattr(leaf, "shape", None) == (2, 5) else leaf, mlp
    )
    x = jnp.array([1.0, -2.0, 0.5])
    h = np.asarray(x)
    for i, layer in enumerate(mlp.layers[:-1]):
        h = np.asarray(layer.weight) @ h + np.asarray(layer.bias)
        h = np.where(h >= 0, h, slopes[i] * h)
    h = np.asarray(mlp.layers[-1].weight) @ h + np.asarray(mlp.layers[-1].bias)
    np.testing.assert_allclose(mlp(x), h, rtol=1e-5, atol=1e-6)


def test_mlp_array_free_activation_is_kept_as_is():
    mlp = MLP(3, 2, 4, 2, activation=jax.nn.gelu, key=KEY)
    assert mlp.activation is jax.nn.gelu
    assert mlp.final_activation(1.5) == 1.5


def _primitive_counts(jaxpr):
    return Counter(eqn.primitive.name for eqn in jaxpr.jaxpr.eqns)


def test_mlp_jaxpr_is_one_dot_one_add_and_one_activation_per_layer():
    mlp = MLP(3, 2, width_size=4, depth=3, key=KEY)
    counts = _primitive_counts(jax.make_jaxpr(mlp)(jnp.ones(3)))
    assert counts == Counter({"dot_general": 4, "add": 4, "custom_jvp_call": 3})


def test_mlp_jaxpr_without_biases_has_no_add():
    mlp = MLP(3, 2, 4, 2, use_bias=False, use_final_bias=False, key=KEY)
    counts = _primitive_counts(jax.make_jaxpr(mlp)(jnp.ones(3)))
    assert counts == Counter({"dot_general": 3, "custom_jvp_call": 2})


def test_mlp_scan_matches_unrolled_mlp_with_same_key():
    plain = MLP(3, 2, width_size=4, depth=4, key=KEY)
    scanned = MLP(3, 2, width_size=4, depth=4, scan=True, key=KEY)
    assert len(scanned.layers) == 3
    assert scanned.layers[1].weight.shape == (3, 4, 4)
    for i in range(3):
        np.testing.assert_array_equal(scanned.layers[1].weight[i], plain.layers[i + 1].weight)
    x = jnp.array([0.1, 0.2, -0.3])
    np.testing.assert_allclose(scanned(x), plain(x), rtol=1e-5, atol=1e-6)


def test_mlp_scan_with_prelu_uses_each_layers_slopes():
    plain = MLP(3, 2, 4, 3, activation=PReLU(0.3), key=KEY)
    scanned = MLP(3, 2, 4, 3, activation=PReLU(0.3), scan=True, key=KEY)
    x = jnp.array([1.0, -1.0, 2.0])
    np.testing.assert_allclose(scanned(x), plain(x), rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("dtype", [jnp.float16, jnp.bfloat16, jnp.float32])
def test_mlp_keeps_parameter_dtype(dtype):
    mlp = MLP(3, 2, 4, 2, dtype=dtype, key=KEY)
    assert all(layer.weight.dtype == dtype for layer in mlp.layers)
    assert mlp(jnp.ones(3, dtype)).dtype == dtype


def test_mlp_works_under_jit_grad_and_vmap():
    mlp = MLP(3, 2, 4, 2, key=KEY)
    xs = jr.normal(jr.key(5), (6, 3))
    out = jax.jit(jax.vmap(mlp))(xs)
    np.testing.assert_allclose(out[2], _reference(mlp, xs[2]), rtol=1e-5, atol=1e-6)
    params, static = partition(mlp, is_inexact_array)
    grads = jax.grad(lambda p: jnp.sum(jax.vmap(combine(p, static))(xs) ** 2))(params)
    assert grads.layers[0].weight.shape == (4, 3)
    assert np.all(np.isfinite(grads.layers[0].weight))


def _x64():
    return jax.enable_x64(True) if hasattr(jax, "enable_x64") else jax.experimental.enable_x64()


@pytest.mark.parametrize("scan", [False, True])
def test_mlp_defaults_to_float64_under_x64(scan):
    with _x64():
        mlp = MLP(2, 3, 4, 3, scan=scan, key=KEY)
        params = partition(mlp, is_inexact_array)[0]
        assert {leaf.dtype for leaf in jax.tree_util.tree_leaves(params)} == {
            jnp.dtype(jnp.float64)
        }
        assert mlp(jnp.ones(2)).dtype == jnp.float64


@pytest.mark.parametrize("sizes", [(3, 2), ("scalar", "scalar")], ids=["vector", "scalar"])
def test_mlp_depth_one_with_scan_has_nothing_to_scan_and_matches_the_plain_mlp(sizes):
    in_size, out_size = sizes
    plain = MLP(in_size, out_size, width_size=4, depth=1, key=KEY)
    scanned = MLP(in_size, out_size, width_size=4, depth=1, scan=True, key=KEY)
    assert [layer.weight.shape for layer in scanned.layers] == [
        layer.weight.shape for layer in plain.layers
    ]
    for mine, theirs in zip(scanned.layers, plain.layers, strict=True):
        np.testing.assert_array_equal(mine.weight, theirs.weight)
    x = jnp.array(0.7) if in_size == "scalar" else jnp.array([0.1, 0.2, -0.3])
    out = scanned(x)
    assert out.shape == (() if out_size == "scalar" else (2,))
    np.testing.assert_allclose(out, plain(x), rtol=1e-6)
    # By hand: relu(W1 x + b1), then W2 h + b2 ("scalar" sizes are one-element vectors).
    first, last = plain.layers
    h = np.maximum(np.asarray(first.weight) @ np.atleast_1d(x) + np.asarray(first.bias), 0)
    expected = np.asarray(last.weight) @ h + np.asarray(last.bias)
    np.testing.assert_allclose(np.reshape(out, -1), expected, rtol=1e-5, atol=1e-6)
