"""tree_save / tree_load: round trips, checks against `like`, safety, interop, shardings."""

import dataclasses
import importlib
import inspect
import json
import os
import pathlib
import struct
import subprocess
import sys
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np
import pytest
import xxhash
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import eqx_tree
from eqx_tree import (
    CheckpointFormatError,
    CheckpointMismatchError,
    LoadReport,
    _safetensors_format,
    tree_load,
    tree_load_metadata,
    tree_save,
    tree_to_flat_dict,
)


@jax.tree_util.register_dataclass
@dataclasses.dataclass
class _Linear:
    weight: jax.Array
    bias: jax.Array


@jax.tree_util.register_dataclass
@dataclasses.dataclass
class _Model:
    layers: list[_Linear]
    scale: float
    activation: Any = dataclasses.field(default=jax.nn.relu, metadata={"static": True})


def _model(offset: float = 0.0) -> _Model:
    return _Model(
        layers=[
            _Linear(jnp.arange(6.0).reshape(2, 3) + offset, jnp.zeros(2) + offset),
            _Linear(jnp.ones((1, 2)) + offset, jnp.full((1,), 0.5) + offset),
        ],
        scale=2.5,
    )


def _assert_trees_equal(a: Any, b: Any) -> None:
    leaves_a, treedef_a = jax.tree_util.tree_flatten(a)
    leaves_b, treedef_b = jax.tree_util.tree_flatten(b)
    assert treedef_a == treedef_b
    for x, y in zip(leaves_a, leaves_b, strict=True):
        assert type(x) is type(y), (type(x), type(y))
        if isinstance(x, jax.Array | np.ndarray | np.generic):
            assert x.dtype == y.dtype
            assert x.shape == y.shape
            np.testing.assert_array_equal(np.asarray(x), np.asarray(y))
        else:
            assert x == y


@pytest.fixture
def ckpt(tmp_path: pathlib.Path) -> pathlib.Path:
    return tmp_path / "model.safetensors"


# --- round trips -----------------------------------------------------------------------


def test_round_trip_restores_arrays_and_keeps_non_array_leaves_from_like(
    ckpt: pathlib.Path,
) -> None:
    tree_save(ckpt, _model(offset=1.0))
    loaded = tree_load(ckpt, _model())
    _assert_trees_equal(loaded, _model(offset=1.0))
    assert loaded.activation is jax.nn.relu


def test_python_scalars_load_back_as_their_python_kind(ckpt: pathlib.Path) -> None:
    tree = {"b": True, "i": -(2**40), "f": 0.1, "c": 1.5 - 2j}
    tree_save(ckpt, tree)
    loaded = tree_load(ckpt, {"b": False, "i": 0, "f": 0.0, "c": 0j})
    assert loaded == tree
    assert {key: type(value) for key, value in loaded.items()} == {
        "b": bool,
        "i": int,
        "f": float,
        "c": complex,
    }


def test_python_scalar_kinds_are_recorded_in_the_header(ckpt: pathlib.Path) -> None:
    tree_save(ckpt, {"b": True, "i": 3, "f": 0.5, "c": 1j, "a": np.ones(2, np.complex128)})
    header = _read_header(ckpt)
    kinds = json.loads(header["__metadata__"]["leaf_kinds"])
    assert kinds == {"b": "bool", "i": "int", "f": "float", "c": "complex", "a": "complex128"}
    assert header["i"]["dtype"] == "I64"
    assert header["f"]["dtype"] == "F64"
    assert header["c"] == {**header["c"], "dtype": "F64", "shape": [2]}
    assert header["a"]["shape"] == [2, 2]


def test_numpy_leaves_load_as_numpy_and_jax_leaves_as_jax(ckpt: pathlib.Path) -> None:
    tree = {"n": np.arange(3, dtype=np.int16), "g": np.float16(1.5), "j": jnp.arange(2)}
    tree_save(ckpt, tree)
    loaded = tree_load(ckpt, tree)
    _assert_trees_equal(loaded, tree)


