"""`tree_save` / `tree_load`: self-describing, pickle-free checkpoints in the safetensors format.

One file holds every array leaf of a pytree, each named by its dotted key path
(`layers.0.weight`, see `_checkpoint_leaves`), plus string metadata: the format version,
the eqx-tree and JAX versions, the user's own metadata (hyperparameters) as JSON, a
checksum per tensor (XXH3-64; CRC-32 in files of format version 1), and the kind of
each leaf that is not a plain array (Python scalars, complex128, PRNG keys; see
`_checkpoint_metadata`). Any safetensors reader
(PyTorch, Hugging Face, `safetensors.numpy`) can open it; `tree_load` checks it against
a `like` tree and restores Python scalars, non-array leaves and shardings from there.

The reading and writing are done here by hand, not by the `safetensors` library; the
module docstring of `_safetensors_format` says why (validation before reading, bfloat16
without torch, atomic streaming writes, no extra dependency). The library is used only
by the tests, to prove interchange in both directions.

Tensors are laid out largest itemsize first, so each starts aligned to its itemsize.
"""

from __future__ import annotations

import dataclasses
import io
import json
import os
from collections.abc import Callable, Mapping
from typing import Any, BinaryIO, Literal, TypeVar, overload

import jax
import jax.numpy as jnp
import numpy as np

from ._atomic_write import atomic_writer
from ._checkpoint_leaves import (
    LeafSpec,
    NamedLeaf,
    check_storable,
    leaf_spec,
    named_leaves,
    restore_leaf,
    to_numpy,
)
from ._checkpoint_metadata import (
    COMPLEX128,
    COMPLEX_KINDS,
    FLOAT64,
    FORMAT_NAME,
    FORMAT_VERSION,
    KEY_KIND_PREFIX,
    build_metadata,
    check_format_version,
    check_header_checksum,
    encode_user_metadata,
    logical_specs,
    parse_checksums,
    parse_leaf_kinds,
    seal_header,
    with_checksum_entries,
)
from ._checkpoint_report import (
    CheckpointFormatError,
    CheckpointMismatchError,
    LoadReport,
    compare_leaves,
    mismatch_message,
)
from ._checksums import WRITTEN, RecordedChecksum
from ._chunked_io import write_checksummed
from ._safetensors_format import (
    DTYPE_BY_CODE,
    SafetensorsHeader,
    build_header,
    dtype_code,
    parse_header,
    read_tensor,
)

__all__ = [
    "PathLike",
    "plan_leaf",
    "read_stored",
    "tree_load",
    "tree_load_metadata",
    "tree_save",
    "write_stored",
]

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


def plan_leaf(named: NamedLeaf) -> _PlannedLeaf:
    """Check a leaf can be stored, from its shape and dtype alone (no device-to-host copy)."""
    spec = check_storable(named)
    kind = None if spec.kind == "array" else spec.kind
    dtype, shape = spec.dtype, spec.shape
    if spec.kind == "prng_key":
        # Stored as the raw key data; the implementation's name lets loading re-wrap it.
        data = jax.eval_shape(jax.random.key_data, named.leaf)
        dtype, shape = np.dtype(data.dtype), tuple(data.shape)
        kind = KEY_KIND_PREFIX + str(jax.random.key_impl(named.leaf))
    elif dtype == COMPLEX128:
        # No C128 in safetensors: store (real, imaginary) pairs along a new last axis.
        dtype, shape, kind = FLOAT64, (*shape, 2), kind or "complex128"
    try:
        code = dtype_code(dtype)
    except TypeError as error:
        raise TypeError(f"cannot save the leaf at {named.keystr}: {error}") from None
    return _PlannedLeaf(named, spec, code, shape, kind)


def _host_bytes(planned: _PlannedLeaf) -> memoryview:
    """The leaf's little-endian bytes, converted only now that it is its turn to be written."""
    array = to_numpy(planned.named, planned.spec)
    if planned.kind in COMPLEX_KINDS:
        array = array.astype(COMPLEX128, order="C").reshape((*array.shape, 1)).view(FLOAT64)
    array = array.astype(array.dtype.newbyteorder("<"), order="C", copy=False)
    if array.shape != planned.shape or array.dtype.itemsize != planned.itemsize:
        # The header is already written; bytes of another size would corrupt the file.
        raise RuntimeError(
            f"the leaf at {planned.named.keystr} changed while saving: planned "
            f"{planned.code}{list(planned.shape)}, got {array.dtype}{list(array.shape)}"
        )
    return array.reshape(-1).view(np.uint8).data


