import io
import os
import pathlib

import jax
import jax.numpy as jnp
import jax.tree_util as jtu
import numpy as np
import pytest

from eqx_tree import (
    TreePathError,
    default_deserialise_filter_spec,
    default_serialise_filter_spec,
    tree_deserialise_leaves,
    tree_equal,
    tree_serialise_leaves,
)

JAX_DTYPES = [
    jnp.float16,
    jnp.float32,
    jnp.bfloat16,
    jnp.int8,
    jnp.int16,
    jnp.int32,
    jnp.uint8,
    jnp.uint16,
    jnp.uint32,
    jnp.bool_,
    jnp.complex64,
]
X64_DTYPES = [jnp.float64, jnp.int64, jnp.uint64, jnp.complex128]


def _enable_x64():
    """`jax.enable_x64` where it exists (newer JAX), else the experimental spelling."""
    if hasattr(jax, "enable_x64"):
        return jax.enable_x64(True)
    from jax.experimental import enable_x64

    return enable_x64()


def _roundtrip(tree, like=None):
    f = io.BytesIO()
    tree_serialise_leaves(f, tree)
    f.seek(0)
    return tree_deserialise_leaves(f, tree if like is None else like)


@pytest.mark.parametrize("dtype", JAX_DTYPES, ids=lambda d: np.dtype(d).name)
def test_jax_arrays_of_every_dtype_round_trip(dtype):
    x = jnp.arange(6).reshape(2, 3).astype(dtype)
    out = _roundtrip({"x": x})
    assert isinstance(out["x"], jax.Array)
    assert out["x"].dtype == x.dtype
    assert np.array_equal(np.asarray(out["x"]), np.asarray(x))


@pytest.mark.parametrize("dtype", X64_DTYPES, ids=lambda d: np.dtype(d).name)
def test_64_bit_dtypes_round_trip_under_x64(dtype):
    with _enable_x64():
        x = jnp.arange(4).astype(dtype)
        out = _roundtrip([x])
        assert out[0].dtype == np.dtype(dtype)
        assert np.array_equal(np.asarray(out[0]), np.asarray(x))


@pytest.mark.parametrize("dtype", [np.float64, np.int64, np.uint64, np.complex128, np.bool_])
def test_numpy_arrays_round_trip_unchanged(dtype):
    x = np.arange(4).astype(dtype)
    out = _roundtrip([x])
    assert type(out[0]) is np.ndarray
    assert out[0].dtype == x.dtype and np.array_equal(out[0], x)


def test_python_and_numpy_scalars_keep_their_type():
    tree = [1, 2.5, True, 1 + 2j, np.float32(3.5), np.int16(7)]
    out = _roundtrip(tree, like=[0, 0.0, False, 0j, np.float32(0), np.int16(0)])
    assert out == tree
    assert [type(x) for x in out] == [type(x) for x in tree]


def test_non_array_leaves_are_skipped_and_kept_by_identity():
    fn, obj = (lambda x: x), object()
    f = io.BytesIO()
    tree_serialise_leaves(f, {"fn": fn, "w": jnp.ones(2), "name": "mlp"})
    assert f.getvalue().count(b"\x93NUMPY") == 1
    f.seek(0)
    out = tree_deserialise_leaves(f, {"fn": obj, "w": jnp.zeros(2), "name": "other"})
    assert out["fn"] is obj and out["name"] == "other"
    assert np.array_equal(out["w"], np.ones(2))


def test_stream_is_one_npy_record_per_leaf_in_flatten_order():
    tree = {"b": np.arange(3), "a": np.ones((2, 2), np.float32)}
    f = io.BytesIO()
    tree_serialise_leaves(f, tree)
    f.seek(0)
    records = [np.load(f) for _ in jtu.tree_leaves(tree)]
    assert f.read() == b""
    for record, leaf in zip(records, jtu.tree_leaves(tree), strict=True):
        assert np.array_equal(record, leaf) and record.dtype == leaf.dtype


