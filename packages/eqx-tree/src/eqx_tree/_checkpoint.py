"""`tree_save` / `tree_load`: self-describing, pickle-free checkpoints in the safetensors format.

One file holds every array leaf of a pytree, each named by its dotted key path
(`layers.0.weight`, see `_checkpoint_leaves`), plus string metadata: the format version,
the eqx-tree and JAX versions, the user's own metadata (hyperparameters) as JSON, and
which stored leaves were Python scalars or complex128 arrays. Any safetensors reader
(PyTorch, Hugging Face, `safetensors.numpy`) can open it; `tree_load` checks it against
a `like` tree and restores Python scalars, non-array leaves and shardings from there.

The reading and writing are done here by hand, not by the `safetensors` library; the
module docstring of `_safetensors_format` says why (validation before reading, bfloat16
without torch, atomic streaming writes, no extra dependency). The library is used only
by the tests, to prove interchange in both directions.

Format details beyond plain safetensors, all inside `__metadata__` (string values):
- `format` = `"eqx-tree.checkpoint"`, `format_version` = `"1"`, `eqx_tree_version`,
  `jax_version`;
- `user_metadata`: `json.dumps(metadata)` (`"null"` when none was given);
- `crc32`: JSON `{name: "8 hex digits"}`, the CRC-32 of each tensor's bytes, checked
  as each tensor is read (so flipped bits in the data section are caught too);
- `leaf_kinds`: JSON `{name: kind}` for leaves that are not plain arrays: `"bool"`,
  `"int"`, `"float"` for Python scalars (stored as 0-d `BOOL`/`I64`/`F64`), `"complex"`
  for a Python complex and `"complex128"` for a complex128 array. safetensors has no
  128-bit complex dtype, so both are stored as `F64` with a trailing axis of 2 (real,
  imaginary); complex64 is stored natively as `C64`; `"prng_key:<impl>"` for a typed
  PRNG key array (`jax.random.key`), stored as its uint32 `key_data`.
Tensors are laid out largest itemsize first, so each starts aligned to its itemsize.
"""

from __future__ import annotations

import dataclasses
import io
import json
import os
import secrets
import zlib
from collections.abc import Callable, Mapping
from typing import Any, Literal, TypeVar, overload

import jax
import jax.numpy as jnp
import numpy as np

from ._checkpoint_leaves import (
    LeafSpec,
    NamedLeaf,
    check_storable,
    leaf_spec,
    named_leaves,
    restore_leaf,
    to_numpy,
)
from ._checkpoint_report import (
    CheckpointFormatError,
    CheckpointMismatchError,
    LoadReport,
    compare_leaves,
    mismatch_message,
)
from ._safetensors_format import (
    DTYPE_BY_CODE,
    SafetensorsHeader,
    build_header,
    dtype_code,
    parse_header,
    read_tensor,
)
from ._version import __version__

__all__ = ["FORMAT_VERSION", "tree_load", "tree_load_metadata", "tree_save"]

FORMAT_VERSION = "1"
_FORMAT_NAME = "eqx-tree.checkpoint"
_COMPLEX_KINDS = frozenset({"complex", "complex128"})
_SCALAR_KINDS = frozenset({"bool", "int", "float", "complex"})
_KEY_KIND_PREFIX = "prng_key:"
_COMPLEX128 = np.dtype(np.complex128)
_FLOAT64 = np.dtype(np.float64)

_T = TypeVar("_T")
PathLike = str | os.PathLike[str]


@dataclasses.dataclass(frozen=True)
class _PlannedLeaf:
    """A leaf checked for saving: its stored dtype code, stored shape and `leaf_kinds` entry."""

    named: NamedLeaf
    spec: LeafSpec
    code: str
    shape: tuple[int, ...]
    kind: str | None

    @property
    def itemsize(self) -> int:
        return DTYPE_BY_CODE[self.code].itemsize


def _plan(named: NamedLeaf) -> _PlannedLeaf:
    """Check a leaf can be stored, from its shape and dtype alone (no device-to-host copy)."""
    spec = check_storable(named)
    kind = None if spec.kind == "array" else spec.kind
    dtype, shape = spec.dtype, spec.shape
    if spec.kind == "prng_key":
        # Stored as the raw key data; the implementation's name lets loading re-wrap it.
        data = jax.eval_shape(jax.random.key_data, named.leaf)
        dtype, shape = np.dtype(data.dtype), tuple(data.shape)
        kind = _KEY_KIND_PREFIX + str(jax.random.key_impl(named.leaf))
    elif dtype == _COMPLEX128:
        # No C128 in safetensors: store (real, imaginary) pairs along a new last axis.
        dtype, shape, kind = _FLOAT64, (*shape, 2), kind or "complex128"
    try:
        code = dtype_code(dtype)
    except TypeError as error:
        raise TypeError(f"cannot save the leaf at {named.keystr}: {error}") from None
    return _PlannedLeaf(named, spec, code, shape, kind)


