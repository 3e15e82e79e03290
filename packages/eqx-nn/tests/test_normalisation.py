import dataclasses
import inspect

import jax
import jax.numpy as jnp
import jax.random as jr
import numpy as np
import pytest

from eqx_nn import GroupNorm, LayerNorm, RMSNorm
from eqx_tree import EqxDeprecationWarning


def _fields(cls):
    return [(f.name, bool(f.metadata.get("static", False))) for f in dataclasses.fields(cls)]


def _x64():
    return jax.enable_x64(True) if hasattr(jax, "enable_x64") else jax.experimental.enable_x64()


def test_norm_signatures_and_fields():
    assert list(inspect.signature(LayerNorm).parameters) == [
        "shape", "eps", "use_weight", "use_bias", "dtype", "elementwise_affine",
    ]  # fmt: skip
    assert list(inspect.signature(RMSNorm).parameters) == [
        "shape",
        "eps",
        "use_weight",
        "use_bias",
        "dtype",
    ]
    assert list(inspect.signature(GroupNorm).parameters) == [
        "groups",
        "channels",
        "eps",
        "channelwise_affine",
        "dtype",
    ]
    expected = [
        ("shape", True),
        ("eps", True),
        ("use_weight", True),
        ("use_bias", True),
        ("weight", False),
        ("bias", False),
    ]
    assert _fields(LayerNorm) == expected
    assert _fields(RMSNorm) == expected
    assert _fields(GroupNorm) == [
        ("groups", True), ("channels", True), ("eps", True), ("channelwise_affine", True),
        ("weight", False), ("bias", False),
    ]  # fmt: skip
    for cls in (LayerNorm, RMSNorm, GroupNorm):
        call = inspect.signature(cls.__call__).parameters
        assert list(call) == ["self", "x", "state", "key"]


def test_layer_norm_matches_formula_with_affine():
    x = np.asarray(jr.normal(jr.key(0), (2, 3)))
    norm = LayerNorm((2, 3), eps=1e-3)
    assert norm.shape == (2, 3)
    norm = jax.tree_util.tree_map(lambda a: a * 0 + jnp.arange(6.0).reshape(2, 3), norm)
    expected = (x - x.mean()) / np.sqrt(x.var() + 1e-3) * np.arange(6.0).reshape(2, 3) + np.arange(
        6.0
    ).reshape(2, 3)
    np.testing.assert_allclose(norm(jnp.asarray(x)), expected, rtol=1e-5, atol=1e-6)


def test_layer_norm_int_shape_and_flags():
    norm = LayerNorm(4, use_weight=False, use_bias=False)
    assert norm.shape == (4,)
    assert norm.weight is None
    assert norm.bias is None
    np.testing.assert_array_equal(LayerNorm(3).weight, np.ones(3))
    np.testing.assert_array_equal(LayerNorm(3).bias, np.zeros(3))


def test_layer_norm_elementwise_affine_is_deprecated_and_sets_both_flags():
    with pytest.warns(EqxDeprecationWarning, match="elementwise_affine"):
        norm = LayerNorm(3, elementwise_affine=False)
    assert norm.use_weight is False
    assert norm.use_bias is False


@pytest.mark.parametrize("cls", [LayerNorm, RMSNorm])
def test_shape_mismatch_shows_both_shapes_and_suggests_vmap(cls):
    with pytest.raises(ValueError, match=r"shape=\(3,\).*x.shape=\(2, 3\).*jax.vmap"):
        cls(3)(jnp.ones((2, 3)))


def test_rms_norm_matches_formula_and_has_bias_by_default():
    x = np.array([3.0, -4.0, 1.0])
    norm = RMSNorm(3)
    assert norm.bias is not None
    assert norm.use_bias is True
    expected = x / np.sqrt(np.mean(x**2) + 1e-5)
    np.testing.assert_allclose(norm(jnp.asarray(x, jnp.float32)), expected, rtol=1e-5)
    norm = jax.tree_util.tree_map(lambda a: a + 2.0, norm)
    np.testing.assert_allclose(norm(jnp.asarray(x, jnp.float32)), expected * 3 + 2, rtol=1e-5)


