"""Which leaves are stored, how they are named, and how they come back."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from eqx_tree._checkpoint_leaves import (
    LeafSpec,
    check_storable,
    escape_part,
    key_name,
    leaf_spec,
    named_leaves,
    restore_leaf,
    to_numpy,
)


def test_key_name_gives_the_bare_attribute_index_or_key() -> None:
    assert key_name(jax.tree_util.GetAttrKey("weight")) == "weight"
    assert key_name(jax.tree_util.SequenceKey(2)) == "2"
    assert key_name(jax.tree_util.DictKey("bias")) == "bias"
    assert key_name(jax.tree_util.DictKey(3)) == "3"
    assert key_name(jax.tree_util.FlattenedIndexKey(1)) == "1"


def test_escape_part_encodes_the_escape_character_then_the_separator() -> None:
    assert escape_part("weight", ".") == "weight"
    assert escape_part("a.b", ".") == "a%2Eb"
    assert escape_part("100%.", ".") == "100%25%2E"
    assert escape_part("a::b", "::") == "a%3A%3Ab"
    assert escape_part("a→b", "→") == "a%E2%86%92b"


def test_leaf_spec_of_arrays_and_shape_dtype_structs() -> None:
    assert leaf_spec(jnp.ones((2, 3))) == LeafSpec("array", (2, 3), np.dtype(np.float32))
    assert leaf_spec(np.int8(1)) == LeafSpec("array", (), np.dtype(np.int8))
    assert leaf_spec(jax.ShapeDtypeStruct((4,), jnp.bfloat16)) == LeafSpec(
        "array", (4,), np.dtype(jnp.bfloat16)
    )


def test_leaf_spec_of_python_scalars_uses_their_64_bit_dtype() -> None:
    assert leaf_spec(True) == LeafSpec("bool", (), np.dtype(np.bool_))
    assert leaf_spec(3) == LeafSpec("int", (), np.dtype(np.int64))
    assert leaf_spec(0.5) == LeafSpec("float", (), np.dtype(np.float64))
    assert leaf_spec(1j) == LeafSpec("complex", (), np.dtype(np.complex128))


def test_leaf_spec_is_none_for_leaves_that_are_not_stored() -> None:
    assert leaf_spec("text") is None
    assert leaf_spec(jax.nn.relu) is None
    assert leaf_spec(object()) is None


def test_named_leaves_skip_unstored_leaves_and_keep_flatten_indices() -> None:
    named = named_leaves({"a": jax.nn.relu, "b": [np.ones(1), "x", 2.0]})
    assert [(n.name, n.keystr, n.index) for n in named] == [
        ("b.0", "['b'][0]", 1),
        ("b.2", "['b'][2]", 3),
    ]


def test_check_storable_rejects_shape_dtype_structs() -> None:
    (named,) = named_leaves({"w": jax.ShapeDtypeStruct((1,), jnp.float32)})
    with pytest.raises(TypeError, match=r"leaf at \['w'\] is a ShapeDtypeStruct"):
        check_storable(named)


def test_check_storable_accepts_int64_bounds_and_rejects_beyond() -> None:
    low, high, beyond = named_leaves([-(2**63), 2**63 - 1, 2**63])
    assert check_storable(low).kind == "int"
    assert check_storable(high).kind == "int"
    with pytest.raises(ValueError, match=r"Python int at \[2\] is 9223372036854775808"):
        check_storable(beyond)


def test_to_numpy_converts_python_scalars_to_0d_arrays_of_their_kind() -> None:
    (named,) = named_leaves([True])
    array = to_numpy(named, check_storable(named))
    assert array.dtype == np.bool_
    assert array.shape == ()


def test_restore_leaf_returns_like_s_kind_of_leaf() -> None:
    value = np.array(3, np.int64)
    assert type(restore_leaf(0, value)) is int
    assert type(restore_leaf(np.int64(0), value)) is np.int64
    assert type(restore_leaf(np.zeros(()), value)) is np.ndarray
    assert isinstance(restore_leaf(jnp.zeros((), jnp.int32), value.astype(np.int32)), jax.Array)
    assert isinstance(restore_leaf(jax.ShapeDtypeStruct((), jnp.int32), value), jax.Array)