def test_bfloat16_and_complex_round_trip(ckpt: pathlib.Path) -> None:
    tree = {
        "bf": jnp.array([1.5, -2.0, 3.25], jnp.bfloat16),
        "c64": jnp.array([1 + 2j, -3j], jnp.complex64),
        "c128": np.array([[1 + 2j], [3 - 4j]], np.complex128),
    }
    tree_save(ckpt, tree)
    _assert_trees_equal(tree_load(ckpt, tree), tree)


def test_zero_size_and_zero_dim_arrays_round_trip(ckpt: pathlib.Path) -> None:
    tree = {"empty": np.zeros((0, 3), np.float32), "scalar": np.array(4, np.uint8)}
    tree_save(ckpt, tree)
    _assert_trees_equal(tree_load(ckpt, tree), tree)


def _key_data(tree: Any) -> list[np.ndarray]:
    return [np.asarray(jax.random.key_data(k)) for k in jax.tree_util.tree_leaves(tree)]


def test_typed_prng_keys_round_trip_with_their_implementation(ckpt: pathlib.Path) -> None:
    keys = {
        "one": jax.random.key(3),
        "many": jax.random.split(jax.random.key(1), 3),
        "rbg": jax.random.key(5, impl="rbg"),
    }
    tree_save(ckpt, keys)
    like = jax.tree_util.tree_map(lambda k: jax.ShapeDtypeStruct(k.shape, k.dtype), keys)
    loaded = tree_load(ckpt, like)
    assert {name: k.dtype for name, k in loaded.items()} == {
        name: k.dtype for name, k in keys.items()
    }
    for a, b in zip(_key_data(loaded), _key_data(keys), strict=True):
        np.testing.assert_array_equal(a, b)
    header = _read_header(ckpt)
    assert header["many"]["dtype"] == "U32"
    assert header["many"]["shape"] == [3, 2]
    assert json.loads(header["__metadata__"]["leaf_kinds"])["rbg"] == "prng_key:rbg"


def test_a_loaded_key_draws_the_same_numbers(ckpt: pathlib.Path) -> None:
    key = jax.random.key(7)
    tree_save(ckpt, {"key": key})
    loaded = tree_load(ckpt, {"key": jax.random.key(0)})["key"]
    np.testing.assert_array_equal(jax.random.normal(loaded, (3,)), jax.random.normal(key, (3,)))


def test_a_key_where_like_has_a_float_is_a_dtype_mismatch(ckpt: pathlib.Path) -> None:
    tree_save(ckpt, {"k": jax.random.key(0)})
    with pytest.raises(CheckpointMismatchError, match=r"dtype key<fry> stored, float32 expected"):
        tree_load(ckpt, {"k": jnp.zeros(())})


def test_non_contiguous_arrays_are_stored_in_c_order(ckpt: pathlib.Path) -> None:
    transposed = np.arange(6, dtype=np.int32).reshape(2, 3).T
    strided = np.arange(10, dtype=np.complex128)[::3]
    tree_save(ckpt, {"t": transposed, "s": strided})
    loaded = tree_load(ckpt, {"t": np.zeros((3, 2), np.int32), "s": np.zeros(4, np.complex128)})
    np.testing.assert_array_equal(loaded["t"], transposed)
    np.testing.assert_array_equal(loaded["s"], strided)


def test_empty_tree_round_trips(ckpt: pathlib.Path) -> None:
    tree_save(ckpt, {"f": len})
    assert tree_load(ckpt, {"f": len}) == {"f": len}


def test_names_in_the_file_match_tree_to_flat_dict(ckpt: pathlib.Path) -> None:
    model = _model()
    tree_save(ckpt, model)
    stored = {name for name in _read_header(ckpt) if name != "__metadata__"}
    assert (
        stored
        == set(tree_to_flat_dict(model))
        == {
            "layers.0.weight",
            "layers.0.bias",
            "layers.1.weight",
            "layers.1.bias",
            "scale",
        }
    )


