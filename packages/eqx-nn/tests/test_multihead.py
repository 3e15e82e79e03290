import dataclasses
import inspect

import jax
import jax.numpy as jnp
import jax.random as jr
import numpy as np
import pytest

from eqx_filter import combine, is_inexact_array, partition
from eqx_nn import Linear, MultiheadAttention
from eqx_tree import EqxDeprecationWarning

KEY = jr.key(6)


def _softmax(z):
    e = np.exp(z - z.max(axis=-1, keepdims=True))
    return e / e.sum(axis=-1, keepdims=True)


def reference_mha(m, q, k, v, mask=None):
    """softmax(Q Kᵀ / √d) V per head, written out with NumPy."""

    def proj(layer, x):
        out = np.asarray(x) @ np.asarray(layer.weight).T
        return out if layer.bias is None else out + np.asarray(layer.bias)

    h = m.num_heads
    qh = proj(m.query_proj, q).reshape(len(q), h, -1)
    kh = proj(m.key_proj, k).reshape(len(k), h, -1)
    vh = proj(m.value_proj, v).reshape(len(v), h, -1)
    heads = []
    for i in range(h):
        logits = qh[:, i] @ kh[:, i].T / np.sqrt(qh.shape[-1])
        if mask is not None:
            head_mask = mask[i] if mask.ndim == 3 else mask
            logits = np.where(head_mask, logits, -np.inf)
        heads.append(_softmax(logits) @ vh[:, i])
    return proj(m.output_proj, np.stack(heads, axis=1).reshape(len(q), -1))


def test_multihead_signature_and_fields():
    params = list(inspect.signature(MultiheadAttention).parameters)
    assert params == [
        "num_heads", "query_size", "key_size", "value_size", "output_size", "qk_size", "vo_size",
        "use_query_bias", "use_key_bias", "use_value_bias", "use_output_bias", "dropout_p",
        "inference", "dtype", "key",
    ]  # fmt: skip
    fields = dataclasses.fields(MultiheadAttention)
    assert [f.name for f in fields] == [
        "query_proj", "key_proj", "value_proj", "output_proj", "dropout", "num_heads",
        "query_size", "key_size", "value_size", "output_size", "qk_size", "vo_size",
        "use_query_bias", "use_key_bias", "use_value_bias", "use_output_bias",
    ]  # fmt: skip
    assert [bool(f.metadata.get("static", False)) for f in fields] == [False] * 5 + [True] * 11
    call = inspect.signature(MultiheadAttention.__call__).parameters
    assert list(call) == [
        "self",
        "query",
        "key_",
        "value",
        "mask",
        "key",
        "inference",
        "deterministic",
        "process_heads",
    ]


def test_multihead_init_sizes_and_key_split():
    m = MultiheadAttention(
        2, 6, key_size=4, value_size=3, output_size=5, use_key_bias=True, key=KEY
    )
    assert (m.qk_size, m.vo_size) == (3, 3)
    q, k, v, o = jr.split(KEY, 4)
    np.testing.assert_array_equal(m.query_proj.weight, Linear(6, 6, False, key=q).weight)
    np.testing.assert_array_equal(m.key_proj.weight, Linear(4, 6, True, key=k).weight)
    np.testing.assert_array_equal(m.value_proj.weight, Linear(3, 6, False, key=v).weight)
    np.testing.assert_array_equal(m.output_proj.weight, Linear(6, 5, False, key=o).weight)
    assert m.key_proj.bias is not None
    assert m.query_proj.bias is None
    assert m.dropout.p == 0.0
    assert m.dropout.inference is False


