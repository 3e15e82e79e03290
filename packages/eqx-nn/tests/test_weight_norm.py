"""Tests for `WeightNorm`: `v·g/‖v‖` by hand, axes, equality."""

import dataclasses

import jax
import jax.numpy as jnp
import jax.random as jr
import numpy as np
import pytest

import eqx_nn
import eqx_tree


def test_fields_in_spec_order() -> None:
    layer = eqx_nn.WeightNorm(eqx_nn.Linear(3, 4, key=jr.key(0)))
    fields = [f for f in dataclasses.fields(layer)]
    assert [f.name for f in fields][:4] == ["layer", "g", "weight_name", "axis"]
    static = {f.name for f in fields if f.metadata.get("static", False)}
    assert {"weight_name", "axis"} <= static
    paths = [jax.tree_util.keystr(p) for p, _ in jax.tree_util.tree_flatten_with_path(layer)[0]]
    assert paths == [".layer.weight", ".layer.bias", ".g"]


def test_g_is_the_norm_over_every_axis_except_axis_with_kept_dims() -> None:
    linear = eqx_nn.Linear(3, 4, key=jr.key(0))
    w = np.asarray(linear.weight)
    assert np.allclose(eqx_nn.WeightNorm(linear).g, np.linalg.norm(w, axis=1, keepdims=True))
    by_column = eqx_nn.WeightNorm(linear, axis=1).g
    assert np.allclose(by_column, np.linalg.norm(w, axis=0, keepdims=True))
    assert np.allclose(eqx_nn.WeightNorm(linear, axis=-1).g, by_column)
    whole = eqx_nn.WeightNorm(linear, axis=None).g
    assert np.allclose(np.ravel(whole), [np.linalg.norm(w)])


def test_fresh_layer_computes_the_same_as_the_wrapped_layer() -> None:
    linear = eqx_nn.Linear(3, 4, key=jr.key(0))
    x = jnp.array([1.0, 2.0, -1.0])
    assert np.allclose(eqx_nn.WeightNorm(linear)(x), linear(x), atol=1e-6)


@pytest.mark.parametrize("axis", [0, 1, None])
def test_call_uses_v_times_g_over_norm_v(axis: int | None) -> None:
    linear = eqx_nn.Linear(3, 4, key=jr.key(0))
    layer = eqx_nn.WeightNorm(linear, axis=axis)
    g = jnp.array(2.5) if axis is None else jr.uniform(jr.key(1), layer.g.shape) + 0.5
    layer = eqx_tree.tree_at(lambda wn: wn.g, layer, jnp.broadcast_to(g, layer.g.shape))
    v = np.asarray(linear.weight, np.float64)
    if axis is None:
        norm = np.linalg.norm(v)
    else:
        norm = np.linalg.norm(v, axis=1 - axis, keepdims=True)
    weight = v * np.asarray(layer.g) / norm
    x = np.array([1.0, 2.0, -1.0])
    assert np.allclose(layer(jnp.asarray(x, jnp.float32)), weight @ x + linear.bias, atol=1e-5)


def test_conv_weight_norm_over_output_channels() -> None:
    conv = eqx_nn.Conv1d(2, 3, kernel_size=3, key=jr.key(0))
    layer = eqx_nn.WeightNorm(conv)
    assert layer.g.shape == (3, 1, 1)
    x = jr.normal(jr.key(1), (2, 5))
    assert np.allclose(layer(x), conv(x), atol=1e-5)


def test_gradient_reaches_g_and_direction() -> None:
    layer = eqx_nn.WeightNorm(eqx_nn.Linear(2, 2, key=jr.key(0)))
    x = jnp.array([1.0, -1.0])

    def loss(g: jax.Array, v: jax.Array) -> jax.Array:
        lyr = eqx_tree.tree_at(lambda wn: (wn.g, wn.layer.weight), layer, (g, v))
        return jnp.sum(lyr(x))

    def reference(g: jax.Array, v: jax.Array) -> jax.Array:
        w = v * g / jnp.linalg.norm(v, axis=1, keepdims=True)
        return jnp.sum(w @ x + layer.layer.bias)

    args = (layer.g, layer.layer.weight)
    for got, want in zip(
        jax.grad(loss, argnums=(0, 1))(*args),
        jax.grad(reference, argnums=(0, 1))(*args),
        strict=True,
    ):
        assert np.allclose(got, want, atol=1e-5)


def test_identical_instances_compare_equal() -> None:
    linear = eqx_nn.Linear(3, 4, key=jr.key(0))
    a, b = eqx_nn.WeightNorm(linear), eqx_nn.WeightNorm(linear)
    assert bool(a == b)
    assert jax.tree_util.tree_structure(a) == jax.tree_util.tree_structure(b)
    assert jax.tree_util.tree_structure(a) != jax.tree_util.tree_structure(
        eqx_nn.WeightNorm(linear, axis=1)
    )


def test_missing_weight_and_bad_axis_raise() -> None:
    linear = eqx_nn.Linear(3, 4, key=jr.key(0))
    with pytest.raises(AttributeError, match="Linear has no attribute 'kernel'"):
        eqx_nn.WeightNorm(linear, "kernel")
    with pytest.raises(ValueError, match=r"axis=2.*shape \(4, 3\)"):
        eqx_nn.WeightNorm(linear, axis=2)
