"""Checkpoints that survive crashes and full disks: temporaries, write errors, header checksum."""

from __future__ import annotations

import errno
import json
import os
import pathlib
import signal
import struct
import subprocess
import sys
import zlib
from collections.abc import Iterator

import jax.numpy as jnp
import numpy as np
import pytest
import xxhash

import eqx_tree
from eqx_tree import CheckpointFormatError, tree_load, tree_load_metadata, tree_save

resource = pytest.importorskip("resource")  # POSIX only


def _dead_pid() -> int:
    """The id of a process that has exited (and been reaped)."""
    child = subprocess.Popen([sys.executable, "-c", "pass"])
    child.wait()
    return child.pid


# --- temporaries: visible, recognisable, cleaned up by the next save --------------------


_KILLED_MID_SAVE = """
import os, signal, sys
import numpy as np
import eqx_tree
from eqx_tree import _checkpoint

real_write = _checkpoint.write_checksummed

def write_then_die(file, data, checksum):
    real_write(file, data, checksum)
    file.flush()
    os.kill(os.getpid(), signal.SIGKILL)

_checkpoint.write_checksummed = write_then_die
eqx_tree.tree_save(sys.argv[1], {"w": np.full(1000, 2.0)})
"""


def test_a_killed_save_leaves_a_visible_temporary_that_the_next_save_removes(
    tmp_path: pathlib.Path,
) -> None:
    path = tmp_path / "model.safetensors"
    tree_save(path, {"w": np.full(1000, 1.0)})
    child = subprocess.Popen([sys.executable, "-c", _KILLED_MID_SAVE, str(path)])
    assert child.wait(timeout=120) == -signal.SIGKILL
    temporary = f"model.safetensors.tmp-{child.pid}"
    assert sorted(os.listdir(tmp_path)) == ["model.safetensors", temporary]
    assert os.path.getsize(tmp_path / temporary) > 8000  # the leaf's bytes had been written
    # The old checkpoint is intact.
    np.testing.assert_array_equal(tree_load(path, {"w": np.zeros(1000)})["w"], np.ones(1000))

    tree_save(path, {"w": np.full(1000, 3.0)})
    assert os.listdir(tmp_path) == ["model.safetensors"]
    np.testing.assert_array_equal(tree_load(path, {"w": np.zeros(1000)})["w"], np.full(1000, 3.0))


def test_only_stale_temporaries_of_the_same_path_are_removed(tmp_path: pathlib.Path) -> None:
    dead, alive = _dead_pid(), os.getppid()
    names = [
        f"m.eqx.tmp-{dead}",  # a crashed save of this path: removed
        f"m.eqx.tmp-{dead}-2",  # a crashed concurrent save of this path: removed
        f"m.eqx.tmp-{alive}",  # a running process may be writing it: kept
        f"other.eqx.tmp-{dead}",  # another path's: kept
        f"m.eqx.tmp-{dead}.bak",  # not a temporary name: kept
    ]
    for name in names:
        (tmp_path / name).write_bytes(b"partial")
    eqx_tree.tree_serialise_leaves(tmp_path / "m.eqx", [jnp.ones(2)])
    assert sorted(os.listdir(tmp_path)) == sorted(["m.eqx", *names[2:]])


def test_a_temporary_of_this_process_not_being_written_is_stale(tmp_path: pathlib.Path) -> None:
    # Left by an earlier process that had the same id (ids are reused).
    (tmp_path / f"m.safetensors.tmp-{os.getpid()}").write_bytes(b"partial")
    tree_save(tmp_path / "m.safetensors", [np.ones(1)])
    assert os.listdir(tmp_path) == ["m.safetensors"]


# --- a write that fails: an OSError naming the file, the old file intact ---------------


@pytest.fixture
def file_size_limit() -> Iterator[None]:
    """Writes past 64 KiB fail, as on a full disk (EFBIG instead of ENOSPC)."""
    previous_handler = signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
    soft, hard = resource.getrlimit(resource.RLIMIT_FSIZE)
    resource.setrlimit(resource.RLIMIT_FSIZE, (64 * 1024, hard))
    try:
        yield
    finally:
        resource.setrlimit(resource.RLIMIT_FSIZE, (soft, hard))
        signal.signal(signal.SIGXFSZ, previous_handler)


def test_serialise_leaves_that_cannot_be_written_raises_an_oserror_naming_the_file(
    tmp_path: pathlib.Path, file_size_limit: None
) -> None:
    path = tmp_path / "model.eqx"
    eqx_tree.tree_serialise_leaves(path, {"w": np.full(4, 1.0)})
    big = {"w": np.full(4, 2.0), "big": np.zeros(100_000)}  # 800 KB: past the limit
    with pytest.raises(OSError) as info:
        eqx_tree.tree_serialise_leaves(path, big)
    error = info.value
    assert not isinstance(error, RuntimeError)
    assert error.errno == errno.EFBIG  # recovered, though NumPy's own message lacks it
    assert error.filename == str(path)
    assert str(path) in str(error) and "['big']" in str(error)
    assert os.listdir(tmp_path) == ["model.eqx"]  # no temporary left behind
    old = eqx_tree.tree_deserialise_leaves(path, {"w": np.zeros(4)})
    np.testing.assert_array_equal(old["w"], np.full(4, 1.0))