def test_path_without_suffix_gets_eqx(tmp_path):
    tree_serialise_leaves(tmp_path / "model", [jnp.ones(2)])
    assert os.listdir(tmp_path) == ["model.eqx"]
    out = tree_deserialise_leaves(str(tmp_path / "model"), [jnp.zeros(2)])
    assert np.array_equal(out[0], np.ones(2))


def test_path_with_suffix_is_kept(tmp_path):
    tree_serialise_leaves(tmp_path / "model.bin", [jnp.ones(2)])
    assert os.listdir(tmp_path) == ["model.bin"]


def test_shape_dtype_struct_like_loads_a_jax_array(tmp_path):
    tree_serialise_leaves(tmp_path / "m.eqx", {"w": jnp.ones((2, 3), jnp.bfloat16)})
    like = {"w": jax.ShapeDtypeStruct((2, 3), jnp.bfloat16)}
    out = tree_deserialise_leaves(tmp_path / "m.eqx", like)
    assert isinstance(out["w"], jax.Array) and out["w"].dtype == jnp.bfloat16


def test_a_failed_write_leaves_the_previous_file_intact(tmp_path):
    path = tmp_path / "m.eqx"
    tree_serialise_leaves(path, [jnp.ones(3)])
    before = path.read_bytes()

    def fails_midway(f, x):
        if isinstance(x, str):
            raise RuntimeError("disk full")
        default_serialise_filter_spec(f, x)

    with pytest.raises(TreePathError):
        tree_serialise_leaves(path, [jnp.zeros(3), "boom"], filter_spec=fails_midway)
    assert path.read_bytes() == before
    assert os.listdir(tmp_path) == ["m.eqx"]  # no temporary file left behind


def test_leaf_errors_name_the_path_and_chain_the_cause():
    def bad(f, x):
        raise ValueError("boom")

    with pytest.raises(TreePathError, match=r"Error at leaf with path") as info:
        tree_serialise_leaves(
            io.BytesIO(), [1, {"a": 2}], filter_spec=[default_serialise_filter_spec, bad]
        )
    error = info.value
    assert error.path == (jtu.SequenceKey(1), jtu.DictKey("a"))
    assert "(SequenceKey(idx=1), DictKey(key='a'))" in str(error)
    assert "[1]['a']" in str(error)
    assert isinstance(error.__cause__, ValueError)


def test_nested_serialisation_errors_concatenate_paths_and_keep_the_original_cause():
    def inner_fails(f, x):
        raise ValueError("boom")

    def nested(f, x):  # a filter spec that serialises a subtree of its own
        tree_serialise_leaves(f, {"q": x}, filter_spec=inner_fails)

    with pytest.raises(TreePathError, match=r"Error at leaf with path") as info:
        tree_serialise_leaves(io.BytesIO(), [1, 2], filter_spec=[nested, nested])
    error = info.value
    assert error.path == (jtu.SequenceKey(0), jtu.DictKey("q"))
    assert "[0]['q']" in str(error)
    assert type(error.__cause__) is ValueError and str(error.__cause__) == "boom"


def test_written_files_get_the_permissions_of_a_plain_open(tmp_path):
    tree_serialise_leaves(tmp_path / "m.eqx", [jnp.ones(2)])
    with open(tmp_path / "plain", "wb"):
        pass
    mode = os.stat(tmp_path / "m.eqx").st_mode & 0o777
    assert mode == os.stat(tmp_path / "plain").st_mode & 0o777  # the umask decides, not 0o600


def test_a_file_object_is_written_in_place_without_a_suffix_or_temporary(tmp_path):
    with open(tmp_path / "raw", "wb") as f:
        tree_serialise_leaves(f, [jnp.ones(2)])
    assert os.listdir(tmp_path) == ["raw"]
    with open(tmp_path / "raw", "rb") as f:
        np.testing.assert_array_equal(np.load(f), np.ones(2, np.float32))


