"""Checkpoint checksums: XXH3-64 in new files, and CRC-32 files of format version 1 still load.

`data/crc32-format-1.safetensors` was written by eqx-tree 0.2.0 (format version 1,
CRC-32 checksums), from this tree:

    {"w": np.arange(6, dtype=np.float32).reshape(2, 3),
     "b": jnp.array([1.5, -2.0, 3.25], dtype=jnp.bfloat16),
     "step": 7, "lr": 0.5,
     "z": np.array([1 + 2j, -3 - 4j], dtype=np.complex128),
     "key": jax.random.key(0)}

with `metadata={"step": 7, "note": "written by eqx-tree 0.2 (CRC-32)"}`.
"""

from __future__ import annotations

import json
import pathlib
import shutil
import struct
import zlib
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np
import pytest
import xxhash

from eqx_tree import CheckpointFormatError, tree_load, tree_load_metadata, tree_save
from eqx_tree._checkpoint import read_stored, write_stored

_FIXTURE = pathlib.Path(__file__).parent / "data" / "crc32-format-1.safetensors"


def _like() -> dict[str, Any]:
    return {
        "w": np.zeros((2, 3), np.float32),
        "b": jnp.zeros(3, jnp.bfloat16),
        "step": 0,
        "lr": 0.0,
        "z": np.zeros(2, np.complex128),
        "key": jax.random.key(1),
    }


def _header(path: pathlib.Path) -> dict[str, Any]:
    data = path.read_bytes()
    (length,) = struct.unpack("<Q", data[:8])
    header: dict[str, Any] = json.loads(data[8 : 8 + length])
    return header


def _flip_bit_at(path: pathlib.Path, offset: int) -> None:
    data = bytearray(path.read_bytes())
    data[offset] ^= 0x10
    path.write_bytes(bytes(data))


def _data_offset(path: pathlib.Path, name: str) -> int:
    """Where tensor `name`'s bytes start in the file."""
    (length,) = struct.unpack("<Q", path.read_bytes()[:8])
    begin: int = _header(path)[name]["data_offsets"][0]
    return 8 + length + begin


@pytest.fixture
def old_file(tmp_path: pathlib.Path) -> pathlib.Path:
    path = tmp_path / "old.safetensors"
    shutil.copyfile(_FIXTURE, path)
    return path


# --- files of format version 1 (CRC-32) ----------------------------------------------------


def test_the_fixture_is_a_crc32_file_of_format_version_1() -> None:
    metadata = _header(_FIXTURE)["__metadata__"]
    assert (metadata["format_version"], metadata["eqx_tree_version"]) == ("1", "0.2.0")
    assert next(iter(metadata)) == "header_crc32"
    assert "checksum_algorithm" not in metadata
    w = np.arange(6, dtype=np.float32).tobytes()
    assert json.loads(metadata["crc32"])["w"] == f"{zlib.crc32(w):08x}"


def test_a_crc32_file_written_by_eqx_tree_0_2_loads_every_leaf() -> None:
    loaded = tree_load(_FIXTURE, _like())
    np.testing.assert_array_equal(loaded["w"], np.arange(6, dtype=np.float32).reshape(2, 3))
    assert loaded["b"].dtype == jnp.bfloat16
    np.testing.assert_array_equal(np.asarray(loaded["b"], np.float32), [1.5, -2.0, 3.25])
    assert (loaded["step"], loaded["lr"]) == (7, 0.5)
    assert type(loaded["step"]) is int and type(loaded["lr"]) is float
    np.testing.assert_array_equal(loaded["z"], [1 + 2j, -3 - 4j])
    np.testing.assert_array_equal(
        jax.random.key_data(loaded["key"]), jax.random.key_data(jax.random.key(0))
    )
    assert tree_load_metadata(_FIXTURE) == {
        "step": 7,
        "note": "written by eqx-tree 0.2 (CRC-32)",
    }


def test_a_flipped_bit_in_a_crc32_file_s_tensor_names_the_file_tensor_and_crc32(
    old_file: pathlib.Path,
) -> None:
    _flip_bit_at(old_file, _data_offset(old_file, "w") + 5)
    with pytest.raises(
        CheckpointFormatError,
        match=r"cannot load '.*old.safetensors': the bytes of tensor 'w' do not match their "
        r"recorded CRC-32 checksum \([0-9a-f]{8} instead of [0-9a-f]{8}\); the file is corrupt",
    ):
        tree_load(old_file, _like())