def tree_save(path: PathLike, pytree: Any, *, metadata: Mapping[str, Any] | None = None) -> None:
    """Save the array leaves of `pytree` to one safetensors file, atomically.

    Each array leaf (`jax.Array`, `np.ndarray`, `np.generic`) and each Python
    `bool`/`int`/`float`/`complex` leaf is stored under its dotted key-path name, the
    same name `tree_to_flat_dict` gives (`model.layers[0].weight` → `"layers.0.weight"`;
    a dot inside a dict key is escaped as `%2E`).
    Other leaves (functions, strings, `None`) are not stored: `tree_load`'s `like`
    supplies them. Nothing is pickled. The file is written to a temporary file in the
    same directory (`<path>.tmp-<pid>`), one leaf at a time, fsynced, then renamed over
    `path`, so a crash never leaves a half-written checkpoint; on failure the temporary
    file is removed, and one left by a killed process is removed by the next save to
    the same path.

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
        OSError: writing failed (a full disk: `ENOSPC`); the message and `.filename`
            name `path`, and the previous file at `path` is unchanged.

    Example:
        ```python
        eqx_tree.tree_save("ckpt.safetensors", (model, opt_state), metadata={"lr": 3e-4})
        ```
    """
    user_metadata = encode_user_metadata(metadata)
    planned = [plan_leaf(named) for named in named_leaves(pytree)]
    # Largest itemsize first keeps every tensor aligned to its itemsize in the file.
    planned.sort(key=lambda leaf: -leaf.itemsize)
    kinds = {leaf.named.name: leaf.kind for leaf in planned if leaf.kind is not None}
    entries = [(leaf.named.name, leaf.code, leaf.shape) for leaf in planned]

    def header_with(checksums: Mapping[str, str]) -> bytes:
        metadata = build_metadata(kinds, checksums, user_metadata)
        return seal_header(build_header(entries, metadata)[0])

    with atomic_writer(os.fspath(path)) as file:
        _write_checkpoint(file, header_with, planned)


def _write_checkpoint(
    file: BinaryIO, header_with: Callable[[Mapping[str, str]], bytes], planned: list[_PlannedLeaf]
) -> None:
    """Stream the header and each leaf's bytes into `file`, checksumming on the way.

    The checksums are known only once each leaf has been written, so the header is
    first written with placeholders of the same width, then rewritten in place.
    """
    header = header_with({leaf.named.name: "0" * WRITTEN.hex_digits for leaf in planned})
    file.write(header)
    checksums = {}
    for leaf in planned:
        checksum = WRITTEN.start()
        write_checksummed(file, _host_bytes(leaf), checksum)
        checksums[leaf.named.name] = checksum.hexdigest()
    final_header = header_with(checksums)
    assert len(final_header) == len(header)
    file.seek(0)
    file.write(final_header)


def _open_checked(
    path: PathLike,
) -> tuple[io.BufferedReader, SafetensorsHeader, dict[str, str], dict[str, RecordedChecksum]]:
    file = open(path, "rb")  # noqa: SIM115 -- closed by the caller's `with`
    try:
        header = parse_header(file, os.fstat(file.fileno()).st_size, check_header_checksum)
        check_format_version(header)
        kinds = parse_leaf_kinds(header)
        checksums = parse_checksums(header)
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
            `like`'s value for each missing leaf (a `ShapeDtypeStruct` stays one, so
            give real arrays where leaves may be missing), ignores unexpected names, and
            returns `(tree, report)`.

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
        report = compare_leaves(expected, logical_specs(header, kinds))
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
            if kind in COMPLEX_KINDS:
                value = array.view(COMPLEX128).reshape(array.shape[:-1])
            elif kind.startswith(KEY_KIND_PREFIX):
                impl = kind.removeprefix(KEY_KIND_PREFIX)
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


def read_stored(path: PathLike) -> tuple[dict[str, np.ndarray], dict[str, str]]:
    """Every tensor of a checkpoint file as stored (checksums verified), and its metadata.

    For the Orbax converters: no `like`, no interpretation of leaf kinds.
    """
    file, header, _, checksums = _open_checked(path)
    with file:
        try:
            tensors = {
                name: read_tensor(file, header, name, checksums.get(name))
                for name in header.tensors
            }
        except CheckpointFormatError as error:
            raise CheckpointFormatError(f"cannot load {os.fspath(path)!r}: {error}") from None
    return tensors, dict(header.metadata)


def write_stored(
    path: PathLike, tensors: Mapping[str, np.ndarray], metadata: Mapping[str, str]
) -> None:
    """Write tensors already in their stored layout, with these metadata strings.

    The checksum entries are computed here, and `format_version` becomes the current
    one when `metadata` names the eqx-tree format (those entries are what changed
    between versions); everything else in `metadata` is kept as is.
    """
    planned = []
    for index, (name, array) in enumerate(tensors.items()):
        array = np.asarray(array)
        named = NamedLeaf(index=index, path=(), keystr=name, name=name, leaf=array)
        spec = LeafSpec("array", tuple(array.shape), array.dtype)
        planned.append(_PlannedLeaf(named, spec, dtype_code(array.dtype), spec.shape, None))
    planned.sort(key=lambda leaf: -leaf.itemsize)
    entries = [(leaf.named.name, leaf.code, leaf.shape) for leaf in planned]
    strings = dict(metadata)
    if strings.get("format") == FORMAT_NAME:
        strings["format_version"] = FORMAT_VERSION

    def header_with(checksums: Mapping[str, str]) -> bytes:
        return seal_header(build_header(entries, with_checksum_entries(strings, checksums))[0])

    with atomic_writer(os.fspath(path)) as file:
        _write_checkpoint(file, header_with, planned)
