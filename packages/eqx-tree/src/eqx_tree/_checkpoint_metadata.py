"""The `__metadata__` of a checkpoint: what eqx-tree records beyond plain safetensors.

All values are strings (safetensors requires it); the structured ones are JSON:

- `header_crc32`: the CRC-32 (8 hex digits) of the whole header JSON as stored, with
  this value itself read as `00000000`. It is the first entry, so it sits at a fixed
  offset; a flipped bit anywhere in the tensor table or `__metadata__` (the format
  version, the user's saved step) is caught before anything is trusted. Files written
  before it existed have no such entry and load unchecked;
- `format` = `"eqx-tree.checkpoint"`, `format_version` = `"1"`, `eqx_tree_version`,
  `jax_version`, and `eqx_version` when the `eqx` meta-package is installed (its
  version is read from the distribution metadata; `eqx` is never imported);
- `user_metadata`: `json.dumps(metadata)` (`"null"` when none was given);
- `crc32`: `{name: "8 hex digits"}`, the CRC-32 of each tensor's bytes, checked as each
  tensor is read (so flipped bits in the data section are caught too);
- `leaf_kinds`: `{name: kind}` for leaves that are not plain arrays: `"bool"`, `"int"`,
  `"float"` for Python scalars (stored as 0-d `BOOL`/`I64`/`F64`), `"complex"` for a
  Python complex and `"complex128"` for a complex128 array (safetensors has no 128-bit
  complex dtype, so both are stored as `F64` with a trailing axis of 2: real,
  imaginary; complex64 is stored natively as `C64`), and `"prng_key:<impl>"` for a
  typed PRNG key array (`jax.random.key`), stored as its uint32 `key_data`.

Files from other writers lack these entries: every tensor is then a plain array with no
checksum. Entries that are present are validated like the header itself.
"""

from __future__ import annotations

import importlib.metadata
import json
import zlib
from collections.abc import Mapping
from typing import Any

import jax
import numpy as np

from ._checkpoint_leaves import LeafSpec
from ._checkpoint_report import CheckpointFormatError
from ._safetensors_format import SafetensorsHeader
from ._version import version as eqx_tree_version

__all__ = [
    "COMPLEX128",
    "COMPLEX_KINDS",
    "FLOAT64",
    "FORMAT_NAME",
    "FORMAT_VERSION",
    "KEY_KIND_PREFIX",
    "build_metadata",
    "check_format_version",
    "check_header_checksum",
    "encode_user_metadata",
    "key_layout",
    "logical_specs",
    "parse_checksums",
    "parse_leaf_kinds",
    "seal_header",
]

FORMAT_VERSION = "1"
FORMAT_NAME = "eqx-tree.checkpoint"
COMPLEX_KINDS = frozenset({"complex", "complex128"})
SCALAR_KINDS = frozenset({"bool", "int", "float", "complex"})
KEY_KIND_PREFIX = "prng_key:"
COMPLEX128 = np.dtype(np.complex128)
FLOAT64 = np.dtype(np.float64)
HEADER_CRC_KEY = "header_crc32"
_UNSEALED = "0" * 8
# How every sealed header starts: the checksum is the first `__metadata__` entry.
_SEAL_PREFIX = b'{"__metadata__":{"' + HEADER_CRC_KEY.encode() + b'":"'
_SEAL_SLICE = slice(len(_SEAL_PREFIX), len(_SEAL_PREFIX) + len(_UNSEALED))
_LENGTH_PREFIX = 8


def _eqx_version() -> str | None:
    """The installed `eqx` meta-package's version, or `None` (eqx-tree used on its own)."""
    try:
        return importlib.metadata.version("eqx")
    except importlib.metadata.PackageNotFoundError:
        return None


def build_metadata(
    kinds: Mapping[str, str], checksums: Mapping[str, str], user_metadata: str
) -> dict[str, str]:
    """The `__metadata__` strings of a checkpoint."""
    metadata = {
        HEADER_CRC_KEY: _UNSEALED,  # first, so `seal_header` finds it at a fixed offset
        "format": FORMAT_NAME,
        "format_version": FORMAT_VERSION,
        "eqx_tree_version": eqx_tree_version(),
        "jax_version": jax.__version__,
    }
    eqx_version = _eqx_version()
    if eqx_version is not None:
        metadata["eqx_version"] = eqx_version
    metadata |= {
        "leaf_kinds": json.dumps(kinds),
        "crc32": json.dumps(checksums),
        "user_metadata": user_metadata,
    }
    return metadata


