import dataclasses
import inspect

import jax
import jax.numpy as jnp
import jax.random as jr
import numpy as np
import pytest

from eqx_nn import Embedding

KEY = jr.key(5)


def test_embedding_signature_and_fields():
    sig = inspect.signature(Embedding)
    assert list(sig.parameters) == ["num_embeddings", "embedding_size", "weight", "dtype", "key"]
    assert sig.parameters["key"].default is None
    fields = dataclasses.fields(Embedding)
    assert [(f.name, bool(f.metadata.get("static", False))) for f in fields] == [
        ("num_embeddings", True), ("embedding_size", True), ("weight", False),
    ]  # fmt: skip


def test_embedding_init_is_standard_normal_from_key():
    emb = Embedding(5, 3, key=KEY)
    np.testing.assert_array_equal(emb.weight, jr.normal(KEY, (5, 3)))


def test_embedding_looks_up_rows():
    weight = jnp.arange(12.0).reshape(4, 3)
    emb = Embedding(weight=weight)
    assert (emb.num_embeddings, emb.embedding_size) == (4, 3)
    np.testing.assert_array_equal(emb(jnp.array(2)), [6.0, 7.0, 8.0])
    np.testing.assert_array_equal(jax.vmap(emb)(jnp.array([0, 3])), weight[jnp.array([0, 3])])


@pytest.mark.parametrize(
    "kwargs", [{"num_embeddings": 3, "embedding_size": 2}, {"num_embeddings": 3, "key": KEY}, {}]
)
def test_embedding_without_weight_needs_sizes_and_key(kwargs):
    with pytest.raises(ValueError, match="Must provide"):
        Embedding(**kwargs)


def test_embedding_rejects_negative_sizes():
    with pytest.raises(ValueError, match=r"num_embeddings.*-1"):
        Embedding(-1, 2, key=KEY)
    with pytest.raises(ValueError, match=r"embedding_size.*-2"):
        Embedding(1, -2, key=KEY)


def test_embedding_rejects_bad_weight():
    with pytest.raises(ValueError, match=r"2-dimensional.*\(4,\)"):
        Embedding(weight=jnp.ones(4))
    with pytest.raises(ValueError, match=r"\(4, 3\).*\(5, 3\)"):
        Embedding(5, weight=jnp.ones((4, 3)))


@pytest.mark.usefixtures("not_under_import_hook")
def test_embedding_rejects_non_scalar_index_suggesting_vmap():
    with pytest.raises(ValueError, match=r"scalar.*jax.vmap"):
        Embedding(3, 2, key=KEY)(jnp.array([0, 1]))


def test_embedding_dtype_and_transforms():
    emb = Embedding(4, 2, dtype=jnp.bfloat16, key=KEY)
    assert emb(jnp.array(1)).dtype == jnp.bfloat16
    emb = Embedding(4, 2, key=KEY)
    grad = jax.grad(lambda m: jnp.sum(m(jnp.array(1))))(emb)
    np.testing.assert_array_equal(grad.weight, [[0, 0], [1, 1], [0, 0], [0, 0]])
    np.testing.assert_array_equal(jax.jit(lambda m, i: m(i))(emb, jnp.array(3)), emb.weight[3])


def _x64():
    return jax.enable_x64(True) if hasattr(jax, "enable_x64") else jax.experimental.enable_x64()


def test_embedding_defaults_to_float64_under_x64():
    with _x64():
        emb = Embedding(3, 2, key=KEY)
        assert emb.weight.dtype == jnp.float64
        assert emb(1).dtype == jnp.float64


def test_embedding_with_numpy_weight_returns_a_jax_array():
    table = np.arange(6.0, dtype=np.float32).reshape(3, 2)
    row = Embedding(weight=table)(jnp.array(2))
    assert isinstance(row, jax.Array)
    np.testing.assert_array_equal(row, table[2])


@pytest.mark.parametrize("index", [5, -6, jnp.array(9), np.int64(5)])
def test_a_concrete_out_of_range_index_is_an_index_error_naming_it_and_the_vocabulary(index):
    embedding = Embedding(5, 3, key=jr.key(0))
    with pytest.raises(
        IndexError, match=rf"index {int(index)} is out of range for a vocabulary of size 5"
    ):
        embedding(index)


def test_in_range_indices_and_a_traced_index_keep_jax_semantics():
    embedding = Embedding(5, 3, key=jr.key(0))
    weight = np.asarray(embedding.weight)
    np.testing.assert_array_equal(embedding(4), weight[4])
    np.testing.assert_array_equal(embedding(-1), weight[-1])
    # A traced index cannot be checked: JAX clamps it, as plain indexing does.
    out = jax.jit(lambda i: embedding(i))(7)
    np.testing.assert_array_equal(out, jnp.asarray(weight)[7])
    out = jax.vmap(embedding)(jnp.array([0, 9]))
    np.testing.assert_array_equal(out, jnp.asarray(weight)[jnp.array([0, 9])])