def _host_bytes(planned: _PlannedLeaf) -> memoryview:
    """The leaf's little-endian bytes, converted only now that it is its turn to be written."""
    array = to_numpy(planned.named, planned.spec)
    if planned.kind in _COMPLEX_KINDS:
        array = array.astype(_COMPLEX128, order="C").reshape((*array.shape, 1)).view(_FLOAT64)
    array = array.astype(array.dtype.newbyteorder("<"), order="C", copy=False)
    if array.shape != planned.shape or array.dtype.itemsize != planned.itemsize:
        # The header is already written; bytes of another size would corrupt the file.
        raise RuntimeError(
            f"the leaf at {planned.named.keystr} changed while saving: planned "
            f"{planned.code}{list(planned.shape)}, got {array.dtype}{list(array.shape)}"
        )
    return array.reshape(-1).view(np.uint8).data


def _encode_metadata(metadata: Mapping[str, Any] | None) -> str:
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


def tree_save(path: PathLike, pytree: Any, *, metadata: Mapping[str, Any] | None = None) -> None:
    """Save the array leaves of `pytree` to one safetensors file, atomically.

    Each array leaf (`jax.Array`, `np.ndarray`, `np.generic`) and each Python
    `bool`/`int`/`float`/`complex` leaf is stored under its dotted key-path name, the
    same name `tree_to_flat_dict` gives (`model.layers[0].weight` → `"layers.0.weight"`;
    a dot inside a dict key is escaped as `%2E`).
    Other leaves (functions, strings, `None`) are not stored: `tree_load`'s `like`
    supplies them. Nothing is pickled. The file is written to a temporary file in the
    same directory, one leaf at a time, then renamed over `path`, so a crash never
    leaves a half-written checkpoint; on failure the temporary file is removed.

    Arguments:
        path: the file to write, used exactly as given (no suffix is added;
            `.safetensors` is the usual one).
        pytree: the tree to save, for example `(model, opt_state)`.
        metadata: JSON-serialisable information to keep with the weights, for example
            hyperparameters and the step count. Read it back with `tree_load_metadata`.

    Raises:
        TypeError: `metadata` is not JSON-serialisable; a leaf is a tracer, a
            `ShapeDtypeStruct`, or has a dtype safetensors cannot store (the message
            names the leaf path).
        ValueError: two leaves would share a name; a Python int is outside the int64
            range.

    Example:
        ```python
        eqx_tree.tree_save("ckpt.safetensors", (model, opt_state), metadata={"lr": 3e-4})
        ```
    """
    user_metadata = _encode_metadata(metadata)
    planned = [_plan(named) for named in named_leaves(pytree)]
    # Largest itemsize first keeps every tensor aligned to its itemsize in the file.
    planned.sort(key=lambda leaf: -leaf.itemsize)
    kinds = {leaf.named.name: leaf.kind for leaf in planned if leaf.kind is not None}
    entries = [(leaf.named.name, leaf.code, leaf.shape) for leaf in planned]

    def header_with(checksums: Mapping[str, str]) -> bytes:
        metadata = {
            "format": _FORMAT_NAME,
            "format_version": FORMAT_VERSION,
            "eqx_tree_version": __version__,
            "jax_version": jax.__version__,
            "leaf_kinds": json.dumps(kinds),
            "crc32": json.dumps(checksums),
            "user_metadata": user_metadata,
        }
        return build_header(entries, metadata)[0]

    _write_atomically(os.fspath(path), header_with, planned)


def _write_atomically(
    path: str, header_with: Callable[[Mapping[str, str]], bytes], planned: list[_PlannedLeaf]
) -> None:
    """Stream the header and each leaf's bytes into a temporary file, then rename it.

    The checksums are known only once each leaf has been written, so the header is
    first written with placeholders of the same width, then rewritten in place.
    """
    directory, filename = os.path.split(os.path.abspath(path))
    if not os.path.isdir(directory):
        raise FileNotFoundError(
            f"cannot save to {path!r}: the directory {directory!r} does not exist; create it "
            "first (os.makedirs)"
        )
    temporary = os.path.join(directory, f".{filename}.{secrets.token_hex(6)}.tmp")
    # os.open with 0o666 lets the umask decide the permissions, as for a plain open().
    descriptor = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o666)
    try:
        with os.fdopen(descriptor, "wb") as file:
            header = header_with({leaf.named.name: "0" * 8 for leaf in planned})
            file.write(header)
            checksums = {}
            for leaf in planned:
                data = _host_bytes(leaf)
                checksums[leaf.named.name] = f"{zlib.crc32(data):08x}"
                file.write(data)
            final_header = header_with(checksums)
            assert len(final_header) == len(header)
            file.seek(0)
            file.write(final_header)
            file.flush()
            os.fsync(file.fileno())
        os.replace(temporary, path)
    except BaseException:
        if os.path.exists(temporary):
            os.remove(temporary)
        raise


