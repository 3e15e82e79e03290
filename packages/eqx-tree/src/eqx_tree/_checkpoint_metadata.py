"""The `__metadata__` of a checkpoint: what eqx-tree records beyond plain safetensors.

All values are strings (safetensors requires it); the structured ones are JSON:

- `checksum_algorithm` = `"xxh3_64"`: the checksum used by the two entries below
  (`_checksums` says why XXH3-64). It is the first entry and `header_checksum` the
  second, so the header checksum sits at a fixed offset;
- `header_checksum`: the checksum (16 hex digits for XXH3-64) of the whole header JSON
  as stored, with this value itself read as zeros. A flipped bit anywhere in the tensor
  table or `__metadata__` (the format version, the user's saved step) is caught before
  anything is trusted;
- `format` = `"eqx-tree.checkpoint"`, `format_version` = `"2"`, `eqx_tree_version`,
  `jax_version`, and `eqx_version` when the `eqx` meta-package is installed (its
  version is read from the distribution metadata; `eqx` is never imported);
- `user_metadata`: `json.dumps(metadata)` (`"null"` when none was given);
- `checksums`: `{name: hex digest}`, the checksum of each tensor's bytes, checked as
  each tensor is read (so flipped bits in the data section are caught too);
- `leaf_kinds`: `{name: kind}` for leaves that are not plain arrays: `"bool"`, `"int"`,
  `"float"` for Python scalars (stored as 0-d `BOOL`/`I64`/`F64`), `"complex"` for a
  Python complex and `"complex128"` for a complex128 array (safetensors has no 128-bit
  complex dtype, so both are stored as `F64` with a trailing axis of 2: real,
  imaginary; complex64 is stored natively as `C64`), and `"prng_key:<impl>"` for a
  typed PRNG key array (`jax.random.key`), stored as its uint32 `key_data`.

Format version 1 (eqx-tree 0.2 and earlier) checksummed with CRC-32 under other names:
`header_crc32` (the first entry, 8 hex digits) and `crc32` (`{name: 8 hex digits}`).
Those files still load and are verified; the earliest have no `header_crc32` and load
with only their tensors checked. Version 2 changed nothing else, and was bumped so that
an eqx-tree that knows only CRC-32 refuses the new files ("upgrade eqx-tree") rather
than loading them unverified.

Files from other writers lack these entries: every tensor is then a plain array with no
checksum. Entries that are present are validated like the header itself.
"""

from __future__ import annotations

import importlib.metadata
import json
from collections.abc import Mapping
from typing import Any

import jax
import numpy as np

from ._checkpoint_leaves import LeafSpec
from ._checkpoint_report import CheckpointFormatError
from ._checksums import ALGORITHMS, CRC32, WRITTEN, ChecksumAlgorithm, RecordedChecksum
from ._safetensors_format import SafetensorsHeader
from ._version import version as eqx_tree_version

__all__ = [
    "CHECKSUM_KEYS",
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
    "with_checksum_entries",
]

FORMAT_VERSION = "2"
READABLE_FORMAT_VERSIONS = ("1", FORMAT_VERSION)
FORMAT_NAME = "eqx-tree.checkpoint"
COMPLEX_KINDS = frozenset({"complex", "complex128"})
SCALAR_KINDS = frozenset({"bool", "int", "float", "complex"})
KEY_KIND_PREFIX = "prng_key:"
COMPLEX128 = np.dtype(np.complex128)
FLOAT64 = np.dtype(np.float64)
ALGORITHM_KEY = "checksum_algorithm"
HEADER_CHECKSUM_KEY = "header_checksum"
CHECKSUMS_KEY = "checksums"
# Format version 1: CRC-32s under these names.
CRC32_HEADER_KEY = "header_crc32"
CRC32_CHECKSUMS_KEY = "crc32"
# Entries about the file's own bytes: recomputed by every write, meaningless elsewhere.
CHECKSUM_KEYS = frozenset(
    {ALGORITHM_KEY, HEADER_CHECKSUM_KEY, CHECKSUMS_KEY, CRC32_HEADER_KEY, CRC32_CHECKSUMS_KEY}
)
_LENGTH_PREFIX = 8


