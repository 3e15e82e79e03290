"""The safetensors header: layout on writing, and validation of every field on reading.

The malicious-header tests hand-craft files and check that each is rejected with a
message naming the problem, before any tensor byte is read (a spy file records reads).
"""

import io
import json
import struct
import zlib
from collections.abc import Callable
from typing import Any

import jax.numpy as jnp
import numpy as np
import pytest
import xxhash

from eqx_tree import CheckpointFormatError
from eqx_tree._checksums import CRC32, XXH3_64, ChecksumAlgorithm, RecordedChecksum
from eqx_tree._safetensors_format import (
    DTYPE_BY_CODE,
    MAX_HEADER_BYTES,
    build_header,
    dtype_code,
    parse_header,
    read_tensor,
)


class _ReadSpy(io.BytesIO):
    """A BytesIO that records the furthest byte any read reached."""

    furthest = 0

    def read(self, size: int | None = -1, /) -> bytes:
        data = super().read(size)
        self.furthest = max(self.furthest, self.tell())
        return data

    def readinto(self, buffer: Any, /) -> int:
        count = super().readinto(buffer)
        self.furthest = max(self.furthest, self.tell())
        return count


def _file(header: object, data: bytes = b"", *, length: int | None = None) -> bytes:
    encoded = header if isinstance(header, bytes) else json.dumps(header).encode()
    prefix = struct.pack("<Q", len(encoded) if length is None else length)
    return prefix + encoded + data


def _parse(raw: bytes) -> tuple[_ReadSpy, Any]:
    spy = _ReadSpy(raw)
    return spy, parse_header(spy, len(raw))


def _rejects(raw: bytes, match: str) -> None:
    spy = _ReadSpy(raw)
    with pytest.raises(CheckpointFormatError, match=match):
        parse_header(spy, len(raw))
    (claimed,) = struct.unpack("<Q", raw[:8])
    # Only the length prefix and (if it fits in the file) the header may have been read.
    header_end = 8 + claimed if 8 + claimed <= len(raw) else 8
    assert spy.furthest <= header_end, "validation read past the header"


def _entry(code: str, shape: list[int], begin: int, end: int) -> dict[str, Any]:
    return {"dtype": code, "shape": shape, "data_offsets": [begin, end]}


# --- writing -------------------------------------------------------------------------


def test_build_header_lays_tensors_back_to_back_and_pads_to_eight_bytes() -> None:
    prefix, offsets = build_header([("a", "F32", (2, 3)), ("b", "I8", (5,))], {"k": "v"})
    (length,) = struct.unpack("<Q", prefix[:8])
    assert length == len(prefix) - 8
    assert length % 8 == 0
    assert offsets == [(0, 24), (24, 29)]
    header = json.loads(prefix[8:])
    assert header["a"] == _entry("F32", [2, 3], 0, 24)
    assert header["b"] == _entry("I8", [5], 24, 29)
    assert header["__metadata__"] == {"k": "v"}


def test_dtype_code_maps_numpy_dtypes_to_safetensors_codes() -> None:
    assert dtype_code(np.dtype(np.float32)) == "F32"
    assert dtype_code(np.dtype(jnp.bfloat16)) == "BF16"
    assert dtype_code(np.dtype(np.bool_)) == "BOOL"
    assert dtype_code(np.dtype(">f4")) == "F32"


def test_dtype_code_rejects_dtypes_safetensors_cannot_store() -> None:
    with pytest.raises(TypeError, match="complex128 cannot be stored"):
        dtype_code(np.dtype(np.complex128))


def test_a_built_header_parses_back_to_the_same_tensors() -> None:
    prefix, _ = build_header([("w", "F16", (3,)), ("s", "U8", ())], {})
    raw = prefix + np.arange(3, dtype=np.float16).tobytes() + b"\x07"
    spy, header = _parse(raw)
    assert list(header.tensors) == ["w", "s"]
    np.testing.assert_array_equal(read_tensor(spy, header, "w"), np.arange(3, dtype=np.float16))
    assert read_tensor(spy, header, "s") == 7


