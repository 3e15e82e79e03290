"""The safetensors file format: build a header, and parse-and-validate one.

A safetensors file is:

1. 8 bytes: `N`, the header length, an unsigned little-endian 64-bit integer;
2. `N` bytes: a UTF-8 JSON object mapping each tensor name to
   `{"dtype": "F32", "shape": [3, 4], "data_offsets": [begin, end]}`, plus an optional
   `"__metadata__"` object of string → string (padded with spaces to a multiple of 8);
3. the data section: the raw little-endian, C-order bytes of every tensor, where
   `data_offsets` are relative to the start of this section.

Why written by hand rather than through the `safetensors` library (which is not a
dependency of eqx-tree; the tests use it to prove the files are interchangeable):

- **Validate everything before reading anything.** `parse_header` checks the header
  length against the file size, the JSON, duplicate names, every dtype, shape and
  offset (in bounds, consistent with shape × itemsize, non-overlapping, covering the
  data section exactly) and only then does a caller read tensor bytes, each through a
  size already proven to fit in the file. A tampered header cannot make us allocate
  what it claims. Each failure gets its own message.
- **bfloat16 and float8 without torch.** `safetensors.numpy` cannot load `BF16`; here the
  dtypes come from `ml_dtypes` (a JAX dependency) via `jax.numpy`.
- **Streaming and atomic writes** are done by `tree_save`, one tensor at a time, into a
  temporary file renamed into place.
- **eqx-tree's install set stays small**: JAX and its dependencies, plus two small
  packages (`wadler-lindig`, `xxhash` for the checksums).
"""

from __future__ import annotations

import dataclasses
import io
import json
import math
import struct
from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import TYPE_CHECKING, Any

import jax.numpy as jnp
import numpy as np

if TYPE_CHECKING:  # numpy.typing costs ~5 ms to import, for annotations only
    import numpy.typing as npt

from ._checkpoint_report import CheckpointFormatError
from ._checksums import RecordedChecksum
from ._chunked_io import readinto_checksummed

__all__ = [
    "DTYPE_BY_CODE",
    "MAX_HEADER_BYTES",
    "SafetensorsHeader",
    "TensorInfo",
    "build_header",
    "dtype_code",
    "parse_header",
    "read_tensor",
]

# The same limit the reference `safetensors` reader applies.
MAX_HEADER_BYTES = 100_000_000
_LENGTH_PREFIX = 8
_METADATA_KEY = "__metadata__"
_ENTRY_FIELDS = frozenset({"dtype", "shape", "data_offsets"})

DTYPE_BY_CODE: dict[str, np.dtype[Any]] = {
    "BOOL": np.dtype(np.bool_),
    "U8": np.dtype(np.uint8),
    "I8": np.dtype(np.int8),
    "U16": np.dtype(np.uint16),
    "I16": np.dtype(np.int16),
    "U32": np.dtype(np.uint32),
    "I32": np.dtype(np.int32),
    "U64": np.dtype(np.uint64),
    "I64": np.dtype(np.int64),
    "F16": np.dtype(np.float16),
    "BF16": np.dtype(jnp.bfloat16),
    "F32": np.dtype(np.float32),
    "F64": np.dtype(np.float64),
    "C64": np.dtype(np.complex64),
    "F8_E4M3": np.dtype(jnp.float8_e4m3fn),
    "F8_E5M2": np.dtype(jnp.float8_e5m2),
}
_CODE_BY_DTYPE = {dtype: code for code, dtype in DTYPE_BY_CODE.items()}


def dtype_code(dtype: np.dtype[Any]) -> str:
    """The safetensors code of a NumPy dtype (`float32` → `"F32"`).

    Raises:
        TypeError: the dtype has no safetensors code (for example `complex128` or
            `object`).
    """
    try:
        return _CODE_BY_DTYPE[np.dtype(dtype).newbyteorder("=")]
    except KeyError:
        known = ", ".join(str(d) for d in _CODE_BY_DTYPE)
        raise TypeError(
            f"dtype {dtype} cannot be stored in a safetensors file; supported: {known}"
        ) from None


@dataclasses.dataclass(frozen=True)
class TensorInfo:
    """One validated header entry. `begin`/`end` are offsets into the data section."""

    dtype: np.dtype[Any]
    shape: tuple[int, ...]
    begin: int
    end: int

    @property
    def code(self) -> str:
        return _CODE_BY_DTYPE[self.dtype]


@dataclasses.dataclass(frozen=True)
class SafetensorsHeader:
    """A validated header: tensors by name (file order), metadata, where the data starts."""

    tensors: dict[str, TensorInfo]
    metadata: dict[str, str]
    data_start: int