def test_names_are_the_dotted_keystr_of_each_leaf_path(ckpt: pathlib.Path) -> None:
    if "simple" not in inspect.signature(jax.tree_util.keystr).parameters:
        pytest.skip("jax.tree_util.keystr(simple=...) arrived after this JAX version")
    tree = {"model": _model(), "opt": (np.ones(2), {"mu": jnp.zeros(3)}), "step": 7}
    tree_save(ckpt, tree)
    stored = [name for name in _read_header(ckpt) if name != "__metadata__"]
    leaves = jax.tree_util.tree_flatten_with_path(tree)[0]
    dotted = {
        jax.tree_util.keystr(path, simple=True, separator=".")
        for path, leaf in leaves
        if not callable(leaf)
    }
    assert set(stored) == dotted
    assert "opt.1.mu" in dotted


def test_tensors_are_stored_largest_itemsize_first_so_each_is_aligned(
    ckpt: pathlib.Path,
) -> None:
    tree_save(ckpt, {"a": np.ones(3, np.int8), "b": np.ones(1, np.float64), "c": jnp.ones(1)})
    header = _read_header(ckpt)
    begins = {name: header[name]["data_offsets"][0] for name in ("a", "b", "c")}
    assert begins == {"b": 0, "c": 8, "a": 12}
    (length,) = struct.unpack("<Q", ckpt.read_bytes()[:8])
    assert (8 + length) % 8 == 0


def test_data_is_little_endian_raw_bytes(ckpt: pathlib.Path) -> None:
    tree_save(ckpt, {"x": np.array([1, 256], dtype=">i4")})
    raw = ckpt.read_bytes()
    assert raw.endswith(struct.pack("<ii", 1, 256))


def test_a_like_of_shape_dtype_structs_loads_jax_arrays(ckpt: pathlib.Path) -> None:
    tree_save(ckpt, _model(offset=3.0))
    like = jax.tree_util.tree_map(
        lambda x: jax.ShapeDtypeStruct(x.shape, x.dtype) if isinstance(x, jax.Array) else x,
        _model(),
    )
    loaded = tree_load(ckpt, like)
    _assert_trees_equal(loaded, _model(offset=3.0))


def _enable_x64() -> Any:
    if hasattr(jax, "enable_x64"):
        return jax.enable_x64(True)
    return importlib.import_module("jax.experimental").enable_x64()  # JAX < 0.6


def test_64_bit_jax_arrays_round_trip_under_x64(ckpt: pathlib.Path) -> None:
    with _enable_x64():
        tree = {
            "f": jnp.arange(3, dtype=jnp.float64) / 3,
            "i": jnp.array([2**40], jnp.int64),
            "u": jnp.array([2**63], jnp.uint64),
            "c": jnp.array([1 / 3 + 1j], jnp.complex128),
        }
        tree_save(ckpt, tree)
        loaded = tree_load(
            ckpt, jax.tree_util.tree_map(lambda x: jax.ShapeDtypeStruct(x.shape, x.dtype), tree)
        )
        _assert_trees_equal(loaded, tree)


def test_accepts_str_paths(tmp_path: pathlib.Path) -> None:
    path = str(tmp_path / "x.ckpt")
    tree_save(path, [np.ones(2)])
    _assert_trees_equal(tree_load(path, [np.zeros(2)]), [np.ones(2)])


# --- metadata ----------------------------------------------------------------------------


def test_metadata_round_trips_as_json(ckpt: pathlib.Path) -> None:
    hyper = {"lr": 3e-4, "layers": [2, 3], "name": "mlp", "nested": {"a": None}}
    tree_save(ckpt, [np.ones(1)], metadata=hyper)
    assert tree_load_metadata(ckpt) == hyper


def test_metadata_is_none_when_not_given(ckpt: pathlib.Path) -> None:
    tree_save(ckpt, [np.ones(1)])
    assert tree_load_metadata(ckpt) is None


