import jax
import jax.numpy as jnp
import jax.random as jr
import numpy as np
import pytest

from eqx_nn import Dropout
from eqx_nn._attention import dot_product_attention, dot_product_attention_weights


def _softmax(z):
    z = z - z.max(axis=-1, keepdims=True)
    e = np.exp(z)
    return e / e.sum(axis=-1, keepdims=True)


def _qkv(seed=0, q_seq=3, kv_seq=4, d=5):
    k1, k2, k3 = jr.split(jr.key(seed), 3)
    return jr.normal(k1, (q_seq, d)), jr.normal(k2, (kv_seq, d)), jr.normal(k3, (kv_seq, 2))


def test_weights_are_softmax_of_scaled_dot_products():
    q, k, _ = _qkv()
    expected = _softmax(np.asarray(q) @ np.asarray(k).T / np.sqrt(5))
    np.testing.assert_allclose(dot_product_attention_weights(q, k), expected, rtol=1e-5)


def test_masked_entries_get_zero_weight():
    q, k, _ = _qkv()
    mask = jnp.array([[True, False, True, True]] * 3)
    w = dot_product_attention_weights(q, k, mask)
    logits = np.asarray(q) @ np.asarray(k).T / np.sqrt(5)
    logits[:, 1] = -np.inf
    np.testing.assert_allclose(w, _softmax(logits), rtol=1e-5, atol=1e-7)


def test_mask_of_wrong_shape_names_expected_shape():
    q, k, _ = _qkv()
    with pytest.raises(ValueError, match=r"\(3, 4\).*\(4, 3\)"):
        dot_product_attention_weights(q, k, jnp.ones((4, 3), bool))


def test_attention_is_weights_times_value():
    q, k, v = _qkv()
    w = _softmax(np.asarray(q) @ np.asarray(k).T / np.sqrt(5))
    np.testing.assert_allclose(dot_product_attention(q, k, v), w @ np.asarray(v), rtol=1e-5)


def test_attention_applies_dropout_to_weights():
    q, k, v = _qkv()
    key = jr.key(1)
    out = dot_product_attention(q, k, v, dropout=Dropout(0.5), key=key)
    w = Dropout(0.5)(dot_product_attention_weights(q, k), key=key)
    np.testing.assert_allclose(out, np.asarray(w) @ np.asarray(v), rtol=1e-5)
    np.testing.assert_allclose(
        dot_product_attention(q, k, v, dropout=Dropout(0.5), inference=True),
        dot_product_attention(q, k, v),
        rtol=1e-6,
    )


@pytest.mark.parametrize("dtype", [jnp.float16, jnp.bfloat16])
def test_low_precision_softmax_runs_in_float32_and_casts_back(dtype):
    q, k, v = (a.astype(dtype) for a in _qkv())
    w = dot_product_attention_weights(q, k)
    assert w.dtype == dtype
    assert dot_product_attention(q, k, v).dtype == dtype
    expected = _softmax(np.asarray(q, np.float32) @ np.asarray(k, np.float32).T / np.sqrt(5))
    np.testing.assert_allclose(np.asarray(w, np.float32), expected, rtol=2e-2, atol=2e-2)


def test_attention_under_jit_and_grad():
    q, k, v = _qkv()
    np.testing.assert_allclose(
        jax.jit(dot_product_attention)(q, k, v), dot_product_attention(q, k, v), rtol=1e-6
    )
    g = jax.grad(lambda v: jnp.sum(dot_product_attention(q, k, v)))(v)
    np.testing.assert_allclose(
        g,
        np.broadcast_to(np.asarray(dot_product_attention_weights(q, k)).sum(0)[:, None], (4, 2)),
        rtol=1e-5,
    )
