"""`tree_save_orbax` / `tree_load_orbax`: sharded, multi-process checkpoints through Orbax.

`tree_save` writes one file from one process, which means gathering every array on one
host. A model sharded over many hosts is saved instead with `orbax-checkpoint` (an
optional extra: `pip install 'eqx-tree[orbax]'`), where each process writes and reads
only the shards it owns. eqx supplies only the glue, so that these checkpoints behave
like `tree_save`'s:

- leaves are stored under the same dotted names, in the same stored layout (PRNG keys
  as their key data, complex numbers as (real, imaginary) pairs, Python scalars as 0-d
  arrays), with the same metadata strings beside them (format, versions, leaf kinds,
  user metadata) in a small JSON item. That is what makes the converters in
  `_orbax_convert` lossless;
- loading checks the stored names, shapes and dtypes against `like` first, with the
  same `LoadReport` and `strict` semantics as `tree_load`, then asks Orbax for the
  matching arrays only, each with the sharding of `like`'s leaf (so restoring onto
  another mesh shape reshards); non-array leaves come from `like`.

Orbax is imported when one of these functions is called, never by `import eqx_tree`.
"""

from __future__ import annotations

import dataclasses
import inspect
import json
import os
from collections.abc import Mapping
from typing import Any, Literal, TypeVar, overload

import jax
import jax.numpy as jnp
import numpy as np

from ._checkpoint import PathLike, plan_leaf
from ._checkpoint_leaves import leaf_spec, named_leaves, restore_leaf
from ._checkpoint_metadata import (
    CHECKSUM_KEYS,
    COMPLEX_KINDS,
    KEY_KIND_PREFIX,
    build_metadata,
    check_format_version,
    encode_user_metadata,
    logical_specs,
    parse_leaf_kinds,
)
from ._checkpoint_report import (
    CheckpointFormatError,
    CheckpointMismatchError,
    LoadReport,
    compare_leaves,
    mismatch_message,
)
from ._safetensors_format import DTYPE_BY_CODE, SafetensorsHeader, TensorInfo

__all__ = ["PendingSave", "tree_load_orbax", "tree_load_orbax_metadata", "tree_save_orbax"]

_T = TypeVar("_T")
# The two items of the Orbax composite checkpoint: the stored arrays, and eqx's JSON.
# `jax.ShapeDtypeStruct` (untyped in some JAX stubs).
_shape_dtype_struct: Any = jax.ShapeDtypeStruct
ARRAYS = "arrays"
EQX = "eqx"


def import_orbax(caller: str) -> Any:
    """`orbax.checkpoint`, or an `ImportError` that says how to install it."""
    try:
        import orbax.checkpoint as ocp
    except ImportError:
        raise ImportError(
            f"`{caller}` needs orbax-checkpoint, an optional dependency: install it with "
            "`pip install 'eqx-tree[orbax]'` (or `'eqx[orbax]'`)."
        ) from None
    return ocp


@dataclasses.dataclass
class PendingSave:
    """A checkpoint being written in the background by `tree_save_orbax(..., wait=False)`.

    By the time `tree_save_orbax` returns, Orbax has copied every array it will write
    to host memory, so the training loop may go on updating (or donating) the arrays;
    the files are written, and the directory committed (renamed into place), in a
    background thread. Until `wait()` returns the directory may be absent or partial:
    do not read it, and call `wait()` before saving again to the same directory, before
    relying on the checkpoint, and before the program exits.
    """

    directory: str
    _checkpointer: Any

    def wait(self) -> None:
        """Block until the checkpoint is committed; re-raise a failure of the writer."""
        if self._checkpointer is not None:
            checkpointer, self._checkpointer = self._checkpointer, None
            try:
                checkpointer.wait_until_finished()
            finally:
                checkpointer.close()