def _header_crc32(raw: bytes) -> str:
    """The CRC-32 of header JSON `raw`, its own checksum read as `00000000`."""
    unsealed = raw[: _SEAL_SLICE.start] + _UNSEALED.encode() + raw[_SEAL_SLICE.stop :]
    return f"{zlib.crc32(unsealed):08x}"


def _one_bit_apart(a: str, b: str) -> bool:
    x, y = a.encode(), b.encode()
    return len(x) == len(y) and sum(bin(p ^ q).count("1") for p, q in zip(x, y, strict=True)) == 1


def seal_header(header: bytes) -> bytes:
    """Fill in the `header_crc32` of an encoded header (8-byte length prefix included)."""
    raw = header[_LENGTH_PREFIX:]
    assert raw.startswith(_SEAL_PREFIX), raw[:64]
    start, stop = _LENGTH_PREFIX + _SEAL_SLICE.start, _LENGTH_PREFIX + _SEAL_SLICE.stop
    return header[:start] + _header_crc32(raw).encode() + header[stop:]


def check_header_checksum(raw: bytes, metadata: Mapping[str, str]) -> None:
    """Refuse a header (JSON `raw`, parsed `metadata`) changed after `tree_save` sealed it.

    Raises:
        CheckpointFormatError: the checksum does not match, or its entry's name is one
            flipped bit away from `header_crc32`. Files from before the checksum, and
            from other writers, have no entry and pass.
    """
    stored = metadata.get(HEADER_CRC_KEY)
    if stored is None:
        damaged = [key for key in metadata if _one_bit_apart(key, HEADER_CRC_KEY)]
        if damaged:
            raise CheckpointFormatError(
                f"the header has a __metadata__ entry {damaged[0]!r} where eqx-tree writes "
                f"{HEADER_CRC_KEY!r}: the checksum's own name was damaged; the file is corrupt"
            )
        return
    actual = _header_crc32(raw)
    if not raw.startswith(_SEAL_PREFIX) or stored != actual:
        raise CheckpointFormatError(
            f"the header does not match its recorded CRC-32 ({actual} instead of "
            f"{stored!r}): the tensor table or __metadata__ (format version, user "
            "metadata) was damaged after saving; the file is corrupt"
        )


def check_format_version(header: SafetensorsHeader) -> None:
    """Refuse files of a format version this eqx-tree does not read."""
    version = header.metadata.get("format_version", FORMAT_VERSION)
    if header.metadata.get("format") == FORMAT_NAME and version != FORMAT_VERSION:
        raise CheckpointFormatError(
            f"the file is format version {version!r}; this eqx-tree ({eqx_tree_version()}) "
            f"reads version {FORMAT_VERSION!r}. Upgrade eqx-tree"
        )


def encode_user_metadata(metadata: Mapping[str, Any] | None) -> str:
    if metadata is not None and (
        not isinstance(metadata, Mapping) or not all(isinstance(key, str) for key in metadata)
    ):
        raise TypeError(f"metadata must be a mapping with string keys (or None), got {metadata!r}")
    try:
        return json.dumps(None if metadata is None else dict(metadata), allow_nan=False)
    except (TypeError, ValueError) as error:
        raise TypeError(
            f"metadata must be JSON-serialisable (str, int, float, bool, None, lists and "
            f"dicts of them; no NaN/inf): {error}. Convert arrays with .tolist() and other "
            "objects with str() first"
        ) from None