def _checksums(header: SafetensorsHeader) -> dict[str, int]:
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


def _leaf_kinds(header: SafetensorsHeader) -> dict[str, str]:
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
        if isinstance(kind, str) and kind.startswith(_KEY_KIND_PREFIX):
            _, data_shape = _key_layout(name, kind)
            if (
                info.dtype != np.dtype(np.uint32)
                or info.shape[len(info.shape) - len(data_shape) :] != data_shape
            ):
                raise CheckpointFormatError(
                    f"leaf {name!r} is marked {kind!r}, so it must be stored as U32 ending in "
                    f"{list(data_shape)}, but it is {info.code}{list(info.shape)}"
                )
            continue
        if kind not in _SCALAR_KINDS and kind != "complex128":
            raise CheckpointFormatError(f"leaf {name!r} has unknown kind {kind!r}")
        if kind in _COMPLEX_KINDS and (
            info.dtype != _FLOAT64 or not info.shape or info.shape[-1] != 2
        ):
            raise CheckpointFormatError(
                f"leaf {name!r} is marked {kind!r}, so it must be stored as F64 with a "
                f"last axis of 2, but it is {info.code}{list(info.shape)}"
            )
        if kind in _SCALAR_KINDS and info.shape != ((2,) if kind == "complex" else ()):
            raise CheckpointFormatError(
                f"leaf {name!r} is marked as a Python {kind} but has shape {list(info.shape)}"
            )
    return kinds


def _key_layout(name: str, kind: str) -> tuple[Any, tuple[int, ...]]:
    """The key dtype of a stored PRNG implementation and the trailing shape of its data."""
    impl = kind.removeprefix(_KEY_KIND_PREFIX)
    try:
        probe = jax.eval_shape(lambda: jax.random.key(0, impl=impl))
    except (ValueError, TypeError, KeyError):
        raise CheckpointFormatError(
            f"leaf {name!r} is a PRNG key of implementation {impl!r}, which this JAX "
            f"({jax.__version__}) does not know"
        ) from None
    data = jax.eval_shape(jax.random.key_data, probe)
    return probe.dtype, tuple(data.shape)


def _logical_specs(header: SafetensorsHeader, kinds: Mapping[str, str]) -> dict[str, LeafSpec]:
    """What each stored tensor represents, with complex pairs folded back."""
    specs = {}
    for name, info in header.tensors.items():
        kind = kinds.get(name, "array")
        if kind in _COMPLEX_KINDS:
            specs[name] = LeafSpec(kind, info.shape[:-1], _COMPLEX128)
        elif kind.startswith(_KEY_KIND_PREFIX):
            key_dtype, data_shape = _key_layout(name, kind)
            shape = info.shape[: len(info.shape) - len(data_shape)]
            specs[name] = LeafSpec("prng_key", shape, key_dtype)
        else:
            specs[name] = LeafSpec(kind, info.shape, info.dtype)
    return specs


def _open_checked(
    path: PathLike,
) -> tuple[io.BufferedReader, SafetensorsHeader, dict[str, str], dict[str, int]]:
    file = open(path, "rb")  # noqa: SIM115 -- closed by the caller's `with`
    try:
        header = parse_header(file, os.fstat(file.fileno()).st_size)
        version = header.metadata.get("format_version", FORMAT_VERSION)
        if header.metadata.get("format") == _FORMAT_NAME and version != FORMAT_VERSION:
            raise CheckpointFormatError(
                f"the file is format version {version!r}; this eqx-tree ({__version__}) "
                f"reads version {FORMAT_VERSION!r}. Upgrade eqx-tree"
            )
        kinds = _leaf_kinds(header)
        checksums = _checksums(header)
    except CheckpointFormatError as error:
        file.close()
        raise CheckpointFormatError(f"cannot load {os.fspath(path)!r}: {error}") from None
    except BaseException:
        file.close()
        raise
    return file, header, kinds, checksums


@overload
def tree_load(path: PathLike, like: _T, *, strict: Literal[True] = True) -> _T: ...