def _stored_value(planned: Any) -> Any:
    """The array Orbax stores for a leaf: sharded JAX arrays stay on their devices."""
    leaf, spec, kind = planned.named.leaf, planned.spec, planned.kind
    if spec.kind == "prng_key":
        return jax.random.key_data(leaf)
    if kind in COMPLEX_KINDS:
        if isinstance(leaf, jax.Array):
            return jnp.stack([jnp.real(leaf), jnp.imag(leaf)], axis=-1)
        value = np.asarray(leaf, dtype=np.complex128)
        return np.stack([value.real, value.imag], axis=-1)
    if isinstance(leaf, jax.Array):
        return leaf
    return np.asarray(leaf, dtype=spec.dtype)


def tree_save_orbax(
    directory: PathLike,
    pytree: Any,
    *,
    metadata: Mapping[str, Any] | None = None,
    overwrite: bool = False,
    wait: bool = True,
) -> PendingSave:
    """Save the array leaves of `pytree` to an Orbax checkpoint directory, shard by shard.

    The sharded counterpart of `tree_save`: in a multi-process program every process
    calls it with the same `directory` and its own (global, sharded) arrays; each writes
    only the shards it holds, and nothing is gathered on one host. Leaves are named and
    stored as by `tree_save` (see `tree_load_orbax`); functions, strings and other
    non-array leaves are not stored (`like` supplies them when loading).

    Arguments:
        directory: the checkpoint directory to create (Orbax writes to a temporary
            directory and renames it when done, so a crash leaves no partial checkpoint
            under this name).
        pytree: the tree to save, for example `(model, opt_state)`.
        metadata: JSON-serialisable information kept with the arrays (hyperparameters,
            the step); read it back with `tree_load_orbax_metadata`.
        overwrite: replace an existing checkpoint at `directory` (default: refuse).
        wait: `True` (default) returns once the checkpoint is committed. `False` returns
            as soon as the arrays are copied to host memory; the writing goes on in the
            background (see `PendingSave` for what that guarantees).

    Returns:
        A `PendingSave`; with `wait=True` it is already finished.

    Raises:
        ImportError: orbax-checkpoint is not installed.
        TypeError, ValueError: as for `tree_save` (the message names the leaf path).
        FileExistsError: `directory` exists and `overwrite` is `False`.

    Example:
        ```python
        pending = eqx_tree.tree_save_orbax(f"ckpt/{step}", (model, opt_state), wait=False)
        ...  # go on training
        pending.wait()
        ```
    """
    ocp = import_orbax("tree_save_orbax")
    user_metadata = encode_user_metadata(metadata)
    planned = [plan_leaf(named) for named in named_leaves(pytree)]
    kinds = {leaf.named.name: leaf.kind for leaf in planned if leaf.kind is not None}
    strings = build_metadata(kinds, {}, user_metadata)
    for key in CHECKSUM_KEYS:  # checksums of file bytes: Orbax has no such file
        strings.pop(key, None)
    record = {
        "metadata": strings,
        "tensors": {
            leaf.named.name: {"dtype": leaf.code, "shape": list(leaf.shape)} for leaf in planned
        },
    }
    arrays = {leaf.named.name: _stored_value(leaf) for leaf in planned}
    return write_orbax(ocp, directory, arrays, record, overwrite=overwrite, wait=wait)


def write_orbax(
    ocp: Any,
    directory: PathLike,
    arrays: Mapping[str, Any],
    record: Mapping[str, Any],
    *,
    overwrite: bool,
    wait: bool,
) -> PendingSave:
    """Write the stored arrays and eqx's JSON record as one Orbax composite checkpoint."""
    path = os.path.abspath(os.fspath(directory))
    if os.path.exists(path) and not overwrite:
        raise FileExistsError(
            f"cannot save to {path!r}: it already exists; pass overwrite=True to replace it, "
            "or save each step to its own directory"
        )
    checkpointer = ocp.AsyncCheckpointer(ocp.CompositeCheckpointHandler())
    checkpointer.save(
        path,
        args=ocp.args.Composite(
            **{ARRAYS: ocp.args.PyTreeSave(dict(arrays)), EQX: ocp.args.JsonSave(dict(record))}
        ),
        force=overwrite,
    )
    pending = PendingSave(path, checkpointer)
    if wait:
        pending.wait()
    return pending