def test_a_flipped_bit_in_a_crc32_file_s_header_is_caught(old_file: pathlib.Path) -> None:
    data = old_file.read_bytes()
    _flip_bit_at(old_file, data.index(b'"step\\": 7') + 9)  # the user's saved step
    with pytest.raises(
        CheckpointFormatError,
        match=r"cannot load '.*old.safetensors': the header does not match its recorded "
        "CRC-32 checksum",
    ):
        tree_load_metadata(old_file)


def test_rewriting_a_crc32_file_records_xxh3_and_the_current_format_version(
    old_file: pathlib.Path, tmp_path: pathlib.Path
) -> None:
    # What checkpoint_to_orbax / checkpoint_from_orbax do: read as stored, write again.
    tensors, metadata = read_stored(old_file)
    new_file = tmp_path / "new.safetensors"
    write_stored(new_file, tensors, metadata)
    new_metadata = _header(new_file)["__metadata__"]
    assert new_metadata["format_version"] == "2"
    assert new_metadata["checksum_algorithm"] == "xxh3_64"
    assert "crc32" not in new_metadata and "header_crc32" not in new_metadata
    assert new_metadata["leaf_kinds"] == metadata["leaf_kinds"]
    assert json.loads(new_metadata["checksums"])["w"] == xxhash.xxh3_64_hexdigest(
        np.arange(6, dtype=np.float32).tobytes()
    )
    old, new = tree_load(old_file, _like()), tree_load(new_file, _like())
    np.testing.assert_array_equal(new["w"], old["w"])
    np.testing.assert_array_equal(new["z"], old["z"])


# --- files written now (XXH3-64) -----------------------------------------------------------


def test_a_tensor_of_several_chunks_records_the_xxh3_of_all_its_bytes(
    tmp_path: pathlib.Path,
) -> None:
    path = tmp_path / "model.safetensors"
    big = np.arange(3 * (1 << 20) // 4 + 5, dtype=np.float32)  # 3 MiB and 20 bytes
    small = np.array([1, 2, 3], np.int8)
    tree_save(path, {"big": big, "small": small})
    checksums = json.loads(_header(path)["__metadata__"]["checksums"])
    assert checksums == {
        "big": xxhash.xxh3_64_hexdigest(big.tobytes()),
        "small": xxhash.xxh3_64_hexdigest(small.tobytes()),
    }
    loaded = tree_load(path, {"big": np.zeros_like(big), "small": np.zeros_like(small)})
    np.testing.assert_array_equal(loaded["big"], big)


@pytest.mark.parametrize(
    ("name", "offset"),
    [("big", 5), ("big", (1 << 20) + 7), ("big", 3 * (1 << 20) + 3), ("small", 2)],
)
def test_a_flipped_bit_anywhere_in_a_tensor_names_the_file_and_the_tensor(
    tmp_path: pathlib.Path, name: str, offset: int
) -> None:
    path = tmp_path / "model.safetensors"
    tree = {
        "big": np.arange(3 * (1 << 20) // 4 + 5, dtype=np.float32),
        "small": np.ones(3, np.int8),
    }
    tree_save(path, tree)
    _flip_bit_at(path, _data_offset(path, name) + offset)
    like = {key: np.zeros_like(value) for key, value in tree.items()}
    with pytest.raises(
        CheckpointFormatError,
        match=rf"cannot load '.*model.safetensors': the bytes of tensor '{name}' do not match "
        r"their recorded XXH3-64 checksum \([0-9a-f]{16} instead of [0-9a-f]{16}\)",
    ):
        tree_load(path, like)


def test_a_flipped_bit_in_a_nested_leaf_names_its_stored_path(tmp_path: pathlib.Path) -> None:
    path = tmp_path / "model.safetensors"
    tree = {"layers": [{"weight": np.ones(4, np.float32)}, {"weight": np.ones(4, np.float32)}]}
    tree_save(path, tree)
    _flip_bit_at(path, _data_offset(path, "layers.1.weight"))
    with pytest.raises(CheckpointFormatError, match=r"tensor 'layers\.1\.weight' do not match"):
        tree_load(path, tree)