def parse_checksums(header: SafetensorsHeader) -> dict[str, int]:
    """The CRC-32 of each tensor's bytes that `tree_save` recorded (none for other writers)."""
    raw = header.metadata.get("crc32", "{}")
    try:
        checksums = json.loads(raw)
    except json.JSONDecodeError:
        raise CheckpointFormatError(f"__metadata__['crc32'] is not JSON: {raw!r}") from None
    if not isinstance(checksums, dict):
        raise CheckpointFormatError("__metadata__['crc32'] must be a JSON object")
    result = {}
    for name, value in checksums.items():
        if name not in header.tensors:
            raise CheckpointFormatError(
                f"__metadata__['crc32'] names {name!r}, which is not a tensor in the file"
            )
        if not isinstance(value, str) or len(value) != 8:
            raise CheckpointFormatError(f"the checksum of {name!r} is {value!r}, not 8 hex digits")
        try:
            result[name] = int(value, 16)
        except ValueError:
            raise CheckpointFormatError(
                f"the checksum of {name!r} is {value!r}, not 8 hex digits"
            ) from None
    return result


def parse_leaf_kinds(header: SafetensorsHeader) -> dict[str, str]:
    raw = header.metadata.get("leaf_kinds", "{}")
    try:
        kinds = json.loads(raw)
    except json.JSONDecodeError:
        raise CheckpointFormatError(f"__metadata__['leaf_kinds'] is not JSON: {raw!r}") from None
    if not isinstance(kinds, dict):
        raise CheckpointFormatError("__metadata__['leaf_kinds'] must be a JSON object")
    for name, kind in kinds.items():
        info = header.tensors.get(name)
        if info is None:
            raise CheckpointFormatError(
                f"__metadata__['leaf_kinds'] names {name!r}, which is not a tensor in the file"
            )
        if isinstance(kind, str) and kind.startswith(KEY_KIND_PREFIX):
            _, data_shape = key_layout(name, kind)
            if (
                info.dtype != np.dtype(np.uint32)
                or info.shape[len(info.shape) - len(data_shape) :] != data_shape
            ):
                raise CheckpointFormatError(
                    f"leaf {name!r} is marked {kind!r}, so it must be stored as U32 ending in "
                    f"{list(data_shape)}, but it is {info.code}{list(info.shape)}"
                )
            continue
        if kind not in SCALAR_KINDS and kind != "complex128":
            raise CheckpointFormatError(f"leaf {name!r} has unknown kind {kind!r}")
        if kind in COMPLEX_KINDS and (
            info.dtype != FLOAT64 or not info.shape or info.shape[-1] != 2
        ):
            raise CheckpointFormatError(
                f"leaf {name!r} is marked {kind!r}, so it must be stored as F64 with a "
                f"last axis of 2, but it is {info.code}{list(info.shape)}"
            )
        if kind in SCALAR_KINDS and info.shape != ((2,) if kind == "complex" else ()):
            raise CheckpointFormatError(
                f"leaf {name!r} is marked as a Python {kind} but has shape {list(info.shape)}"
            )
    return kinds


def key_layout(name: str, kind: str) -> tuple[Any, tuple[int, ...]]:
    """The key dtype of a stored PRNG implementation and the trailing shape of its data."""
    impl = kind.removeprefix(KEY_KIND_PREFIX)
    try:
        probe = jax.eval_shape(lambda: jax.random.key(0, impl=impl))
    except (ValueError, TypeError, KeyError):
        raise CheckpointFormatError(
            f"leaf {name!r} is a PRNG key of implementation {impl!r}, which this JAX "
            f"({jax.__version__}) does not know"
        ) from None
    data = jax.eval_shape(jax.random.key_data, probe)
    return probe.dtype, tuple(data.shape)


def logical_specs(header: SafetensorsHeader, kinds: Mapping[str, str]) -> dict[str, LeafSpec]:
    """What each stored tensor represents, with complex pairs folded back."""
    specs = {}
    for name, info in header.tensors.items():
        kind = kinds.get(name, "array")
        if kind in COMPLEX_KINDS:
            specs[name] = LeafSpec(kind, info.shape[:-1], COMPLEX128)
        elif kind.startswith(KEY_KIND_PREFIX):
            key_dtype, data_shape = key_layout(name, kind)
            shape = info.shape[: len(info.shape) - len(data_shape)]
            specs[name] = LeafSpec("prng_key", shape, key_dtype)
        else:
            specs[name] = LeafSpec(kind, info.shape, info.dtype)
    return specs