def read_record(ocp: Any, path: str) -> tuple[SafetensorsHeader, dict[str, str]]:
    """eqx's JSON item as a header (tensor names, stored dtypes, shapes) and leaf kinds."""
    if not os.path.isdir(path):
        raise FileNotFoundError(f"no Orbax checkpoint directory at {path!r}")
    if not os.path.isdir(os.path.join(path, EQX)):
        raise CheckpointFormatError(
            f"cannot load {path!r}: it has no {EQX!r} item, so it was not written by "
            "`tree_save_orbax` (or `checkpoint_to_orbax`); restore it with Orbax directly"
        )
    checkpointer = ocp.Checkpointer(ocp.CompositeCheckpointHandler())
    try:
        record = checkpointer.restore(
            path, args=ocp.args.Composite(**{EQX: ocp.args.JsonRestore()})
        )[EQX]
    finally:
        checkpointer.close()
    try:
        tensors = {
            name: TensorInfo(DTYPE_BY_CODE[entry["dtype"]], tuple(entry["shape"]), 0, 0)
            for name, entry in record["tensors"].items()
        }
        header = SafetensorsHeader(tensors, dict(record["metadata"]), 0)
    except (KeyError, TypeError) as error:
        raise CheckpointFormatError(
            f"cannot load {path!r}: its {EQX!r} item is malformed ({error!r})"
        ) from None
    try:
        check_format_version(header)
        kinds = parse_leaf_kinds(header)
    except CheckpointFormatError as error:
        raise CheckpointFormatError(f"cannot load {path!r}: {error}") from None
    return header, kinds


def target_sharding(like_leaf: Any) -> Any:
    """Where a leaf is restored: `like`'s sharding for JAX leaves, `None` (NumPy) otherwise.

    NumPy and Python-scalar leaves are read on the host, so 64-bit values stay 64-bit
    whatever `jax_enable_x64` says. A JAX leaf without a sharding (`ShapeDtypeStruct`
    from `eval_shape`) is read whole by every process onto its first local device.
    """
    if not isinstance(like_leaf, jax.Array | jax.ShapeDtypeStruct):
        return None
    sharding = getattr(like_leaf, "sharding", None)
    if sharding is None:
        sharding = jax.sharding.SingleDeviceSharding(jax.local_devices()[0])
    return sharding


def restore_arrays(
    ocp: Any, path: str, header: SafetensorsHeader, shardings: Mapping[str, Any]
) -> dict[str, Any]:
    """The stored arrays named in `shardings`, each restored with its sharding.

    A sharding of `None` restores that array as a NumPy array.
    """
    if not shardings:
        return {}
    wanted = dict(shardings)
    options: dict[str, Any] = {}
    if "partial_restore" in inspect.signature(ocp.args.PyTreeRestore).parameters:
        options["partial_restore"] = len(wanted) < len(header.tensors)
    else:  # pragma: no cover - Orbax before partial restores: read every array
        wanted |= dict.fromkeys(header.tensors.keys() - wanted.keys())
    item: dict[str, Any] = {}
    restore_args: dict[str, Any] = {}
    for name, sharding in wanted.items():
        info = header.tensors[name]
        item[name] = _shape_dtype_struct(info.shape, info.dtype, sharding=sharding)
        if sharding is None:
            restore_args[name] = ocp.RestoreArgs(restore_type=np.ndarray, dtype=info.dtype)
        else:
            restore_args[name] = ocp.ArrayRestoreArgs(
                sharding=sharding, global_shape=info.shape, dtype=info.dtype
            )
    checkpointer = ocp.Checkpointer(ocp.CompositeCheckpointHandler())
    try:
        restored = checkpointer.restore(
            path,
            args=ocp.args.Composite(
                **{ARRAYS: ocp.args.PyTreeRestore(item, restore_args=restore_args, **options)}
            ),
        )[ARRAYS]
    finally:
        checkpointer.close()
    return {name: restored[name] for name in shardings}


def _from_stored(array: Any, kind: str) -> Any:
    if kind in COMPLEX_KINDS:
        if isinstance(array, np.ndarray):
            return array[..., 0] + 1j * array[..., 1]
        return jax.lax.complex(array[..., 0], array[..., 1])
    if kind.startswith(KEY_KIND_PREFIX):
        return jax.random.wrap_key_data(array, impl=kind.removeprefix(KEY_KIND_PREFIX))
    return array


