"""Converters between `tree_save`'s single file and `tree_save_orbax`'s directory.

Both formats hold the same stored tensors under the same names with the same metadata
strings (see `_orbax`), so a conversion copies tensors and metadata across unchanged,
with no `like` needed, and a round trip gives back an equal checkpoint. Either way the
whole checkpoint passes through this one process's host memory: these are offline
tools (publish a sharded training checkpoint as one file, or start a sharded run from
one), not for checkpoints larger than a host.
"""

from __future__ import annotations

import os
from typing import Any

import numpy as np

from ._checkpoint import PathLike, read_stored, write_stored
from ._checkpoint_metadata import CHECKSUM_KEYS
from ._orbax import import_orbax, read_record, restore_arrays, write_orbax
from ._safetensors_format import dtype_code

__all__ = ["checkpoint_from_orbax", "checkpoint_to_orbax"]


def checkpoint_to_orbax(path: PathLike, directory: PathLike, *, overwrite: bool = False) -> None:
    """Convert a `tree_save` file into a `tree_save_orbax` directory.

    Arguments:
        path: the checkpoint file (any safetensors file works too).
        directory: the Orbax checkpoint directory to create.
        overwrite: replace an existing `directory`.

    Raises:
        ImportError: orbax-checkpoint is not installed.
        CheckpointFormatError: the file is corrupt (checksums are verified on the way).
        FileExistsError: `directory` exists and `overwrite` is `False`.

    Example:
        ```python
        eqx_tree.checkpoint_to_orbax("model.safetensors", "ckpt/0")
        model = eqx_tree.tree_load_orbax("ckpt/0", sharded_like)
        ```
    """
    ocp = import_orbax("checkpoint_to_orbax")
    tensors, metadata = read_stored(path)
    record: dict[str, Any] = {
        "metadata": {key: value for key, value in metadata.items() if key not in CHECKSUM_KEYS},
        "tensors": {
            name: {"dtype": dtype_code(array.dtype), "shape": list(array.shape)}
            for name, array in tensors.items()
        },
    }
    write_orbax(ocp, directory, tensors, record, overwrite=overwrite, wait=True)


def checkpoint_from_orbax(directory: PathLike, path: PathLike) -> None:
    """Convert a `tree_save_orbax` directory into one `tree_save` file.

    Run it in a single process: every array is read whole into this host's memory.

    Arguments:
        directory: the Orbax checkpoint directory.
        path: the file to write (atomically, as `tree_save` does).

    Raises:
        ImportError: orbax-checkpoint is not installed.
        CheckpointFormatError: `directory` was not written by `tree_save_orbax`.

    Example:
        ```python
        eqx_tree.checkpoint_from_orbax("ckpt/1000", "model.safetensors")
        model = eqx_tree.tree_load("model.safetensors", like)
        ```
    """
    ocp = import_orbax("checkpoint_from_orbax")
    source = os.path.abspath(os.fspath(directory))
    header, _ = read_record(ocp, source)
    arrays = restore_arrays(ocp, source, header, dict.fromkeys(header.tensors))
    tensors = {name: np.asarray(arrays[name]) for name in header.tensors}
    write_stored(path, tensors, header.metadata)