def _seal_prefix(algorithm: ChecksumAlgorithm) -> bytes:
    """How a header sealed with `algorithm` starts, up to its header checksum's digits."""
    if algorithm == CRC32:  # format version 1
        return b'{"__metadata__":{"' + CRC32_HEADER_KEY.encode() + b'":"'
    return (
        b'{"__metadata__":{"'
        + f'{ALGORITHM_KEY}":"{algorithm.name}","{HEADER_CHECKSUM_KEY}":"'.encode()
    )


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
        "format": FORMAT_NAME,
        "format_version": FORMAT_VERSION,
        "eqx_tree_version": eqx_tree_version(),
        "jax_version": jax.__version__,
    }
    eqx_version = _eqx_version()
    if eqx_version is not None:
        metadata["eqx_version"] = eqx_version
    metadata |= {"leaf_kinds": json.dumps(kinds), "user_metadata": user_metadata}
    return with_checksum_entries(metadata, checksums)


def with_checksum_entries(
    metadata: Mapping[str, str], checksums: Mapping[str, str]
) -> dict[str, str]:
    """`metadata` with the checksum entries `tree_save` writes, replacing any it had.

    The algorithm and the header checksum come first, so `seal_header` finds the latter
    at a fixed offset; the header checksum is zeros until then.
    """
    kept = {key: value for key, value in metadata.items() if key not in CHECKSUM_KEYS}
    return {
        ALGORITHM_KEY: WRITTEN.name,
        HEADER_CHECKSUM_KEY: "0" * WRITTEN.hex_digits,
        **kept,
        CHECKSUMS_KEY: json.dumps(dict(checksums)),
    }


def _header_digest(raw: bytes, algorithm: ChecksumAlgorithm) -> str:
    """The checksum of header JSON `raw`, its own header checksum read as zeros."""
    start = len(_seal_prefix(algorithm))
    stop = start + algorithm.hex_digits
    checksum = algorithm.start()
    checksum.update(memoryview(raw[:start] + b"0" * algorithm.hex_digits + raw[stop:]))
    return checksum.hexdigest()


def _one_bit_apart(a: str, b: str) -> bool:
    x, y = a.encode(), b.encode()
    return len(x) == len(y) and sum(bin(p ^ q).count("1") for p, q in zip(x, y, strict=True)) == 1


def seal_header(header: bytes) -> bytes:
    """Fill in the `header_checksum` of an encoded header (8-byte length prefix included)."""
    raw = header[_LENGTH_PREFIX:]
    prefix = _seal_prefix(WRITTEN)
    assert raw.startswith(prefix), raw[:80]
    start = _LENGTH_PREFIX + len(prefix)
    stop = start + WRITTEN.hex_digits
    return header[:start] + _header_digest(raw, WRITTEN).encode() + header[stop:]


def _header_algorithm(metadata: Mapping[str, str]) -> tuple[ChecksumAlgorithm, str] | None:
    """The algorithm and stored value of the header checksum; `None` if there is none."""
    if CRC32_HEADER_KEY in metadata:
        return CRC32, metadata[CRC32_HEADER_KEY]
    name = metadata.get(ALGORITHM_KEY)
    if name is None:
        for key in metadata:
            for expected in (CRC32_HEADER_KEY, ALGORITHM_KEY, HEADER_CHECKSUM_KEY):
                if _one_bit_apart(key, expected):
                    raise CheckpointFormatError(
                        f"the header has a __metadata__ entry {key!r} where eqx-tree writes "
                        f"{expected!r}: the checksum's own name was damaged; the file is corrupt"
                    )
        return None
    algorithm = _algorithm_named(name, ALGORITHM_KEY)
    stored = metadata.get(HEADER_CHECKSUM_KEY)
    if stored is None:
        raise CheckpointFormatError(
            f"__metadata__ names a checksum algorithm but has no {HEADER_CHECKSUM_KEY!r} "
            "entry: the header was damaged after saving; the file is corrupt"
        )
    return algorithm, stored