@overload
def tree_load_orbax(directory: PathLike, like: _T, *, strict: Literal[True] = True) -> _T: ...


@overload
def tree_load_orbax(
    directory: PathLike, like: _T, *, strict: Literal[False]
) -> tuple[_T, LoadReport]: ...


@overload
def tree_load_orbax(
    directory: PathLike, like: _T, *, strict: bool
) -> _T | tuple[_T, LoadReport]: ...


def tree_load_orbax(
    directory: PathLike, like: _T, *, strict: bool = True
) -> _T | tuple[_T, LoadReport]:
    """Load a checkpoint written by `tree_save_orbax` into `like`'s shape and shardings.

    `tree_load`'s semantics, for a sharded checkpoint: every stored name is checked
    against the leaves of `like` (same dotted names) before any array is read, and all
    differences are collected in one `LoadReport`. Then each array is read by Orbax
    straight into the sharding of `like`'s leaf: each process reads only the shards it
    owns, and a `like` sharded over a different mesh (another shape, other devices)
    reshards the checkpoint on the way in. Unsharded leaves of `like` are read onto the
    first local device. Non-array leaves come from `like`.

    Arguments:
        directory: the checkpoint directory.
        like: a tree of the expected structure: a real model, or `ShapeDtypeStruct`s
            from `filter_eval_shape` with `sharding=` set (nothing is materialised
            whole on one device).
        strict: as for `tree_load`: `False` loads what matches and returns
            `(tree, LoadReport)`.

    Returns:
        The loaded tree; with `strict=False`, `(tree, LoadReport)`.

    Raises:
        ImportError: orbax-checkpoint is not installed.
        CheckpointMismatchError: (a `ValueError`) a shape or dtype differs, or (with
            `strict=True`) leaves are missing or unexpected; the message names each
            leaf path with both values.
        CheckpointFormatError: the directory was not written by `tree_save_orbax`.
        FileNotFoundError: `directory` does not exist.

    Example:
        ```python
        like = eqx.filter_eval_shape(make_model, key)
        like = jax.tree.map(lambda s, sh: jax.ShapeDtypeStruct(s.shape, s.dtype, sharding=sh),
                            like, shardings)
        model = eqx_tree.tree_load_orbax("ckpt/1000", like)
        ```
    """
    ocp = import_orbax("tree_load_orbax")
    path = os.path.abspath(os.fspath(directory))
    header, kinds = read_record(ocp, path)
    expected = [
        (named, spec) for named in named_leaves(like) if (spec := leaf_spec(named.leaf)) is not None
    ]
    report = compare_leaves(expected, logical_specs(header, kinds))
    if report.mismatched or (strict and report):
        raise CheckpointMismatchError(
            mismatch_message(report, f"the Orbax checkpoint {path!r}", offer_non_strict=strict),
            report,
        )
    present = [(named, spec) for named, spec in expected if named.name in header.tensors]
    arrays = restore_arrays(
        ocp, path, header, {named.name: target_sharding(named.leaf) for named, _ in present}
    )
    leaves, treedef = jax.tree_util.tree_flatten(like)
    for named, _ in present:
        value = _from_stored(arrays[named.name], kinds.get(named.name, "array"))
        leaves[named.index] = restore_leaf(named.leaf, value)
    tree: _T = jax.tree_util.tree_unflatten(treedef, leaves)
    return tree if strict else (tree, report)


def tree_load_orbax_metadata(directory: PathLike) -> Any:
    """The `metadata` given to `tree_save_orbax` (no array is read).

    Returns:
        The decoded JSON value, or `None` when saved without metadata.

    Example:
        ```python
        step = eqx_tree.tree_load_orbax_metadata("ckpt/1000")["step"]
        ```
    """
    ocp = import_orbax("tree_load_orbax_metadata")
    header, _ = read_record(ocp, os.path.abspath(os.fspath(directory)))
    return json.loads(header.metadata.get("user_metadata", "null"))