def test_filter_spec_prefix_maps_each_function_over_its_subtree():
    f = io.BytesIO()
    skip = lambda f, x: None
    tree_serialise_leaves(
        f,
        {"keep": jnp.ones(2), "skip": jnp.ones(5)},
        filter_spec={"keep": default_serialise_filter_spec, "skip": skip},
    )
    f.seek(0)
    out = tree_deserialise_leaves(
        f,
        {"keep": jnp.zeros(2), "skip": jnp.zeros(5)},
        filter_spec={"keep": default_deserialise_filter_spec, "skip": lambda f, x: x},
    )
    assert np.array_equal(out["keep"], np.ones(2)) and np.array_equal(out["skip"], np.zeros(5))


def test_changed_shape_is_an_error_naming_the_path_and_both_shapes():
    f = io.BytesIO()
    tree_serialise_leaves(f, {"w": jnp.ones(3)})
    f.seek(0)
    with pytest.raises(
        RuntimeError, match=r"Deserialised leaf at path .*has changed shape"
    ) as info:
        tree_deserialise_leaves(f, {"w": jnp.ones(4)})
    assert "(3,)" in str(info.value) and "(4,)" in str(info.value) and "['w']" in str(info.value)


def test_changed_dtype_is_an_error():
    f = io.BytesIO()
    tree_serialise_leaves(f, [jnp.ones(3, jnp.int32)])
    f.seek(0)
    with pytest.raises(RuntimeError, match="has changed dtype") as info:
        tree_deserialise_leaves(f, [jnp.ones(3, jnp.float32)])
    assert "int32" in str(info.value) and "float32" in str(info.value)


def test_a_bfloat16_record_loaded_into_a_float32_like_is_a_dtype_change():
    f = io.BytesIO()
    tree_serialise_leaves(f, {"w": jnp.ones(3, jnp.bfloat16)})
    f.seek(0)
    with pytest.raises(RuntimeError, match=r"Deserialised leaf at path .*has changed dtype"):
        tree_deserialise_leaves(f, {"w": jnp.ones(3, jnp.float32)})


def test_a_float64_record_is_not_silently_cast_into_a_float32_like():
    f = io.BytesIO()
    tree_serialise_leaves(f, [np.ones(3, np.float64)])
    f.seek(0)
    with pytest.raises(
        RuntimeError, match="has changed dtype: expected float32, the file has float64"
    ):
        tree_deserialise_leaves(f, [jnp.ones(3, jnp.float32)])


def test_changed_type_is_an_error():
    f = io.BytesIO()
    tree_serialise_leaves(f, [np.ones(3)])
    f.seek(0)
    with pytest.raises(RuntimeError, match="has changed type"):
        tree_deserialise_leaves(f, [np.ones(3)], filter_spec=lambda f, x: jnp.asarray(np.load(f)))


def test_too_few_records_is_an_error_for_the_first_missing_leaf():
    f = io.BytesIO()
    tree_serialise_leaves(f, [jnp.ones(2)])
    f.seek(0)
    with pytest.raises(TreePathError, match=r"\[1\]"):
        tree_deserialise_leaves(f, [jnp.ones(2), jnp.ones(2)])


def test_too_many_records_in_a_file_is_an_error(tmp_path):
    tree_serialise_leaves(tmp_path / "m.eqx", [jnp.ones(2), jnp.ones(2)])
    with pytest.raises(TreePathError, match="more records than `like` has leaves"):
        tree_deserialise_leaves(tmp_path / "m.eqx", [jnp.ones(2)])


def test_truncated_file_is_an_error_not_a_partial_tree(tmp_path):
    path = tmp_path / "m.eqx"
    tree_serialise_leaves(path, [jnp.ones(100), jnp.ones(100)])
    data = path.read_bytes()
    path.write_bytes(data[: len(data) - 50])
    with pytest.raises(TreePathError, match=r"\[1\]"):
        tree_deserialise_leaves(path, [jnp.zeros(100), jnp.zeros(100)])