def test_read_tensor_returns_a_writable_array_of_the_declared_shape_and_dtype() -> None:
    values = np.arange(6, dtype=np.int32).reshape(2, 3)
    raw = _file({"x": _entry("I32", [2, 3], 0, 24)}, values.tobytes())
    spy, header = _parse(raw)
    loaded = read_tensor(spy, header, "x")
    assert loaded.dtype == np.int32
    assert loaded.flags.writeable
    np.testing.assert_array_equal(loaded, values)


def test_every_dtype_code_round_trips_through_bytes() -> None:
    for code, dtype in DTYPE_BY_CODE.items():
        values = np.arange(4).astype(dtype)
        raw = _file({"x": _entry(code, [4], 0, 4 * dtype.itemsize)}, values.tobytes())
        spy, header = _parse(raw)
        np.testing.assert_array_equal(read_tensor(spy, header, "x"), values)


def test_metadata_and_zero_size_tensors_are_accepted() -> None:
    raw = _file(
        {
            "__metadata__": {"a": "b"},
            "e": _entry("F32", [0, 3], 0, 0),
            "x": _entry("U8", [1], 0, 1),
        },
        b"\x01",
    )
    _, header = _parse(raw)
    assert header.metadata == {"a": "b"}
    assert header.tensors["e"].shape == (0, 3)


# --- rejecting malformed and malicious headers ----------------------------------------


def test_rejects_a_file_shorter_than_the_length_prefix() -> None:
    with pytest.raises(CheckpointFormatError, match="shorter than the 8-byte header length"):
        parse_header(io.BytesIO(b"\x01\x02"), 2)


def test_rejects_a_header_length_larger_than_the_file() -> None:
    _rejects(_file({"x": _entry("U8", [1], 0, 1)}, b"\x00", length=10**6), "only .* follow")


def test_rejects_a_huge_header_length_without_reading_it() -> None:
    _rejects(_file(b"{}", length=2**63), "header length says 9223372036854775808 bytes")


def test_rejects_a_header_over_the_size_limit() -> None:
    raw = struct.pack("<Q", MAX_HEADER_BYTES + 1)
    spy = _ReadSpy(raw)
    with pytest.raises(CheckpointFormatError, match="exceeds the 100000000-byte limit"):
        # Claim a file big enough that only the limit can object.
        parse_header(spy, MAX_HEADER_BYTES + 100)
    assert spy.furthest == 8


def test_rejects_a_header_that_is_not_utf8() -> None:
    _rejects(_file(b"\xff\xfe{}"), "not valid UTF-8")


def test_rejects_a_header_that_is_not_json() -> None:
    _rejects(_file(b'{"x": '), "not valid JSON")


def test_rejects_a_deeply_nested_header() -> None:
    _rejects(_file(b"[" * 100_000 + b"]" * 100_000), "nests JSON too deeply")


def test_rejects_a_header_that_is_not_an_object() -> None:
    _rejects(_file([1, 2]), "must be a JSON object, got list")


def test_rejects_duplicate_tensor_names() -> None:
    entry = b'{"dtype":"U8","shape":[1],"data_offsets":[%d,%d]}'
    header = b'{"w":' + entry % (0, 1) + b',"w":' + entry % (1, 2) + b"}"
    _rejects(_file(header, b"\x00\x00"), "names 'w' more than once")


def test_rejects_metadata_with_non_string_values() -> None:
    _rejects(_file({"__metadata__": {"a": 1}}), "__metadata__ must be an object mapping strings")


def test_rejects_an_entry_that_is_not_an_object() -> None:
    _rejects(_file({"w": [1, 2]}), "header entry 'w' must be an object")


def test_rejects_an_entry_with_missing_or_extra_fields() -> None:
    _rejects(_file({"w": {"dtype": "U8", "shape": [1]}}), "header entry 'w' has fields")
    _rejects(_file({"w": {**_entry("U8", [1], 0, 1), "extra": 1}}, b"\x00"), "expected exactly")


