"""The checkpoint's `__metadata__`: what is recorded, and how bad entries are rejected.

Each bad entry is written by hand into an otherwise valid safetensors file, and loading
must refuse it with a `CheckpointFormatError` naming the entry.
"""

import importlib.metadata
import json
import pathlib
import struct

import jax
import numpy as np
import pytest

import eqx_tree
from eqx_tree import CheckpointFormatError, _checkpoint_metadata, tree_load
from eqx_tree._checkpoint_metadata import (
    FORMAT_NAME,
    FORMAT_VERSION,
    build_metadata,
    encode_user_metadata,
)


@pytest.fixture
def ckpt(tmp_path: pathlib.Path) -> pathlib.Path:
    return tmp_path / "model.safetensors"


def test_build_metadata_holds_only_strings_with_versions_and_json_entries(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(_checkpoint_metadata, "_eqx_version", lambda: None)
    metadata = build_metadata({"s": "int"}, {"s": "0000abcd"}, encode_user_metadata({"lr": 1}))
    assert next(iter(metadata)) == "header_crc32"  # first: sealed at a fixed offset
    assert metadata == {
        "header_crc32": "00000000",  # filled in by seal_header once the header is final
        "format": FORMAT_NAME,
        "format_version": FORMAT_VERSION,
        "eqx_tree_version": eqx_tree.__version__,
        "jax_version": jax.__version__,
        "leaf_kinds": '{"s": "int"}',
        "crc32": '{"s": "0000abcd"}',
        "user_metadata": '{"lr": 1}',
    }


def test_build_metadata_records_the_eqx_version_when_eqx_is_installed(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    def version(name: str) -> str:
        if name == "eqx":
            return "9.8.7"
        raise importlib.metadata.PackageNotFoundError(name)

    monkeypatch.setattr(importlib.metadata, "version", version)
    metadata = build_metadata({}, {}, "null")
    assert metadata["eqx_version"] == "9.8.7"
    assert metadata["eqx_tree_version"] == eqx_tree.__version__  # read at import time


def test_build_metadata_leaves_out_the_eqx_version_without_eqx(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    def version(name: str) -> str:
        raise importlib.metadata.PackageNotFoundError(name)

    monkeypatch.setattr(importlib.metadata, "version", version)
    assert "eqx_version" not in build_metadata({}, {}, "null")


def test_encode_user_metadata_writes_null_for_none() -> None:
    assert encode_user_metadata(None) == "null"


def test_rejects_an_unknown_prng_implementation(ckpt: pathlib.Path) -> None:
    _write_with_metadata(
        ckpt, {"leaf_kinds": json.dumps({"x": "prng_key:nonsense"})}, dtype=("U32", 4)
    )
    with pytest.raises(CheckpointFormatError, match="implementation 'nonsense'"):
        tree_load(ckpt, {"x": jax.random.key(0)})


def test_rejects_key_data_of_the_wrong_layout(ckpt: pathlib.Path) -> None:
    _write_with_metadata(ckpt, {"leaf_kinds": json.dumps({"x": "prng_key:threefry2x32"})})
    with pytest.raises(CheckpointFormatError, match=r"must be stored as U32 ending in \[2\]"):
        tree_load(ckpt, {"x": jax.random.key(0)})


@pytest.mark.parametrize(
    ("crc32", "match"),
    [
        ("[1]", "crc32'] must be a JSON object"),
        ('{"x": "xyz"}', "checksum of 'x' is 'xyz', not 8 hex digits"),
        ('{"x": "zzzzzzzz"}', "checksum of 'x' is 'zzzzzzzz', not 8 hex digits"),
        ('{"ghost": "00000000"}', "names 'ghost', which is not a tensor"),
        ("{", r"crc32'\] is not JSON"),
    ],
)
def test_rejects_malformed_checksums(ckpt: pathlib.Path, crc32: str, match: str) -> None:
    _write_with_metadata(ckpt, {"crc32": crc32})
    with pytest.raises(CheckpointFormatError, match=match):
        tree_load(ckpt, {"x": np.zeros(2, np.float64)})


def test_rejects_leaf_kinds_naming_unknown_tensors(ckpt: pathlib.Path) -> None:
    _write_with_metadata(ckpt, {"leaf_kinds": json.dumps({"ghost": "int"})})
    with pytest.raises(CheckpointFormatError, match="names 'ghost', which is not a tensor"):
        tree_load(ckpt, {"x": np.zeros(2, np.float64)})


def test_rejects_a_complex_kind_on_a_tensor_not_stored_as_pairs(ckpt: pathlib.Path) -> None:
    _write_with_metadata(ckpt, {"leaf_kinds": json.dumps({"x": "complex128"})}, shape=(3,))
    with pytest.raises(CheckpointFormatError, match=r"must be stored as F64 with a last axis of 2"):
        tree_load(ckpt, {"x": np.zeros(3, np.float64)})


def test_rejects_an_unknown_leaf_kind(ckpt: pathlib.Path) -> None:
    _write_with_metadata(ckpt, {"leaf_kinds": json.dumps({"x": "tensor"})})
    with pytest.raises(CheckpointFormatError, match="unknown kind 'tensor'"):
        tree_load(ckpt, {"x": np.zeros(2, np.float64)})


def test_rejects_a_newer_format_version(ckpt: pathlib.Path) -> None:
    _write_with_metadata(ckpt, {"format": "eqx-tree.checkpoint", "format_version": "2"})
    with pytest.raises(CheckpointFormatError, match=r"format version '2'.*Upgrade eqx-tree"):
        tree_load(ckpt, {"x": np.zeros(2, np.float64)})


@pytest.mark.parametrize(
    ("leaf_kinds", "match"),
    [
        ("{", r"leaf_kinds'\] is not JSON"),
        ('["x"]', r"leaf_kinds'\] must be a JSON object"),
        ('{"x": "int"}', r"marked as a Python int but has shape \[2\]"),
        ('{"x": 3}', "unknown kind 3"),
    ],
)
def test_rejects_malformed_leaf_kinds(ckpt: pathlib.Path, leaf_kinds: str, match: str) -> None:
    _write_with_metadata(ckpt, {"leaf_kinds": leaf_kinds})
    with pytest.raises(CheckpointFormatError, match=match):
        tree_load(ckpt, {"x": np.zeros(2, np.float64)})


def test_tree_load_metadata_rejects_user_metadata_that_is_not_json(ckpt: pathlib.Path) -> None:
    _write_with_metadata(ckpt, {"user_metadata": "{oops"})
    with pytest.raises(CheckpointFormatError, match=r"user_metadata'\] is not JSON"):
        eqx_tree.tree_load_metadata(ckpt)


def test_files_without_eqx_metadata_load_as_plain_arrays(ckpt: pathlib.Path) -> None:
    _write_with_metadata(ckpt, {})
    loaded = tree_load(ckpt, {"x": np.ones(2, np.float64)})
    np.testing.assert_array_equal(loaded["x"], [0.0, 0.0])
    assert eqx_tree.tree_load_metadata(ckpt) is None


# --- helpers -------------------------------------------------------------------------------


def _write_with_metadata(
    path: pathlib.Path,
    metadata: dict[str, str],
    shape: tuple[int, ...] = (2,),
    dtype: tuple[str, int] = ("F64", 8),
) -> None:
    code, itemsize = dtype
    nbytes = itemsize * int(np.prod(shape))
    header = {
        "__metadata__": metadata,
        "x": {"dtype": code, "shape": list(shape), "data_offsets": [0, nbytes]},
    }
    encoded = json.dumps(header).encode()
    path.write_bytes(struct.pack("<Q", len(encoded)) + encoded + bytes(nbytes))