def test_header_metadata_records_format_and_versions(ckpt: pathlib.Path) -> None:
    tree_save(ckpt, [np.ones(1)], metadata={"k": 1})
    metadata = _read_header(ckpt)["__metadata__"]
    assert metadata["format_version"] == "2"
    assert metadata["eqx_tree_version"] == eqx_tree.__version__
    assert metadata["jax_version"] == jax.__version__
    assert json.loads(metadata["user_metadata"]) == {"k": 1}
    assert all(isinstance(value, str) for value in metadata.values())


def test_rejects_metadata_that_is_not_json(ckpt: pathlib.Path) -> None:
    with pytest.raises(TypeError, match="metadata must be JSON-serialisable"):
        tree_save(ckpt, [np.ones(1)], metadata={"a": np.ones(2)})
    with pytest.raises(TypeError, match="no NaN/inf"):
        tree_save(ckpt, [np.ones(1)], metadata={"a": float("nan")})
    assert not ckpt.exists()


def test_rejects_metadata_with_non_string_keys(ckpt: pathlib.Path) -> None:
    # Under jaxtyping's import hook, beartype refuses it first (a TypeError naming `metadata`).
    with pytest.raises(TypeError, match=r"mapping with string keys|parameter 'metadata'"):
        tree_save(ckpt, [np.ones(1)], metadata={1: "a"})  # type: ignore[dict-item]


# --- loading against like -------------------------------------------------------------------


def test_strict_load_reports_missing_and_unexpected_leaves_together(ckpt: pathlib.Path) -> None:
    tree_save(ckpt, {"a": np.ones(1), "old": np.ones(1)})
    with pytest.raises(CheckpointMismatchError) as info:
        tree_load(ckpt, {"a": np.ones(1), "new": np.ones(1), "newer": np.ones(1)})
    message = str(info.value)
    assert "missing from the source:\n  ['new']\n  ['newer']" in message
    assert "that `like` has no leaf for:\n  'old'" in message
    assert "strict=False" in message
    assert info.value.report == LoadReport(missing=("['new']", "['newer']"), unexpected=("old",))


def test_non_strict_load_returns_the_tree_and_a_report(ckpt: pathlib.Path) -> None:
    tree_save(ckpt, {"a": np.full(2, 7.0), "old": np.ones(1)})
    like = {"a": np.zeros(2), "new": np.full(3, -1.0)}
    loaded, report = tree_load(ckpt, like, strict=False)
    np.testing.assert_array_equal(loaded["a"], [7.0, 7.0])
    assert loaded["new"] is like["new"]
    assert report == LoadReport(missing=("['new']",), unexpected=("old",))
    assert report


def test_non_strict_load_of_a_matching_file_returns_an_empty_report(ckpt: pathlib.Path) -> None:
    tree_save(ckpt, [np.ones(1)])
    _, report = tree_load(ckpt, [np.zeros(1)], strict=False)
    assert not report
    assert str(report) == "every leaf matched"


@pytest.mark.parametrize("strict", [True, False])
def test_shape_and_dtype_mismatches_always_raise_naming_path_and_both_values(
    ckpt: pathlib.Path, strict: bool
) -> None:
    tree_save(ckpt, _model())
    like = _model()
    like.layers[0].weight = jnp.zeros((3, 2))
    like.layers[1].bias = jnp.zeros((1,), jnp.int32)
    with pytest.raises(CheckpointMismatchError) as info:
        tree_load(ckpt, like, strict=strict)
    message = str(info.value)
    assert (
        ".layers[0].weight (stored as 'layers.0.weight'): shape (2, 3) stored, (3, 2) expected"
        in message
    )
    assert (
        ".layers[1].bias (stored as 'layers.1.bias'): dtype float32 stored, int32 expected"
        in message
    )
    assert isinstance(info.value, ValueError)


def test_a_python_scalar_in_like_must_match_the_stored_dtype(ckpt: pathlib.Path) -> None:
    tree_save(ckpt, {"x": 1.5})
    with pytest.raises(CheckpointMismatchError, match="dtype float64 stored, int64 expected"):
        tree_load(ckpt, {"x": 0})