def test_tree_save_that_cannot_be_written_raises_an_oserror_naming_the_file(
    tmp_path: pathlib.Path, file_size_limit: None
) -> None:
    path = tmp_path / "model.safetensors"
    tree_save(path, {"w": np.full(4, 1.0)})
    with pytest.raises(OSError) as info:
        tree_save(path, {"w": np.full(4, 2.0), "big": np.zeros(100_000)})
    assert info.value.errno == errno.EFBIG
    assert info.value.filename == str(path) and str(path) in str(info.value)
    assert os.listdir(tmp_path) == ["model.safetensors"]
    np.testing.assert_array_equal(tree_load(path, {"w": np.zeros(4)})["w"], np.full(4, 1.0))


def test_a_no_space_error_from_a_filter_spec_keeps_its_errno_and_names_the_file(
    tmp_path: pathlib.Path,
) -> None:
    path = tmp_path / "model.eqx"

    def no_space(f: object, leaf: object) -> None:
        raise OSError(errno.ENOSPC, "No space left on device")

    with pytest.raises(OSError) as info:
        eqx_tree.tree_serialise_leaves(path, [1.0], filter_spec=no_space)
    assert info.value.errno == errno.ENOSPC
    assert info.value.filename == str(path)
    assert "No space left on device" in str(info.value) and "[0]" in str(info.value)
    assert os.listdir(tmp_path) == []


# --- the header is checksummed too --------------------------------------------------------


def _header_span(path: pathlib.Path) -> tuple[int, bytes]:
    data = path.read_bytes()
    (length,) = struct.unpack("<Q", data[:8])
    return 8, data[8 : 8 + length]


def _replace_in_header(path: pathlib.Path, old: bytes, new: bytes) -> None:
    assert len(old) == len(new)
    data = bytearray(path.read_bytes())
    start, header = _header_span(path)
    assert header.count(old) == 1, (old, header)
    position = start + header.index(old)
    data[position : position + len(old)] = new
    path.write_bytes(bytes(data))


def _flip_bit(byte: int, bit: int = 0) -> bytes:
    return bytes([byte ^ (1 << bit)])


@pytest.mark.parametrize(
    ("old", "new", "what"),
    [
        (b'{\\"step\\": 1000}', b'{\\"step\\": 1001}', "user metadata"),
        (b'"format_version":"2"', b'"format_version":"3"', "format version"),
        (b'"shape":[3]', b'"shape":[2]', "tensor table"),  # caught before the layout check
        (b'"header_checksum"', b'"header_checksul"', "the checksum's own name"),
        (b'"checksum_algorithm"', b'"checksum_algorithl"', "the algorithm entry's name"),
        (b'"xxh3_64"', b'"xxh3_65"', "the algorithm's name"),
        (b'"checksums"', b'"checksumr"', "the tensor checksums' name"),
    ],
)
def test_a_flipped_bit_in_the_header_is_a_clear_error_naming_the_file(
    tmp_path: pathlib.Path, old: bytes, new: bytes, what: str
) -> None:
    path = tmp_path / "model.safetensors"
    tree_save(path, {"w": np.ones(3, np.float32), "b": np.ones(1)}, metadata={"step": 1000})
    assert sum(bin(a ^ b).count("1") for a, b in zip(old, new, strict=True)) == 1
    _replace_in_header(path, old, new)
    for read in (
        lambda: tree_load(path, {"w": np.zeros(3, np.float32), "b": np.zeros(1)}),
        lambda: tree_load_metadata(path),
    ):
        with pytest.raises(CheckpointFormatError, match="corrupt") as info:
            read()
        assert str(path) in str(info.value), what


def test_the_header_checksum_covers_the_stored_json(tmp_path: pathlib.Path) -> None:
    path = tmp_path / "model.safetensors"
    tree_save(path, {"w": np.ones(3)}, metadata={"step": 7})
    _, header = _header_span(path)
    prefix = b'{"__metadata__":{"checksum_algorithm":"xxh3_64","header_checksum":"'
    assert header.startswith(prefix)
    stored = header[len(prefix) : len(prefix) + 16].decode()
    unsealed = header[: len(prefix)] + b"0" * 16 + header[len(prefix) + 16 :]
    assert stored == xxhash.xxh3_64_hexdigest(unsealed)
    assert tree_load_metadata(path) == {"step": 7}


def test_files_written_before_the_header_checksum_still_load(tmp_path: pathlib.Path) -> None:
    # The layout the previous release wrote: no header_crc32 entry, `format` first.
    path = tmp_path / "old.safetensors"
    data = np.arange(3, dtype=np.float32).tobytes()
    metadata = {
        "format": "eqx-tree.checkpoint",
        "format_version": "1",
        "eqx_tree_version": "0.1.0",
        "jax_version": "0.4.38",
        "leaf_kinds": "{}",
        "crc32": json.dumps({"w": f"{zlib.crc32(data):08x}"}),
        "user_metadata": json.dumps({"step": 5}),
    }
    header = {
        "__metadata__": metadata,
        "w": {"dtype": "F32", "shape": [3], "data_offsets": [0, len(data)]},
    }
    encoded = json.dumps(header, separators=(",", ":")).encode()
    encoded += b" " * (-len(encoded) % 8)
    path.write_bytes(struct.pack("<Q", len(encoded)) + encoded + data)
    loaded = tree_load(path, {"w": np.zeros(3, np.float32)})
    np.testing.assert_array_equal(loaded["w"], np.arange(3, dtype=np.float32))
    assert tree_load_metadata(path) == {"step": 5}
