"""Tests for `SpectralNorm`: σ → 1 against `jnp.linalg.svd`, power iterations."""

import dataclasses

import jax
import jax.numpy as jnp
import jax.random as jr
import numpy as np
import pytest

import eqx_nn
import eqx_tree


def _normalise(x: jax.Array, eps: float = 1e-12) -> jax.Array:
    return x / jnp.maximum(eps, jnp.linalg.norm(x))


def _reference_uv(weight: jax.Array, key: jax.Array, iterations: int) -> tuple[jax.Array, ...]:
    matrix = weight.reshape(weight.shape[0], -1)
    ukey, vkey = jr.split(key)
    u = jr.normal(ukey, (matrix.shape[0],))
    v = jr.normal(vkey, (matrix.shape[1],))
    for _ in range(iterations):
        u = _normalise(matrix @ v)
        v = _normalise(matrix.T @ u)
    return u, v


def _largest_singular_value(weight: jax.Array) -> float:
    return float(jnp.linalg.svd(weight.reshape(weight.shape[0], -1), compute_uv=False)[0])


def test_fields_in_spec_order_with_static_hyperparameters() -> None:
    layer = eqx_nn.SpectralNorm(eqx_nn.Linear(3, 4, key=jr.key(0)), "weight", key=jr.key(1))
    fields = dataclasses.fields(layer)
    assert [f.name for f in fields] == [
        "layer",
        "weight_name",
        "uv_index",
        "num_power_iterations",
        "eps",
        "inference",
    ]
    static = [f.name for f in fields if f.metadata.get("static", False)]
    assert static == ["weight_name", "num_power_iterations", "eps"]


def test_init_runs_fifteen_power_iterations_from_split_key() -> None:
    linear = eqx_nn.Linear(5, 4, key=jr.key(0))
    key = jr.key(1)
    layer, state = eqx_nn.make_with_state(eqx_nn.SpectralNorm)(linear, "weight", key=key)
    u, v = state.get(layer.uv_index)
    ref_u, ref_v = _reference_uv(linear.weight, key, 15)
    assert np.allclose(u, ref_u, atol=1e-5)
    assert np.allclose(v, ref_v, atol=1e-5)


def test_one_dimensional_weight_raises() -> None:
    linear = eqx_nn.Linear(3, 4, key=jr.key(0))
    with pytest.raises(ValueError, match=r"at least 2 dimensions.*`bias`.*\(4,\)"):
        eqx_nn.SpectralNorm(linear, "bias", key=jr.key(1))


def test_missing_weight_name_raises() -> None:
    linear = eqx_nn.Linear(3, 4, key=jr.key(0))
    with pytest.raises(AttributeError, match="Linear has no attribute 'kernel'"):
        eqx_nn.SpectralNorm(linear, "kernel", key=jr.key(1))


def test_normalised_weight_has_largest_singular_value_one() -> None:
    linear = eqx_nn.Linear(6, 5, key=jr.key(0))
    layer, state = eqx_nn.make_with_state(eqx_nn.SpectralNorm)(
        linear, "weight", num_power_iterations=5, key=jr.key(1)
    )
    x = jnp.eye(6)
    for _ in range(3):
        out, state = jax.vmap(layer, in_axes=(0, None), out_axes=(0, None))(x, state)
    effective = (out - linear.bias[None]).T  # columns are W/σ applied to basis vectors
    assert np.isclose(_largest_singular_value(effective), 1.0, atol=1e-3)
    sigma = _largest_singular_value(linear.weight)
    assert np.allclose(effective, linear.weight / sigma, atol=1e-3)


def test_conv_weight_is_reshaped_to_rows_by_rest() -> None:
    conv = eqx_nn.Conv2d(2, 3, kernel_size=2, key=jr.key(0))
    layer, state = eqx_nn.make_with_state(eqx_nn.SpectralNorm)(conv, "weight", key=jr.key(1))
    u, v = state.get(layer.uv_index)
    assert u.shape == (3,)
    assert v.shape == (8,)
    x = jr.normal(jr.key(2), (2, 4, 4))
    out, _ = layer(x, state, inference=True)
    sigma = u @ conv.weight.reshape(3, -1) @ v
    expected = eqx_tree.tree_at(lambda c: c.weight, conv, conv.weight / sigma)
    assert np.allclose(out, expected(x), atol=1e-5)


def test_training_updates_vectors_and_inference_does_not() -> None:
    linear = eqx_nn.Linear(4, 4, key=jr.key(0))
    layer, state = eqx_nn.make_with_state(eqx_nn.SpectralNorm)(linear, "weight", key=jr.key(1))
    # Start from poor vectors, so one iteration visibly changes them.
    state = state.set(layer.uv_index, (jnp.ones(4) / 2, jnp.ones(4) / 2))
    _, trained = layer(jnp.ones(4), state)
    u1, v1 = trained.get(layer.uv_index)
    ref_u = _normalise(linear.weight @ (jnp.ones(4) / 2))
    ref_v = _normalise(linear.weight.T @ ref_u)
    assert np.allclose(u1, ref_u, atol=1e-6)
    assert np.allclose(v1, ref_v, atol=1e-6)
    _, same = eqx_nn.inference_mode(layer)(jnp.ones(4), trained)
    assert np.array_equal(same.get(layer.uv_index)[0], u1)


def _clone(state: eqx_nn.State) -> eqx_nn.State:
    leaves, treedef = jax.tree_util.tree_flatten(state)
    return jax.tree_util.tree_unflatten(treedef, leaves)


def test_gradient_does_not_flow_through_power_iteration() -> None:
    linear = eqx_nn.Linear(3, 2, key=jr.key(0))
    layer, state = eqx_nn.make_with_state(eqx_nn.SpectralNorm)(linear, "weight", key=jr.key(1))
    x = jnp.array([1.0, -2.0, 0.5])
    _u0, v0 = state.get(layer.uv_index)

    def model_loss(weight: jax.Array) -> jax.Array:
        lyr = eqx_tree.tree_at(lambda s: s.layer.weight, layer, weight)
        out, _ = lyr(x, _clone(state))  # each call consumes its state
        return jnp.sum(out)

    def reference(weight: jax.Array) -> jax.Array:
        frozen = jax.lax.stop_gradient(weight)
        u = _normalise(frozen @ v0)
        v = _normalise(frozen.T @ u)
        sigma = u @ weight @ v
        return jnp.sum((weight / sigma) @ x + linear.bias)

    got = jax.grad(model_loss)(linear.weight)
    assert np.allclose(got, jax.grad(reference)(linear.weight), atol=1e-5)
    assert np.allclose(model_loss(linear.weight), reference(linear.weight), atol=1e-6)