def test_group_norm_matches_formula():
    x = np.asarray(jr.normal(jr.key(1), (4, 3)))
    norm = GroupNorm(2, 4)
    norm = jax.tree_util.tree_map(lambda a: a + jnp.arange(4.0), norm)
    expected = np.empty_like(x)
    for g in range(2):
        block = x[2 * g : 2 * g + 2]
        expected[2 * g : 2 * g + 2] = (block - block.mean()) / np.sqrt(block.var() + 1e-5)
    w = np.arange(4.0)[:, None]
    np.testing.assert_allclose(norm(jnp.asarray(x)), expected * (1 + w) + w, rtol=1e-5, atol=1e-5)


def test_group_norm_without_affine_and_without_channels():
    norm = GroupNorm(2, channelwise_affine=False)
    assert norm.weight is None
    assert norm.channels is None
    out = norm(jnp.arange(8.0).reshape(4, 2))
    np.testing.assert_allclose(out[:2].mean(), 0.0, atol=1e-6)


def test_group_norm_construction_errors():
    with pytest.raises(ValueError, match=r"groups=3.*channels=4"):
        GroupNorm(3, 4)
    with pytest.raises(ValueError, match="channels should be specified"):
        GroupNorm(2)


def test_group_norm_call_errors():
    with pytest.raises(ValueError, match=r"channels=4.*\(6, 2\)"):
        GroupNorm(2, 4)(jnp.ones((6, 2)))
    with pytest.raises(ValueError, match=r"groups \(4\).*channels.*\(6"):
        GroupNorm(4, channelwise_affine=False)(jnp.ones((6, 2)))


@pytest.mark.parametrize(
    "make", [lambda: LayerNorm(3), lambda: RMSNorm(3), lambda: GroupNorm(1, 3)]
)
def test_norms_return_state_unchanged_when_given(make):
    norm = make()
    state = object()
    x = jnp.array([1.0, 2.0, 4.0])
    out, same = norm(x, state)
    assert same is state
    np.testing.assert_allclose(out, norm(x), rtol=1e-6)


@pytest.mark.parametrize("dtype", [jnp.float16, jnp.bfloat16])
@pytest.mark.parametrize(
    "make", [lambda: LayerNorm(8), lambda: RMSNorm(8), lambda: GroupNorm(2, 8)]
)
def test_norms_compute_in_float32_and_cast_back(dtype, make):
    x = jnp.linspace(-300.0, 300.0, 8)
    out = make()(x.astype(dtype))
    assert out.dtype == dtype
    ref = make()(x)
    np.testing.assert_allclose(np.asarray(out, np.float32), ref, rtol=2e-2, atol=2e-2)


def test_norms_use_float64_under_x64():
    with _x64():
        norm = LayerNorm(3)
        assert norm.weight.dtype == jnp.float64
        assert norm(jnp.array([1.0, 2.0, 3.0])).dtype == jnp.float64


def test_norms_under_jit_vmap_and_grad():
    norm = LayerNorm(3)
    xs = jr.normal(jr.key(2), (4, 3))
    out = jax.jit(jax.vmap(norm))(xs)
    np.testing.assert_allclose(out[2], norm(xs[2]), rtol=1e-6)
    grads = jax.grad(lambda m: jnp.sum(m(xs[0]) * jnp.arange(3.0)))(norm)
    np.testing.assert_allclose(grads.bias, np.arange(3.0))
    gn = jax.vmap(GroupNorm(2, 4))(jr.normal(jr.key(3), (2, 4, 5)))
    assert gn.shape == (2, 4, 5)


def test_norms_accept_numpy_input():
    x = np.array([1.0, 2.0, 4.0], np.float32)
    np.testing.assert_allclose(LayerNorm(3)(x), LayerNorm(3)(jnp.asarray(x)))


def test_layer_norm_deprecation_warning_points_at_the_callers_line():
    with pytest.warns(EqxDeprecationWarning) as records:
        LayerNorm(3, elementwise_affine=True)
    assert records[0].filename == __file__


@pytest.mark.parametrize("make", [lambda: LayerNorm(2, eps=0), lambda: RMSNorm(2, eps=0)])
def test_norms_accept_an_integer_eps(make):
    x = jnp.array([1.0, 3.0])
    out = make()(x)
    assert out.dtype == jnp.float32
    assert bool(jnp.all(jnp.isfinite(out)))


def test_group_norm_accepts_an_integer_eps_and_matches_zero_eps_formula():
    x = jnp.array([[1.0, 2.0], [3.0, 5.0]])
    out = GroupNorm(1, 2, eps=0)(x)
    flat = np.asarray(x).reshape(-1)
    np.testing.assert_allclose(out, (np.asarray(x) - flat.mean()) / flat.std(), rtol=1e-6)