def test_rejects_an_unknown_dtype() -> None:
    _rejects(_file({"w": _entry("F128", [1], 0, 16)}, bytes(16)), "unknown dtype 'F128'")


def test_rejects_a_negative_shape() -> None:
    _rejects(_file({"w": _entry("U8", [-1], 0, 0)}), r"shape \[-1\]; a shape must be")


def test_rejects_a_non_integer_shape() -> None:
    _rejects(_file({"w": _entry("U8", [1.5], 0, 1)}, b"\x00"), "non-negative integers")  # type: ignore[list-item]
    _rejects(_file({"w": _entry("U8", [True], 0, 1)}, b"\x00"), "non-negative integers")


def test_rejects_offsets_that_are_reversed_or_negative() -> None:
    _rejects(_file({"w": _entry("U8", [1], 1, 0)}, b"\x00"), "0 <= begin <= end")
    _rejects(_file({"w": _entry("U8", [1], -1, 0)}, b"\x00"), "0 <= begin <= end")


def test_rejects_offsets_past_the_end_of_the_data() -> None:
    _rejects(
        _file({"w": _entry("F32", [4], 0, 16)}, bytes(8)),
        r"data_offsets \[0, 16\], past the end of the 8-byte data section",
    )


def test_rejects_a_huge_claimed_size_without_allocating_it() -> None:
    huge = 10**12
    _rejects(_file({"w": _entry("F32", [huge], 0, 4 * huge)}, bytes(8)), "past the end")
    # A huge shape with small offsets fails the size check instead.
    _rejects(_file({"w": _entry("F32", [huge], 0, 8)}, bytes(8)), "takes 4000000000000 bytes")


def test_rejects_offsets_inconsistent_with_shape_and_itemsize() -> None:
    _rejects(
        _file({"w": _entry("F32", [3], 0, 8)}, bytes(8)),
        r"F32\[3\], which takes 12 bytes, but its data_offsets \[0, 8\] span 8 bytes",
    )


def test_rejects_overlapping_tensors() -> None:
    header = {"a": _entry("F32", [2], 0, 8), "b": _entry("F32", [2], 4, 12)}
    _rejects(_file(header, bytes(12)), "tensors 'a' and 'b' overlap")


def test_rejects_a_gap_between_tensors() -> None:
    header = {"a": _entry("U8", [2], 0, 2), "b": _entry("U8", [2], 4, 6)}
    _rejects(_file(header, bytes(6)), r"bytes \[2, 4\) of the data section belong to no tensor")


def test_rejects_trailing_bytes_after_the_last_tensor() -> None:
    _rejects(
        _file({"a": _entry("U8", [2], 0, 2)}, bytes(5)), "has 5 bytes but the tensors cover only 2"
    )


@pytest.mark.parametrize(
    ("algorithm", "digest"),
    [(XXH3_64, xxhash.xxh3_64_hexdigest), (CRC32, lambda data: f"{zlib.crc32(data):08x}")],
)
def test_read_tensor_checks_the_checksum_when_given(
    algorithm: ChecksumAlgorithm, digest: Callable[[bytes], str]
) -> None:
    raw = _file({"a": _entry("U8", [3], 0, 3)}, b"abc")
    spy, header = _parse(raw)
    right = RecordedChecksum(algorithm, digest(b"abc"))
    np.testing.assert_array_equal(read_tensor(spy, header, "a", right), [97, 98, 99])
    wrong = RecordedChecksum(algorithm, digest(b"abd"))
    with pytest.raises(
        CheckpointFormatError,
        match=f"tensor 'a' do not match their recorded {algorithm.label} checksum "
        rf"\({digest(b'abc')} instead of {digest(b'abd')}\); the file is corrupt",
    ):
        read_tensor(spy, header, "a", wrong)


def test_read_tensor_reports_a_file_truncated_after_validation() -> None:
    raw = _file({"a": _entry("U8", [4], 0, 4)}, bytes(4))
    spy, header = _parse(raw)
    spy.truncate(len(raw) - 2)
    with pytest.raises(CheckpointFormatError, match="ended while reading tensor 'a'"):
        read_tensor(spy, header, "a")