def _algorithm_named(name: str, key: str) -> ChecksumAlgorithm:
    algorithm = ALGORITHMS.get(name)
    if algorithm is not None:
        return algorithm
    damaged = [known for known in ALGORITHMS if _one_bit_apart(name, known)]
    if damaged:
        raise CheckpointFormatError(
            f"__metadata__[{key!r}] is {name!r}, one flipped bit away from {damaged[0]!r}: "
            "the header was damaged after saving; the file is corrupt"
        )
    raise CheckpointFormatError(
        f"the file's checksums use the algorithm {name!r}, which this eqx-tree "
        f"({eqx_tree_version()}) does not know (it knows {', '.join(sorted(ALGORITHMS))}): "
        "it was written by a newer eqx-tree. Upgrade eqx-tree (pip install -U eqx-tree) "
        "to load it"
    )


def check_header_checksum(raw: bytes, metadata: Mapping[str, str]) -> None:
    """Refuse a header (JSON `raw`, parsed `metadata`) changed after `tree_save` sealed it.

    Raises:
        CheckpointFormatError: the checksum does not match, or names an algorithm this
            eqx-tree does not know (the message says to upgrade), or the name of a
            checksum entry is one flipped bit away from what eqx-tree writes. Files from
            before the header checksum, and from other writers, have no entry and pass.
    """
    found = _header_algorithm(metadata)
    if found is None:
        return
    algorithm, stored = found
    actual = _header_digest(raw, algorithm)
    if not raw.startswith(_seal_prefix(algorithm)) or stored != actual:
        raise CheckpointFormatError(
            f"the header does not match its recorded {algorithm.label} checksum ({actual} "
            f"instead of {stored!r}): the tensor table or __metadata__ (format version, "
            "user metadata) was damaged after saving; the file is corrupt"
        )


def check_format_version(header: SafetensorsHeader) -> None:
    """Refuse files of a format version this eqx-tree does not read."""
    version = header.metadata.get("format_version", FORMAT_VERSION)
    if header.metadata.get("format") == FORMAT_NAME and version not in READABLE_FORMAT_VERSIONS:
        raise CheckpointFormatError(
            f"the file is format version {version!r}; this eqx-tree ({eqx_tree_version()}) "
            f"reads versions {', '.join(READABLE_FORMAT_VERSIONS)}. Upgrade eqx-tree"
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


def parse_checksums(header: SafetensorsHeader) -> dict[str, RecordedChecksum]:
    """The checksum of each tensor's bytes that `tree_save` recorded (none for other writers).

    Format version 1 recorded CRC-32s under `crc32`; later versions record them under
    `checksums`, computed by the `checksum_algorithm` the header names.
    """
    metadata = header.metadata
    if CRC32_CHECKSUMS_KEY in metadata:
        key, algorithm = CRC32_CHECKSUMS_KEY, CRC32
    elif ALGORITHM_KEY in metadata:
        key = CHECKSUMS_KEY
        algorithm = _algorithm_named(metadata[ALGORITHM_KEY], ALGORITHM_KEY)
    else:
        return {}
    raw = metadata.get(key, "{}")
    try:
        checksums = json.loads(raw)
    except json.JSONDecodeError:
        raise CheckpointFormatError(f"__metadata__[{key!r}] is not JSON: {raw!r}") from None
    if not isinstance(checksums, dict):
        raise CheckpointFormatError(f"__metadata__[{key!r}] must be a JSON object")
    result = {}
    digits = algorithm.hex_digits
    for name, value in checksums.items():
        if name not in header.tensors:
            raise CheckpointFormatError(
                f"__metadata__[{key!r}] names {name!r}, which is not a tensor in the file"
            )
        if not _is_hex(value, digits):
            raise CheckpointFormatError(
                f"the {algorithm.label} checksum of {name!r} is {value!r}, not {digits} "
                "lowercase hex digits"
            )
        result[name] = RecordedChecksum(algorithm, value)
    return result


def _is_hex(value: object, digits: int) -> bool:
    return (
        isinstance(value, str)
        and len(value) == digits
        and all(character in "0123456789abcdef" for character in value)
    )


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
