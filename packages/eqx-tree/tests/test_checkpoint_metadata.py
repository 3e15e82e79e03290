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
    build_metadata,
    encode_user_metadata,
    seal_header,
)
from eqx_tree._safetensors_format import build_header


@pytest.fixture
def ckpt(tmp_path: pathlib.Path) -> pathlib.Path:
    return tmp_path / "model.safetensors"


def test_build_metadata_holds_only_strings_with_versions_and_json_entries(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(_checkpoint_metadata, "_eqx_version", lambda: None)
    checksums = {"s": "0123456789abcdef"}
    metadata = build_metadata({"s": "int"}, checksums, encode_user_metadata({"lr": 1}))
    # First: the header checksum is sealed at a fixed offset after the algorithm's name.
    assert list(metadata)[:2] == ["checksum_algorithm", "header_checksum"]
    assert metadata == {
        "checksum_algorithm": "xxh3_64",
        "header_checksum": "0" * 16,  # filled in by seal_header once the header is final
        "format": FORMAT_NAME,
        "format_version": "2",
        "eqx_tree_version": eqx_tree.__version__,
        "jax_version": jax.__version__,
        "leaf_kinds": '{"s": "int"}',
        "checksums": '{"s": "0123456789abcdef"}',
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
    ("checksums", "match"),
    [
        ("[1]", "checksums'] must be a JSON object"),
        ('{"x": "xyz"}', "XXH3-64 checksum of 'x' is 'xyz', not 16 lowercase hex digits"),
        ('{"x": "zzzzzzzzzzzzzzzz"}', "of 'x' is 'zzzzzzzzzzzzzzzz', not 16 lowercase hex"),
        ('{"x": "ABCDEF0123456789"}', "of 'x' is 'ABCDEF0123456789', not 16 lowercase"),
        ('{"ghost": "0000000000000000"}', "names 'ghost', which is not a tensor"),
        ("{", r"checksums'\] is not JSON"),
    ],
)
def test_rejects_malformed_checksums(ckpt: pathlib.Path, checksums: str, match: str) -> None:
    _write_sealed(ckpt, {"checksums": checksums})
    with pytest.raises(CheckpointFormatError, match=match):
        tree_load(ckpt, {"x": np.zeros(2, np.float64)})


@pytest.mark.parametrize(
    ("crc32", "match"),
    [
        ("[1]", "crc32'] must be a JSON object"),
        ('{"x": "xyz"}', "CRC-32 checksum of 'x' is 'xyz', not 8 lowercase hex digits"),
        ('{"x": "zzzzzzzz"}', "checksum of 'x' is 'zzzzzzzz', not 8 lowercase hex digits"),
        ('{"ghost": "00000000"}', "names 'ghost', which is not a tensor"),
        ("{", r"crc32'\] is not JSON"),
    ],
)
def test_rejects_malformed_crc32s_of_format_version_1(
    ckpt: pathlib.Path, crc32: str, match: str
) -> None:
    _write_with_metadata(ckpt, {"crc32": crc32})
    with pytest.raises(CheckpointFormatError, match=match):
        tree_load(ckpt, {"x": np.zeros(2, np.float64)})


def test_an_unknown_checksum_algorithm_says_to_upgrade(ckpt: pathlib.Path) -> None:
    _write_with_metadata(
        ckpt,
        {"checksum_algorithm": "blake3", "header_checksum": "00", "checksums": "{}"},
    )
    for read in (
        lambda: tree_load(ckpt, {"x": np.zeros(2, np.float64)}),
        lambda: eqx_tree.tree_load_metadata(ckpt),
    ):
        with pytest.raises(CheckpointFormatError) as info:
            read()
        message = str(info.value)
        assert f"cannot load {str(ckpt)!r}" in message
        assert "algorithm 'blake3'" in message
        assert "Upgrade eqx-tree" in message


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
    _write_with_metadata(ckpt, {"format": "eqx-tree.checkpoint", "format_version": "3"})
    with pytest.raises(
        CheckpointFormatError, match=r"format version '3'.*reads versions 1, 2. Upgrade eqx-tree"
    ):
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


def _write_sealed(path: pathlib.Path, metadata: dict[str, str]) -> None:
    """A file whose header checksum is right, so the entries in `metadata` are what fails."""
    sealed = {"checksum_algorithm": "xxh3_64", "header_checksum": "0" * 16, **metadata}
    header, _ = build_header([("x", "F64", (2,))], sealed)
    path.write_bytes(seal_header(header) + bytes(16))


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