def test_a_mismatch_never_yields_a_partial_tree(ckpt: pathlib.Path) -> None:
    tree_save(ckpt, {"a": np.ones(2), "b": np.ones(2)})
    with pytest.raises(CheckpointMismatchError):
        tree_load(ckpt, {"a": np.ones(2), "b": np.ones(3)}, strict=False)


# --- shardings ---------------------------------------------------------------------------


def _sharding() -> jax.sharding.NamedSharding:
    mesh = jax.sharding.Mesh(np.array(jax.devices()[:2]), ("x",))
    return jax.sharding.NamedSharding(mesh, jax.sharding.PartitionSpec("x"))


def test_loads_onto_the_shardings_of_shape_dtype_structs(ckpt: pathlib.Path) -> None:
    assert len(jax.devices()) >= 2, "the root conftest provides 2 CPU devices"
    sharding = _sharding()
    tree_save(ckpt, {"w": jnp.arange(8.0).reshape(4, 2), "b": jnp.ones(3)})
    like = {
        "w": jax.ShapeDtypeStruct((4, 2), jnp.float32, sharding=sharding),
        "b": jax.ShapeDtypeStruct((3,), jnp.float32),
    }
    loaded = tree_load(ckpt, like)
    assert loaded["w"].sharding == sharding
    assert len(loaded["w"].addressable_shards) == 2
    np.testing.assert_array_equal(loaded["w"], np.arange(8.0).reshape(4, 2))
    np.testing.assert_array_equal(loaded["b"], np.ones(3))


def test_loads_onto_the_shardings_of_arrays_in_like(ckpt: pathlib.Path) -> None:
    sharding = _sharding()
    saved = jax.device_put(jnp.arange(4.0), sharding)
    tree_save(ckpt, {"w": saved})
    like = {"w": jax.device_put(jnp.zeros(4), sharding)}
    loaded = tree_load(ckpt, like)
    assert loaded["w"].sharding == sharding
    np.testing.assert_array_equal(loaded["w"], np.arange(4.0))


# --- saving errors -----------------------------------------------------------------------


def test_rejects_saving_shape_dtype_structs(ckpt: pathlib.Path) -> None:
    with pytest.raises(TypeError, match=r"leaf at \['w'\] is a ShapeDtypeStruct"):
        tree_save(ckpt, {"w": jax.ShapeDtypeStruct((2,), jnp.float32)})


def test_rejects_saving_inside_jit(ckpt: pathlib.Path) -> None:
    @jax.jit
    def save(x: jax.Array) -> jax.Array:
        tree_save(ckpt, {"x": x})
        return x

    with pytest.raises(TypeError, match=r"leaf at \['x'\] is a traced value"):
        save(jnp.ones(2))
    assert os.listdir(ckpt.parent) == []


def test_rejects_object_arrays_because_they_would_need_pickle(ckpt: pathlib.Path) -> None:
    with pytest.raises(TypeError, match=r"leaf at \[0\] is an object array"):
        tree_save(ckpt, [np.array([object()])])


def test_rejects_dtypes_safetensors_cannot_store(ckpt: pathlib.Path) -> None:
    with pytest.raises(TypeError, match=r"cannot save the leaf at \['s'\].*dtype <U1"):
        tree_save(ckpt, {"s": np.array(["a"])})


def test_rejects_python_ints_outside_int64(ckpt: pathlib.Path) -> None:
    with pytest.raises(
        ValueError, match=r"Python int at \['n'\] is 1267650600228229401496703205376"
    ):
        tree_save(ckpt, {"n": 2**100})


def test_dict_keys_containing_dots_are_escaped_and_round_trip(ckpt: pathlib.Path) -> None:
    tree = {"Model.norm.index": np.arange(3.0)}
    tree_save(ckpt, tree)
    assert "Model%2Enorm%2Eindex" in _read_header(ckpt)
    _assert_trees_equal(tree_load(ckpt, {"Model.norm.index": np.zeros(3)}), tree)


# --- atomic writes -----------------------------------------------------------------------


