import dataclasses

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from eqx_nn import RotaryPositionalEmbedding, _rope
from eqx_tree import clear_caches


def reference_rope(x, theta=10000.0):
    """RoPE by definition: rotate each pair (j, j + d/2) by t * theta^(-2j/d)."""
    x = np.asarray(x, np.float64)
    seq, d = x.shape
    half = d // 2
    out = np.empty_like(x)
    for t in range(seq):
        for j in range(half):
            angle = t * theta ** (-2 * j / d)
            a, b = x[t, j], x[t, j + half]
            out[t, j] = a * np.cos(angle) - b * np.sin(angle)
            out[t, j + half] = b * np.cos(angle) + a * np.sin(angle)
    return out


def test_rope_fields_are_static_with_defaults():
    fields = dataclasses.fields(RotaryPositionalEmbedding)
    assert [f.name for f in fields] == ["embedding_size", "theta", "dtype"]
    assert all(f.metadata.get("static") for f in fields)
    rope = RotaryPositionalEmbedding(4)
    assert rope.theta == 10000.0
    assert rope.dtype == jnp.float32
    assert jax.tree_util.tree_leaves(rope) == []


def test_rope_matches_definition():
    x = np.random.default_rng(0).normal(size=(5, 6)).astype(np.float32)
    out = RotaryPositionalEmbedding(6, theta=100.0)(jnp.asarray(x))
    np.testing.assert_allclose(out, reference_rope(x, 100.0), rtol=1e-5, atol=1e-5)


def test_rope_static_helpers():
    x = jnp.arange(4.0)[None]
    np.testing.assert_array_equal(
        RotaryPositionalEmbedding.rotate_half(x), [[-2.0, -3.0, 0.0, 1.0]]
    )
    cos, sin = RotaryPositionalEmbedding.precompute_freqs_cis(4, 3, 10000.0, jnp.float32)
    assert cos.shape == sin.shape == (3, 2)
    angles = np.arange(3)[:, None] * 10000.0 ** (-np.arange(0, 4, 2) / 4)[None]
    np.testing.assert_allclose(cos, np.cos(angles), rtol=1e-6)
    np.testing.assert_allclose(sin, np.sin(angles), rtol=1e-6)


@pytest.mark.parametrize("size", [3, -2])
def test_rope_rejects_odd_or_negative_size(size):
    with pytest.raises(ValueError, match="embedding_size"):
        RotaryPositionalEmbedding(size)


def test_rope_rejects_wrong_last_dimension():
    with pytest.raises(ValueError, match=r"\(seq_len, 4\).*\(3, 6\)"):
        RotaryPositionalEmbedding(4)(jnp.ones((3, 6)))


def test_rope_cache_keys_include_theta_grows_and_is_cleared():
    clear_caches()
    assert _rope._ROPE_CACHE == {}
    x = jnp.ones((3, 4))
    a = RotaryPositionalEmbedding(4, theta=10.0)(x)
    b = RotaryPositionalEmbedding(4, theta=1000.0)(x)
    assert not np.allclose(a, b)
    assert {k[:2] for k in _rope._ROPE_CACHE} == {(4, 10.0), (4, 1000.0)}
    RotaryPositionalEmbedding(4, theta=10.0)(jnp.ones((7, 4)))
    assert _rope._ROPE_CACHE[(4, 10.0, jnp.dtype(jnp.float32))][0].shape == (7, 2)
    clear_caches()
    assert _rope._ROPE_CACHE == {}


def test_rope_dtype_mismatch_under_strict_promotion_names_both_dtypes():
    with pytest.raises(Exception, match=r"float16.*float32") as info:
        RotaryPositionalEmbedding(4)(jnp.ones((2, 4), jnp.float16))
    assert "promot" in type(info.value).__name__.lower()


def test_rope_keeps_input_dtype():
    rope = RotaryPositionalEmbedding(4, dtype=jnp.bfloat16)
    assert rope(jnp.ones((2, 4), jnp.bfloat16)).dtype == jnp.bfloat16


def test_rope_under_jit_vmap_and_grad():
    rope = RotaryPositionalEmbedding(4)
    xs = jnp.arange(24.0).reshape(2, 3, 4)
    out = jax.jit(jax.vmap(rope))(xs)
    np.testing.assert_allclose(out[1], reference_rope(xs[1]), rtol=1e-5, atol=1e-4)
    # A rotation preserves the norm of each (j, j + d/2) pair, so d|x|^2 = 2x.
    grad = jax.grad(lambda x: jnp.sum(rope(x) ** 2))(xs[0])
    np.testing.assert_allclose(grad, 2 * xs[0], rtol=1e-5)


def _x64():
    return jax.enable_x64(True) if hasattr(jax, "enable_x64") else jax.experimental.enable_x64()


def test_rope_default_dtype_follows_x64_at_construction():
    with _x64():
        rope = RotaryPositionalEmbedding(4)
        assert rope.dtype == jnp.float64
        x = np.random.default_rng(1).normal(size=(3, 4))
        out = rope(jnp.asarray(x))
        assert out.dtype == jnp.float64
        np.testing.assert_allclose(out, reference_rope(x, 10000.0), rtol=1e-12, atol=1e-12)