def test_multihead_matches_reference():
    m = MultiheadAttention(2, 4, key_size=3, value_size=5, output_size=6, qk_size=3, vo_size=2,
                           use_query_bias=True, use_output_bias=True, key=KEY)  # fmt: skip
    k1, k2, k3 = jr.split(jr.key(0), 3)
    q, k, v = jr.normal(k1, (3, 4)), jr.normal(k2, (5, 3)), jr.normal(k3, (5, 5))
    np.testing.assert_allclose(m(q, k, v), reference_mha(m, q, k, v), rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize("per_head", [False, True])
def test_multihead_masks(per_head):
    m = MultiheadAttention(2, 4, key=KEY)
    x = jr.normal(jr.key(1), (3, 4))
    rng = np.random.default_rng(0)
    mask = rng.random((2, 3, 3) if per_head else (3, 3)) > 0.4
    mask[..., 0] = True
    np.testing.assert_allclose(
        m(x, x, x, jnp.asarray(mask)), reference_mha(m, x, x, x, mask), rtol=1e-5, atol=1e-5
    )


def test_multihead_rejects_bad_mask_shape():
    m = MultiheadAttention(2, 4, key=KEY)
    x = jnp.ones((3, 4))
    with pytest.raises(ValueError, match=r"\(3, 3\).*\(2, 3, 3\).*\(3, 2\)"):
        m(x, x, x, jnp.ones((3, 2), bool))


def test_multihead_rejects_different_key_and_value_lengths():
    m = MultiheadAttention(2, 4, key=KEY)
    with pytest.raises(ValueError, match="equal length"):
        m(jnp.ones((3, 4)), jnp.ones((3, 4)), jnp.ones((2, 4)))


def test_multihead_rejects_batched_input_suggesting_vmap():
    m = MultiheadAttention(2, 4, key=KEY)
    with pytest.raises(ValueError, match=r"query.*\(seq_len, 4\).*jax.vmap"):
        m(jnp.ones((2, 3, 4)), jnp.ones((3, 4)), jnp.ones((3, 4)))


def test_process_heads_can_rewrite_heads_but_not_shapes():
    m = MultiheadAttention(2, 4, key=KEY)
    x = jr.normal(jr.key(2), (3, 4))
    zero_q = m(x, x, x, process_heads=lambda q, k, v: (jnp.zeros_like(q), k, v))
    # With zero queries attention is uniform: every row is the mean of the values.
    # (the query projection has no bias, so a zero query input gives the same heads).
    np.testing.assert_allclose(
        zero_q, reference_mha(m, np.zeros((3, 4)), x, x), rtol=1e-5, atol=1e-6
    )
    np.testing.assert_allclose(zero_q[0], zero_q[1], rtol=1e-5)
    with pytest.raises(ValueError, match="must not change the shape"):
        m(x, x, x, process_heads=lambda q, k, v: (q[:, :1], k, v))


def test_multihead_dropout_uses_key_and_inference():
    m = MultiheadAttention(2, 4, dropout_p=0.5, key=KEY)
    x = jr.normal(jr.key(3), (3, 4))
    with pytest.raises(RuntimeError, match="Dropout requires a key"):
        m(x, x, x)
    a = m(x, x, x, key=jr.key(0))
    b = m(x, x, x, key=jr.key(1))
    assert not np.allclose(a, b)
    np.testing.assert_allclose(
        m(x, x, x, inference=True), reference_mha(m, x, x, x), rtol=1e-5, atol=1e-5
    )
    with pytest.warns(EqxDeprecationWarning, match="deterministic"):
        m(x, x, x, deterministic=True)


def test_multihead_dtype_and_transforms():
    m = MultiheadAttention(2, 4, dtype=jnp.float16, key=KEY)
    assert (
        m(
            jnp.ones((2, 4), jnp.float16),
            jnp.ones((3, 4), jnp.float16),
            jnp.ones((3, 4), jnp.float16),
        ).dtype
        == jnp.float16
    )
    m = MultiheadAttention(2, 4, key=KEY)
    xs = jr.normal(jr.key(4), (2, 3, 4))
    out = jax.jit(jax.vmap(lambda x: m(x, x, x)))(xs)
    np.testing.assert_allclose(out[1], reference_mha(m, xs[1], xs[1], xs[1]), rtol=1e-5, atol=1e-5)
    params, static = partition(m, is_inexact_array)
    grads = jax.grad(lambda p: jnp.sum(combine(p, static)(xs[0], xs[0], xs[0]) ** 2))(params)
    assert grads.query_proj.weight.shape == (4, 4)


def _x64():
    return jax.enable_x64(True) if hasattr(jax, "enable_x64") else jax.experimental.enable_x64()


def test_multihead_defaults_to_float64_under_x64():
    with _x64():
        mha = MultiheadAttention(2, 4, key=KEY)
        assert {
            leaf.dtype for leaf in jax.tree_util.tree_leaves(mha) if hasattr(leaf, "dtype")
        } == {jnp.dtype(jnp.float64)}
        x = jnp.ones((3, 4))
        assert mha(x, x, x).dtype == jnp.float64


def test_multihead_deprecation_warning_points_at_the_callers_line():
    mha = MultiheadAttention(1, 2, key=KEY)
    x = jnp.ones((2, 2))
    with pytest.warns(EqxDeprecationWarning) as records:
        mha(x, x, x, deterministic=True)
    assert records[0].filename == __file__