def test_saving_into_a_missing_directory_names_it(tmp_path: pathlib.Path) -> None:
    with pytest.raises(FileNotFoundError, match=r"the directory '.*missing' does not exist"):
        tree_save(tmp_path / "missing" / "ckpt.safetensors", [np.ones(1)])


def test_overwrites_an_existing_checkpoint(ckpt: pathlib.Path) -> None:
    tree_save(ckpt, [np.ones(1)])
    tree_save(ckpt, [np.full(1, 2.0)])
    np.testing.assert_array_equal(tree_load(ckpt, [np.zeros(1)])[0], [2.0])


def test_a_failed_write_keeps_the_old_file_and_removes_the_temporary(
    ckpt: pathlib.Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    tree_save(ckpt, [np.ones(1)])
    before = ckpt.read_bytes()

    def broken_fsync(fd: int) -> None:
        raise OSError("disk full")

    monkeypatch.setattr(os, "fsync", broken_fsync)
    with pytest.raises(OSError, match="disk full"):
        tree_save(ckpt, [np.full(1, 2.0)])
    assert ckpt.read_bytes() == before
    assert os.listdir(ckpt.parent) == [ckpt.name]


def test_a_leaf_that_cannot_be_saved_writes_nothing(ckpt: pathlib.Path) -> None:
    with pytest.raises(TypeError):
        tree_save(ckpt, [np.ones(1), np.array([object()])])
    assert os.listdir(ckpt.parent) == []


# --- corrupt files -----------------------------------------------------------------------


def test_a_truncated_file_raises_naming_the_file_and_the_problem(ckpt: pathlib.Path) -> None:
    tree_save(ckpt, _model())
    ckpt.write_bytes(ckpt.read_bytes()[:-4])
    with pytest.raises(
        CheckpointFormatError, match=r"cannot load '.*model.safetensors': .*past the end"
    ):
        tree_load(ckpt, _model())


def test_flipped_bits_in_the_data_are_caught_by_the_checksum(ckpt: pathlib.Path) -> None:
    tree_save(ckpt, {"w": np.arange(4, dtype=np.float32)})
    raw = bytearray(ckpt.read_bytes())
    raw[-1] ^= 0x01
    ckpt.write_bytes(bytes(raw))
    with pytest.raises(
        CheckpointFormatError,
        match=r"model.safetensors': the bytes of tensor 'w' do not match their recorded "
        "XXH3-64 checksum",
    ):
        tree_load(ckpt, {"w": np.zeros(4, np.float32)})


def test_the_header_records_each_tensor_s_checksum(ckpt: pathlib.Path) -> None:
    values = np.arange(5, dtype=np.int16)
    tree_save(ckpt, {"v": values})
    metadata = _read_header(ckpt)["__metadata__"]
    assert metadata["checksum_algorithm"] == "xxh3_64"
    checksums = json.loads(metadata["checksums"])
    assert checksums == {"v": xxhash.xxh3_64_hexdigest(values.tobytes())}


def test_a_file_that_is_not_a_checkpoint_raises(ckpt: pathlib.Path) -> None:
    ckpt.write_bytes(b"hello")
    with pytest.raises(CheckpointFormatError, match="shorter than the 8-byte header length"):
        tree_load(ckpt, _model())


def test_format_errors_are_value_errors(ckpt: pathlib.Path) -> None:
    ckpt.write_bytes(b"\x00" * 3)
    with pytest.raises(ValueError, match="truncated or not a checkpoint"):
        tree_load_metadata(ckpt)


def test_a_tampered_header_is_rejected_before_any_tensor_is_read(
    ckpt: pathlib.Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    header = {"w": {"dtype": "F32", "shape": [2**40], "data_offsets": [0, 2**42]}}
    encoded = json.dumps(header).encode()
    ckpt.write_bytes(struct.pack("<Q", len(encoded)) + encoded + bytes(8))

    def no_reads(*args: object) -> None:
        raise AssertionError("read a tensor from an invalid file")

    monkeypatch.setattr(_safetensors_format, "read_tensor", no_reads)
    with pytest.raises(CheckpointFormatError, match="past the end of the 8-byte data section"):
        tree_load(ckpt, {"w": jax.ShapeDtypeStruct((2**40,), jnp.float32)})


# --- interop with the safetensors library --------------------------------------------------


def test_files_open_with_the_safetensors_library(ckpt: pathlib.Path) -> None:
    safetensors_numpy = pytest.importorskip("safetensors.numpy")
    safetensors = pytest.importorskip("safetensors")
    tree_save(
        ckpt,
        {"model": _model(offset=1.0), "step": 7, "mask": np.array([True, False])},
        metadata={"lr": 0.1},
    )
    loaded = safetensors_numpy.load_file(str(ckpt))
    assert set(loaded) == {
        "model.layers.0.weight",
        "model.layers.0.bias",
        "model.layers.1.weight",
        "model.layers.1.bias",
        "model.scale",
        "step",
        "mask",
    }
    np.testing.assert_array_equal(
        loaded["model.layers.0.weight"], np.arange(6.0, dtype=np.float32).reshape(2, 3) + 1
    )
    assert loaded["model.scale"].dtype == np.float64
    assert loaded["model.scale"] == 2.5
    assert loaded["step"].dtype == np.int64
    assert loaded["step"] == 7
    np.testing.assert_array_equal(loaded["mask"], [True, False])
    with safetensors.safe_open(str(ckpt), framework="numpy") as file:
        assert json.loads(file.metadata()["user_metadata"]) == {"lr": 0.1}
        assert file.get_tensor("model.layers.1.bias").shape == (1,)


def test_the_safetensors_library_reads_bfloat16_headers_we_write(ckpt: pathlib.Path) -> None:
    # safetensors.numpy cannot build a bfloat16 array, but its reader must accept the
    # entry; the values themselves round-trip through tree_load (tested above).
    safetensors = pytest.importorskip("safetensors")
    tree_save(ckpt, {"bf": jnp.ones((2, 3), jnp.bfloat16), "f": np.arange(2.0)})
    with safetensors.safe_open(str(ckpt), framework="numpy") as file:
        assert file.get_slice("bf").get_dtype() == "BF16"
        assert file.get_slice("bf").get_shape() == [2, 3]
        np.testing.assert_array_equal(file.get_tensor("f"), [0.0, 1.0])


def test_files_written_by_the_safetensors_library_load_into_like(ckpt: pathlib.Path) -> None:
    safetensors_numpy = pytest.importorskip("safetensors.numpy")
    flat = {
        "layers.0.weight": np.full((2, 3), 4.0, np.float32),
        "layers.0.bias": np.full(2, 5.0, np.float32),
        "layers.1.weight": np.full((1, 2), 6.0, np.float32),
        "layers.1.bias": np.full(1, 7.0, np.float32),
        "scale": np.array(1.25),
    }
    safetensors_numpy.save_file(flat, str(ckpt))
    loaded = tree_load(ckpt, _model())
    np.testing.assert_array_equal(loaded.layers[0].weight, flat["layers.0.weight"])
    np.testing.assert_array_equal(loaded.layers[1].bias, [7.0])
    assert loaded.scale == 1.25
    assert type(loaded.scale) is float
    assert tree_load_metadata(ckpt) is None


def test_importing_eqx_tree_does_not_import_safetensors() -> None:
    code = "import sys, eqx_tree; print('safetensors' in sys.modules)"
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True
    )
    assert result.stdout.strip() == "False"


# --- property-based round trips ---------------------------------------------------------------

# On a loaded CI machine, drawing examples can exceed Hypothesis's "too slow" health
# check; that says nothing about the code under test, so it must not fail the suite.
_SLOW_MACHINE = [HealthCheck.too_slow]

_DTYPES = [
    np.float16,
    np.float32,
    jnp.bfloat16,
    np.int8,
    np.int16,
    np.int32,
    np.int64,
    np.uint8,
    np.uint16,
    np.uint32,
    np.uint64,
    np.bool_,
    np.complex64,
    np.float64,
    np.complex128,
]


@st.composite
def _arrays(draw: st.DrawFn) -> np.ndarray:
    dtype = np.dtype(draw(st.sampled_from(_DTYPES)))
    shape = tuple(draw(st.lists(st.integers(0, 3), max_size=3)))
    size = int(np.prod(shape))
    raw = draw(st.lists(st.integers(-100, 100), min_size=size, max_size=size))
    values = np.array(raw).reshape(shape)
    if dtype.kind == "u":
        values = np.abs(values)
    if dtype.kind == "c":
        return (values + 1j * values[::-1]).astype(dtype) if values.ndim else values.astype(dtype)
    return values.astype(dtype)


_trees = st.recursive(
    st.one_of(st.none(), _arrays(), st.integers(-(2**40), 2**40), st.floats(-1e3, 1e3)),
    lambda children: st.one_of(
        st.lists(children, max_size=3),
        st.lists(children, max_size=3).map(tuple),
        st.dictionaries(st.sampled_from(["a", "b", "w", "bias"]), children, max_size=3),
    ),
    max_leaves=8,
)


@settings(max_examples=40, deadline=None, suppress_health_check=_SLOW_MACHINE)
@given(tree=_trees)
def test_random_trees_round_trip(tmp_path_factory: pytest.TempPathFactory, tree: Any) -> None:
    path = tmp_path_factory.mktemp("hypothesis") / "tree.safetensors"
    tree_save(path, tree)
    _assert_trees_equal(tree_load(path, tree), tree)


@settings(max_examples=20, deadline=None, suppress_health_check=_SLOW_MACHINE)
@given(tree=_trees)
def test_random_trees_load_as_jax_arrays_from_shape_dtype_structs(
    tmp_path_factory: pytest.TempPathFactory, tree: Any
) -> None:
    path = tmp_path_factory.mktemp("hypothesis") / "tree.safetensors"
    tree_save(path, tree)

    def abstract(x: Any) -> Any:
        if isinstance(x, np.ndarray) and x.dtype in (
            np.float64,
            np.complex128,
            np.int64,
            np.uint64,
        ):
            return x  # 64-bit JAX arrays need x64; keep NumPy there.
        return jax.ShapeDtypeStruct(x.shape, x.dtype) if isinstance(x, np.ndarray) else x

    loaded = tree_load(path, jax.tree_util.tree_map(abstract, tree))
    for x, y in zip(
        jax.tree_util.tree_leaves(tree), jax.tree_util.tree_leaves(loaded), strict=True
    ):
        np.testing.assert_array_equal(np.asarray(x), np.asarray(y))
        if isinstance(x, np.ndarray) and not isinstance(y, np.ndarray):
            assert isinstance(y, jax.Array)
            assert y.dtype == x.dtype


@settings(max_examples=15, deadline=None, suppress_health_check=_SLOW_MACHINE)
@given(tree=_trees)
def test_random_trees_of_jax_arrays_round_trip_under_x64(
    tmp_path_factory: pytest.TempPathFactory, tree: Any
) -> None:
    path = tmp_path_factory.mktemp("hypothesis") / "tree.safetensors"
    with _enable_x64():
        as_jax = jax.tree_util.tree_map(
            lambda x: jnp.asarray(x) if isinstance(x, np.ndarray) else x, tree
        )
        tree_save(path, as_jax)
        like = jax.tree_util.tree_map(
            lambda x: jax.ShapeDtypeStruct(x.shape, x.dtype) if isinstance(x, jax.Array) else x,
            as_jax,
        )
        _assert_trees_equal(tree_load(path, like), as_jax)


# --- helpers -------------------------------------------------------------------------------


def _read_header(path: pathlib.Path) -> dict[str, Any]:
    raw = path.read_bytes()
    (length,) = struct.unpack("<Q", raw[:8])
    header: dict[str, Any] = json.loads(raw[8 : 8 + length])
    return header