def test_pickled_object_arrays_are_refused_and_run_no_code(tmp_path):
    marker = tmp_path / "pwned"

    class Exploit:
        def __reduce__(self):
            return (pathlib.Path.touch, (marker,))

    f = io.BytesIO()
    np.save(f, np.array([Exploit()], dtype=object), allow_pickle=True)
    f.seek(0)
    with pytest.raises(TreePathError, match="allow_pickle"):
        tree_deserialise_leaves(f, [np.zeros(1)])
    assert not marker.exists()


def test_round_trip_equals_the_original_tree():
    tree = {"layers": [jnp.ones((2, 3)), jnp.zeros(3)], "scale": 2.0, "act": jax.nn.relu}
    assert tree_equal(_roundtrip(tree), tree)


def test_the_default_deserialise_spec_called_directly_reports_a_dtype_change():
    f = io.BytesIO()
    np.save(f, np.ones(2, np.float64))
    f.seek(0)
    with pytest.raises(RuntimeError, match="has changed dtype: expected float32, the file has"):
        default_deserialise_filter_spec(f, jnp.zeros(2, jnp.float32))


def test_the_default_deserialise_spec_keeps_non_arrays_by_identity():
    marker = object()
    assert default_deserialise_filter_spec(io.BytesIO(), marker) is marker
    assert default_deserialise_filter_spec(io.BytesIO(), print) is print


@pytest.mark.parametrize("impl", ["threefry2x32", "rbg"])
def test_typed_prng_keys_round_trip_as_their_key_data(impl):
    keys = jax.random.split(jax.random.key(0, impl=impl), 3)
    f = io.BytesIO()
    tree_serialise_leaves(f, {"keys": keys})
    f.seek(0)
    np.testing.assert_array_equal(np.load(f), jax.random.key_data(keys))  # the record
    for like in (keys, jax.ShapeDtypeStruct(keys.shape, keys.dtype)):
        f.seek(0)
        out = tree_deserialise_leaves(f, {"keys": like})["keys"]
        assert out.dtype == keys.dtype and out.shape == (3,)
        np.testing.assert_array_equal(jax.random.key_data(out), jax.random.key_data(keys))
        assert jax.random.key_impl(out) == jax.random.key_impl(keys)


def test_keys_saved_from_another_shape_are_a_shape_change():
    f = io.BytesIO()
    tree_serialise_leaves(f, [jax.random.split(jax.random.key(0), 3)])
    f.seek(0)
    with pytest.raises(
        RuntimeError, match=r"Deserialised leaf at path .*has changed shape"
    ) as info:
        tree_deserialise_leaves(f, [jax.random.split(jax.random.key(0), 4)])
    assert "(4, 2)" in str(info.value) and "(3, 2)" in str(info.value)


def test_keys_loaded_from_a_float_record_are_a_dtype_change():
    f = io.BytesIO()
    tree_serialise_leaves(f, [jnp.ones(2)])
    f.seek(0)
    with pytest.raises(RuntimeError, match=r"has changed dtype: expected uint32 key data"):
        tree_deserialise_leaves(f, [jax.random.key(0)])


def test_is_leaf_applies_to_the_tree_not_to_the_filter_spec_prefix():
    def is_pair(x):
        return isinstance(x, list) and len(x) == 2

    skip = lambda f, x: None
    written = []

    def save_pair(f, pair):  # `is_leaf` makes each pair one leaf
        written.append(pair)
        default_serialise_filter_spec(f, jnp.stack(pair))

    f = io.BytesIO()
    tree = [[[1.0, 2.0]], [[3.0, 4.0]]]
    tree_serialise_leaves(f, tree, filter_spec=[save_pair, skip], is_leaf=is_pair)
    assert written == [[1.0, 2.0]]
    f.seek(0)
    np.testing.assert_array_equal(np.load(f), [1.0, 2.0])
    assert f.read() == b""