@overload
def tree_load(path: PathLike, like: _T, *, strict: Literal[False]) -> tuple[_T, LoadReport]: ...


@overload
def tree_load(path: PathLike, like: _T, *, strict: bool) -> _T | tuple[_T, LoadReport]: ...


def tree_load(path: PathLike, like: _T, *, strict: bool = True) -> _T | tuple[_T, LoadReport]:
    """Load a checkpoint written by `tree_save` (or any safetensors file) into `like`'s shape.

    The whole header is validated before any tensor is read. Then every stored name is
    checked against the leaves of `like` (matched by the same dotted names
    `tree_to_flat_dict` uses), and every difference is collected into one `LoadReport`:
    leaves missing from the file, stored names `like` has no leaf for, and leaves whose
    shape or dtype differs. Loaded leaves take `like`'s kind: a JAX array for a
    `jax.Array` or `jax.ShapeDtypeStruct` (placed with its `.sharding` when it has one,
    via `jax.device_put`), a NumPy array for a NumPy array, a Python scalar for a
    Python scalar. Leaves that are not stored (functions, strings) come from `like`.

    Arguments:
        path: the file to read.
        like: a tree of the expected structure: a real model, or abstract
            `ShapeDtypeStruct`s from `filter_eval_shape` (optionally with shardings).
        strict: `True` (default) requires the stored names and `like`'s array leaves to
            be the same set, and returns just the tree. `False` loads what matches, keeps
            `like`'s value for each missing leaf, ignores unexpected names, and returns
            `(tree, report)`.

    Returns:
        The loaded tree; with `strict=False`, `(tree, LoadReport)`.

    Raises:
        CheckpointFormatError: (a `ValueError`) the file is truncated, corrupt or not a
            safetensors file; the message says what is wrong.
        CheckpointMismatchError: (a `ValueError`) any leaf's shape or dtype differs
            (whatever `strict` is), or, with `strict=True`, leaves are missing or
            unexpected. The message lists every difference by path with both values;
            `.report` holds them.
        FileNotFoundError: `path` does not exist.

    Example:
        ```python
        like = eqx.filter_eval_shape(Model, key=jax.random.key(0))
        model = eqx_tree.tree_load("ckpt.safetensors", like)
        model, report = eqx_tree.tree_load("old.safetensors", like, strict=False)
        ```
    """
    expected = [
        (named, spec) for named in named_leaves(like) if (spec := leaf_spec(named.leaf)) is not None
    ]
    file, header, kinds, checksums = _open_checked(path)
    with file:
        report = compare_leaves(expected, _logical_specs(header, kinds))
        if report.mismatched or (strict and report):
            raise CheckpointMismatchError(
                mismatch_message(
                    report, f"the checkpoint {os.fspath(path)!r}", offer_non_strict=strict
                ),
                report,
            )
        leaves, treedef = jax.tree_util.tree_flatten(like)
        for named, _ in expected:
            if named.name not in header.tensors:
                continue
            try:
                array = read_tensor(file, header, named.name, checksums.get(named.name))
            except CheckpointFormatError as error:
                raise CheckpointFormatError(f"cannot load {os.fspath(path)!r}: {error}") from None
            kind = kinds.get(named.name, "array")
            value: Any = array
            if kind in _COMPLEX_KINDS:
                value = array.view(_COMPLEX128).reshape(array.shape[:-1])
            elif kind.startswith(_KEY_KIND_PREFIX):
                impl = kind.removeprefix(_KEY_KIND_PREFIX)
                value = jax.random.wrap_key_data(jnp.asarray(array), impl=impl)
            leaves[named.index] = restore_leaf(named.leaf, value)
    tree: _T = jax.tree_util.tree_unflatten(treedef, leaves)
    return tree if strict else (tree, report)


def tree_load_metadata(path: PathLike) -> Any:
    """The `metadata` given to `tree_save`, read from the header alone (no tensor is read).

    Returns:
        The decoded JSON value (a dict for what `tree_save` accepts), or `None` when the
        file was saved without metadata or by another tool.

    Raises:
        CheckpointFormatError: as for `tree_load`.

    Example:
        ```python
        hyperparameters = eqx_tree.tree_load_metadata("ckpt.safetensors")
        ```
    """
    file, header, _, _ = _open_checked(path)
    with file:
        raw = header.metadata.get("user_metadata", "null")
    try:
        return json.loads(raw)
    except json.JSONDecodeError:
        raise CheckpointFormatError(
            f"cannot load {os.fspath(path)!r}: __metadata__['user_metadata'] is not JSON"
        ) from None