def build_header(
    entries: Iterable[tuple[str, str, Sequence[int]]], metadata: Mapping[str, str]
) -> tuple[bytes, list[tuple[int, int]]]:
    """Lay out tensors back to back and encode the header, length prefix included.

    Arguments:
        entries: `(name, dtype code, shape)` per tensor, in the order their bytes follow.
        metadata: the `__metadata__` strings.

    Returns:
        The bytes to write before the data section, and each tensor's `(begin, end)`.
    """
    header: dict[str, Any] = {_METADATA_KEY: dict(metadata)}
    offsets: list[tuple[int, int]] = []
    position = 0
    for name, code, shape in entries:
        nbytes = math.prod(shape) * DTYPE_BY_CODE[code].itemsize
        offsets.append((position, position + nbytes))
        header[name] = {
            "dtype": code,
            "shape": list(shape),
            "data_offsets": [position, position + nbytes],
        }
        position += nbytes
    encoded = json.dumps(header, ensure_ascii=False, separators=(",", ":")).encode("utf-8")
    # Pad with spaces (valid JSON whitespace) so the data section starts 8-byte aligned.
    encoded += b" " * (-len(encoded) % 8)
    if len(encoded) > MAX_HEADER_BYTES:
        raise ValueError(
            f"the checkpoint header would be {len(encoded)} bytes, over the "
            f"{MAX_HEADER_BYTES}-byte limit safetensors readers accept; save fewer leaves "
            "per file or shorten the metadata"
        )
    return struct.pack("<Q", len(encoded)) + encoded, offsets


def _reject_duplicate_keys(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    result: dict[str, Any] = {}
    for key, value in pairs:
        if key in result:
            raise CheckpointFormatError(
                f"the header names {key!r} more than once; a tampered or corrupt file"
            )
        result[key] = value
    return result


def _is_int(value: object) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _parse_entry(name: str, entry: object, data_size: int) -> TensorInfo:
    if not isinstance(entry, dict):
        raise CheckpointFormatError(
            f"header entry {name!r} must be an object with dtype, shape and data_offsets, "
            f"got {type(entry).__name__}"
        )
    if set(entry) != _ENTRY_FIELDS:
        raise CheckpointFormatError(
            f"header entry {name!r} has fields {sorted(entry)}; expected exactly "
            f"{sorted(_ENTRY_FIELDS)}"
        )
    code = entry["dtype"]
    if not isinstance(code, str) or code not in DTYPE_BY_CODE:
        raise CheckpointFormatError(
            f"tensor {name!r} has unknown dtype {code!r}; known dtypes: {', '.join(DTYPE_BY_CODE)}"
        )
    shape = entry["shape"]
    if not isinstance(shape, list) or not all(_is_int(dim) and dim >= 0 for dim in shape):
        raise CheckpointFormatError(
            f"tensor {name!r} has shape {shape!r}; a shape must be a list of non-negative integers"
        )
    offsets = entry["data_offsets"]
    if (
        not isinstance(offsets, list)
        or len(offsets) != 2
        or not all(_is_int(offset) for offset in offsets)
        or not 0 <= offsets[0] <= offsets[1]
    ):
        raise CheckpointFormatError(
            f"tensor {name!r} has data_offsets {offsets!r}; expected [begin, end] with "
            "0 <= begin <= end"
        )
    begin, end = offsets
    if end > data_size:
        raise CheckpointFormatError(
            f"tensor {name!r} has data_offsets [{begin}, {end}], past the end of the "
            f"{data_size}-byte data section; the file is truncated or corrupt"
        )
    dtype = DTYPE_BY_CODE[code]
    expected_nbytes = math.prod(shape) * dtype.itemsize
    if end - begin != expected_nbytes:
        raise CheckpointFormatError(
            f"tensor {name!r} is {code}{shape}, which takes {expected_nbytes} bytes, but its "
            f"data_offsets [{begin}, {end}] span {end - begin} bytes"
        )
    return TensorInfo(dtype=dtype, shape=tuple(shape), begin=begin, end=end)


def _check_layout(tensors: Mapping[str, TensorInfo], data_size: int) -> None:
    """The tensors must tile the data section exactly: no overlap, no gap, no excess."""
    position = 0
    previous = ""
    for name, info in sorted(tensors.items(), key=lambda item: (item[1].begin, item[1].end)):
        if info.begin < position:
            raise CheckpointFormatError(
                f"tensors {previous!r} and {name!r} overlap: {name!r} starts at byte "
                f"{info.begin} of the data section, before {previous!r} ends at {position}"
            )
        if info.begin > position:
            raise CheckpointFormatError(
                f"bytes [{position}, {info.begin}) of the data section belong to no tensor; "
                "the header does not describe the file"
            )
        position = info.end
        if info.end > info.begin:
            previous = name
    if position != data_size:
        raise CheckpointFormatError(
            f"the data section has {data_size} bytes but the tensors cover only {position}; "
            "the file has trailing bytes or a tampered header"
        )


def parse_header(
    file: io.BufferedIOBase,
    file_size: int,
    check_raw: Callable[[bytes, dict[str, str]], None] | None = None,
) -> SafetensorsHeader:
    """Read and validate the header of an open safetensors file (positioned at 0).

    Nothing beyond the header is read. Every check that protects the reads that follow
    happens here. `check_raw(raw_json, metadata)`, if given, runs as soon as the
    metadata is parsed, before the tensor entries are checked (a checksum over the
    header explains a damaged entry better than the entry's own check).

    Raises:
        CheckpointFormatError: naming the first problem found.
    """
    if file_size < _LENGTH_PREFIX:
        raise CheckpointFormatError(
            f"the file is {file_size} bytes, shorter than the 8-byte header length that "
            "starts a safetensors file; it is truncated or not a checkpoint"
        )
    (header_length,) = struct.unpack("<Q", file.read(_LENGTH_PREFIX))
    if header_length > file_size - _LENGTH_PREFIX:
        raise CheckpointFormatError(
            f"the header length says {header_length} bytes but only "
            f"{file_size - _LENGTH_PREFIX} follow; the file is truncated or not a checkpoint"
        )
    if header_length > MAX_HEADER_BYTES:
        raise CheckpointFormatError(
            f"the header length {header_length} exceeds the {MAX_HEADER_BYTES}-byte limit"
        )
    raw = file.read(header_length)
    if len(raw) != header_length:
        raise CheckpointFormatError("the file ended while reading the header; it is truncated")
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as error:
        raise CheckpointFormatError(f"the header is not valid UTF-8: {error}") from None
    try:
        parsed = json.loads(text, object_pairs_hook=_reject_duplicate_keys)
    except json.JSONDecodeError as error:
        raise CheckpointFormatError(f"the header is not valid JSON: {error}") from None
    except RecursionError:
        raise CheckpointFormatError(
            "the header nests JSON too deeply to be a safetensors header"
        ) from None
    if not isinstance(parsed, dict):
        raise CheckpointFormatError(
            f"the header must be a JSON object, got {type(parsed).__name__}"
        )
    metadata = parsed.pop(_METADATA_KEY, {})
    if not isinstance(metadata, dict) or not all(
        isinstance(value, str) for value in metadata.values()
    ):
        raise CheckpointFormatError("__metadata__ must be an object mapping strings to strings")
    if check_raw is not None:
        check_raw(raw, metadata)
    data_start = _LENGTH_PREFIX + header_length
    data_size = file_size - data_start
    tensors = {name: _parse_entry(name, entry, data_size) for name, entry in parsed.items()}
    _check_layout(tensors, data_size)
    return SafetensorsHeader(tensors=tensors, metadata=metadata, data_start=data_start)


def read_tensor(
    file: io.BufferedIOBase,
    header: SafetensorsHeader,
    name: str,
    checksum: RecordedChecksum | None = None,
) -> npt.NDArray[Any]:
    """Read one validated tensor into a fresh, writable NumPy array (native byte order).

    Arguments:
        checksum: if given, the checksum the tensor's bytes must have.
    """
    info = header.tensors[name]
    # np.empty, not bytearray: the buffer is about to be overwritten, so no zero-filling.
    buffer = np.empty(info.end - info.begin, np.uint8)
    view = buffer.data
    file.seek(header.data_start + info.begin)
    if checksum is None:
        count, actual = file.readinto(view), None
    else:
        running = checksum.algorithm.start()
        count = readinto_checksummed(file, view, running)
        actual = running.hexdigest()
    if count != len(buffer):
        raise CheckpointFormatError(
            f"the file ended while reading tensor {name!r}; it was truncated while loading"
        )
    if checksum is not None and actual != checksum.hexdigest:
        raise CheckpointFormatError(
            f"the bytes of tensor {name!r} do not match their recorded "
            f"{checksum.algorithm.label} checksum ({actual} instead of "
            f"{checksum.hexdigest}); the file is corrupt"
        )
    little_endian = info.dtype.newbyteorder("<")
    return buffer.view(little_endian).astype(info.dtype, copy=False).reshape(info.shape)
