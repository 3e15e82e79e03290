"""Leaf-stream serialisation: byte-compatible with Equinox `.eqx` files.

The stream is one NumPy `.npy` record per saved leaf, in depth-first flatten order,
and nothing else, so any tool that reads `.npy` records can read it. Reading never
unpickles (`allow_pickle=False`): a record holding a pickled object array is refused
and runs no code.

Guarantees beyond the format:
- writing to a path is atomic (`_atomic_write`): a visible temporary file
  `<name>.tmp-<pid>` in the same directory, fsynced, then `os.replace`; a failure
  mid-write (a full disk: an `OSError` naming the file) leaves any previous file
  untouched, and the next save removes temporaries left by a crashed process;
- loading builds nothing until every record has been read and checked against
  `like`, so a truncated or corrupt file is an error, never a partial tree; with a
  path, records left over after the last leaf are an error too;
- every failure names the leaf's key path.
"""

from __future__ import annotations

import os
import pathlib
from collections.abc import Callable
from typing import Any, TypeAlias

import jax
import jax.numpy as jnp
import jax.tree_util as jtu
import numpy as np

from ._atomic_write import atomic_writer
from ._checkpoint_leaves import is_key_dtype
from ._errors import TreePathError
from ._predicates import is_array_like

__all__ = [
    "default_deserialise_filter_spec",
    "default_serialise_filter_spec",
    "tree_deserialise_leaves",
    "tree_serialise_leaves",
]

# Any binary file object: `open(..., "wb"/"rb")`, `io.BytesIO`, a socket's file, ...
# Deliberately `Any`: `typing.BinaryIO` is a nominal ABC that `io.BytesIO` does not
# satisfy under runtime checkers (beartype via jaxtyping's import hook).
_BinaryFile: TypeAlias = Any
_PathOrFile: TypeAlias = "str | os.PathLike[str] | _BinaryFile"


def _with_suffix(path: str | os.PathLike[str]) -> pathlib.Path:
    path = pathlib.Path(path)
    return path if path.suffix else path.with_suffix(".eqx")


def _is_path(path_or_file: Any) -> bool:
    return isinstance(path_or_file, (str, os.PathLike))


def _load_record(f: _BinaryFile, like_dtype: Any = None) -> np.ndarray:
    """One `.npy` record; a void record (how NumPy stores bfloat16, float8...) is
    reinterpreted as `like_dtype` when the item sizes agree."""
    value = np.load(f, allow_pickle=False)
    if (
        like_dtype is not None
        and value.dtype.type is np.void
        and np.dtype(like_dtype).type is not np.void
        and value.dtype.itemsize == np.dtype(like_dtype).itemsize
    ):
        value = value.view(like_dtype)
    return value


class _RecordMismatch(RuntimeError):
    """A record whose dtype or shape differs from `like`'s, found before converting it.

    Raised by the default deserialise spec so that `tree_deserialise_leaves` reports
    it, with the leaf path, as "has changed dtype" instead of letting JAX silently
    cast (float64 to float32 without x64) or fail on a dtype it cannot name. A
    `RuntimeError`, like that report, for callers of the spec itself.
    """

    def __init__(self, field: str, expected: Any, actual: Any) -> None:
        shown = _describe_dtype(actual) if field == "dtype" else actual
        super().__init__(
            f"The record has changed {field}: expected {expected}, the file has {shown}"
        )
        self.field = field
        self.expected = expected
        self.actual = actual
        self.shown = shown


# The PRNG implementations JAX ships; a `ShapeDtypeStruct` of keys names its
# implementation only through its dtype, so it is matched against each of these.
_KEY_IMPLS = ("threefry2x32", "rbg", "unsafe_rbg")


def _key_impl(like: Any) -> Any:
    if isinstance(like, jax.Array):
        return jax.random.key_impl(like)
    for name in _KEY_IMPLS:
        if jax.eval_shape(lambda name=name: jax.random.key(0, impl=name)).dtype == like.dtype:
            return name
    raise TypeError(f"cannot tell the PRNG implementation of key dtype {like.dtype}")


def _load_keys(f: _BinaryFile, like: Any) -> jax.Array:
    """A typed PRNG key array, stored as its `key_data` record (uint32)."""
    data = _load_record(f)
    expected = jax.eval_shape(jax.random.key_data, like)
    if data.dtype != expected.dtype:
        raise _RecordMismatch("dtype", f"{expected.dtype} key data", data.dtype)
    if data.shape != expected.shape:
        raise _RecordMismatch("shape", f"{expected.shape} (key data)", data.shape)
    return jax.random.wrap_key_data(jnp.asarray(data), impl=_key_impl(like))


def _describe_dtype(dtype: np.dtype[Any]) -> str:
    if dtype.type is np.void:
        return (
            f"a {dtype.itemsize}-byte raw dtype ({dtype.str}, how NumPy stores bfloat16 and float8)"
        )
    return str(dtype)


def default_serialise_filter_spec(f: _BinaryFile, x: Any) -> None:
    """Write `x` as one `.npy` record if it is array-like; skip anything else.

    JAX arrays are written through JAX (so bfloat16 works), NumPy arrays unchanged,
    Python scalars and NumPy scalars as 0-d arrays. Typed PRNG keys
    (`jax.random.key`) are written as their `jax.random.key_data`.
    """
    if isinstance(x, jax.Array):
        if is_key_dtype(x.dtype):
            x = jax.random.key_data(x)
        jnp.save(f, x, allow_pickle=False)
    elif isinstance(x, np.ndarray):
        np.save(f, x, allow_pickle=False)
    elif is_array_like(x):
        np.save(f, np.asarray(x), allow_pickle=False)


def default_deserialise_filter_spec(f: _BinaryFile, x: Any) -> Any:
    """Read the record for leaf `x` of `like`, in the form `x` has.

    A JAX array or `jax.ShapeDtypeStruct` loads as a JAX array, a NumPy array as a
    NumPy array, any other array-like (Python or NumPy scalar) as `type(x)`.
    Typed PRNG keys load from their key data, as keys of `x`'s implementation.
    Anything else is returned as is: functions and objects survive by identity.
    """
    if isinstance(x, (jax.Array, jax.ShapeDtypeStruct)):
        if is_key_dtype(x.dtype):
            return _load_keys(f, x)
        value = _load_record(f, x.dtype)
        if value.dtype != x.dtype:
            raise _RecordMismatch("dtype", x.dtype, value.dtype)
        return jnp.asarray(value)
    if isinstance(x, np.ndarray):
        return _load_record(f, x.dtype)
    if is_array_like(x):
        value = _load_record(f, getattr(x, "dtype", None))
        return type(x)(value.item() if not isinstance(x, np.generic) else value)
    return x


def _path_error(path: tuple[Any, ...], error: BaseException) -> TreePathError:
    """`error` re-raised for the leaf at `path`; raise it `from` its `__cause__`.

    A `TreePathError` from a nested call (a filter spec that itself serialises a
    subtree) is flattened: the paths concatenate and the cause stays the original error.
    """
    if isinstance(error, TreePathError) and error.__cause__ is not None:
        path = path + error.path
        error = error.__cause__
    message = (
        f"Error at leaf with path {path!r}, i.e. `{jtu.keystr(path)}`: "
        f"{type(error).__name__}: {error}"
    )
    wrapped = TreePathError(message, path)
    wrapped.__cause__ = error
    return wrapped


def _map_with_spec(
    fn: Callable[[Callable[..., Any], tuple[Any, ...], Any], Any],
    filter_spec: Any,
    pytree: Any,
    is_leaf: Callable[[Any], bool] | None,
) -> Any:
    """Apply `fn(spec, path, leaf)` to every leaf, `spec` from the prefix `filter_spec`."""

    def over_subtree(prefix: tuple[Any, ...], spec: Callable[..., Any], subtree: Any) -> Any:
        return jtu.tree_map_with_path(
            lambda path, leaf: fn(spec, prefix + tuple(path), leaf), subtree, is_leaf=is_leaf
        )

    # `is_leaf` is about `pytree`'s leaves; the prefix `filter_spec` is matched by plain
    # structure (its leaves are the spec functions), so it does not apply there.
    return jtu.tree_map_with_path(over_subtree, filter_spec, pytree)


def tree_serialise_leaves(
    path_or_file: _PathOrFile,
    pytree: Any,
    filter_spec: Any = default_serialise_filter_spec,
    is_leaf: Callable[[Any], bool] | None = None,
) -> None:
    """Save the array leaves of `pytree` as a stream of `.npy` records.

    Arguments:
        path_or_file: a path (`.eqx` is added when it has no suffix; written
            atomically) or a binary file open for writing (written in place).
        pytree: the tree to save, for example a model.
        filter_spec: `(file, leaf) -> None`, writing a record or skipping the leaf; or
            a PyTree prefix of `pytree` with such functions, each mapped over its subtree.
        is_leaf: as for `jax.tree_util`.

    Raises:
        TreePathError: saving a leaf failed; `.path` is its key path and the original
            error is the `__cause__`.
        OSError: writing to a path failed (for example a full disk, `ENOSPC`): the
            message and `.filename` name the file, the message the leaf; the previous
            file at that path is left intact.

    Example:
        >>> tree_serialise_leaves("model.eqx", model)
        >>> model = tree_deserialise_leaves("model.eqx", like=model)
    """

    def save(f: _BinaryFile) -> None:
        def save_leaf(spec: Callable[..., Any], path: tuple[Any, ...], leaf: Any) -> Any:
            try:
                spec(f, leaf)
            except OSError as error:
                if not writing_a_path:
                    raise _path_error(path, error) from error
                # `atomic_writer` restates it naming the file; keep the leaf in the message.
                detail = f"{error.strerror or error} (saving the leaf at `{jtu.keystr(path)}`)"
                raise (OSError(error.errno, detail) if error.errno else OSError(detail)) from error
            except Exception as error:
                wrapped = _path_error(path, error)
                raise wrapped from wrapped.__cause__
            return leaf

        _map_with_spec(save_leaf, filter_spec, pytree, is_leaf)

    writing_a_path = _is_path(path_or_file)
    if writing_a_path:
        with atomic_writer(os.fspath(_with_suffix(path_or_file))) as f:
            save(f)
    else:
        save(path_or_file)


def _leaf_description(path: tuple[Any, ...]) -> str:
    return f"Deserialised leaf at path {path!r}, i.e. `{jtu.keystr(path)}`,"


def _check_leaf(path: tuple[Any, ...], like: Any, loaded: Any) -> None:
    like_is_jax = isinstance(like, (jax.Array, jax.ShapeDtypeStruct))
    if not (like_is_jax or isinstance(like, np.ndarray)):
        return
    where = _leaf_description(path)
    expected_type = "a JAX array" if like_is_jax else "a NumPy array"
    ok_type = isinstance(loaded, jax.Array) if like_is_jax else isinstance(loaded, np.ndarray)
    if not ok_type:
        raise RuntimeError(
            f"{where} has changed type: `like` has {expected_type}, the file gave "
            f"{type(loaded).__name__}. Check that `like` is the tree that was saved."
        )
    if tuple(loaded.shape) != tuple(like.shape):
        raise RuntimeError(
            f"{where} has changed shape: expected {tuple(like.shape)}, the file has "
            f"{tuple(loaded.shape)}. The saved model was built with different sizes than `like`."
        )
    if loaded.dtype != like.dtype:
        raise RuntimeError(
            f"{where} has changed dtype: expected {like.dtype}, the file has {loaded.dtype}. "
            "Build `like` with the dtype that was saved (float64 needs `jax_enable_x64`)."
        )


def tree_deserialise_leaves(
    path_or_file: _PathOrFile,
    like: Any,
    filter_spec: Any = default_deserialise_filter_spec,
    is_leaf: Callable[[Any], bool] | None = None,
) -> Any:
    """Load a tree saved by `tree_serialise_leaves`, with the structure of `like`.

    Arguments:
        path_or_file: a path (`.eqx` is added when it has no suffix) or a binary file
            open for reading.
        like: a tree of the same structure: its array leaves say what to expect (a
            `jax.ShapeDtypeStruct`, e.g. from `filter_eval_shape`, loads as a JAX
            array), its other leaves are kept as they are.
        filter_spec: `(file, leaf) -> new leaf`, or a PyTree prefix of such functions.
        is_leaf: as for `jax.tree_util`.

    Returns:
        A new tree like `like`, with the loaded arrays.

    Raises:
        TreePathError: a record could not be read for a leaf (truncated file,
            pickled data refused, ...); with a path, also records left over at the end.
        RuntimeError: a loaded leaf has a different type, shape or dtype than `like`'s.
    """

    def load(f: _BinaryFile) -> Any:
        def load_leaf(spec: Callable[..., Any], path: tuple[Any, ...], leaf: Any) -> Any:
            try:
                loaded = spec(f, leaf)
            except _RecordMismatch as mismatch:
                fix = (
                    "Build `like` with the dtype that was saved (float64 needs `jax_enable_x64`)."
                    if mismatch.field == "dtype"
                    else "The saved model was built with different sizes than `like`."
                )
                raise RuntimeError(
                    f"{_leaf_description(path)} has changed {mismatch.field}: expected "
                    f"{mismatch.expected}, the file has {mismatch.shown}. {fix}"
                ) from None
            except Exception as error:
                wrapped = _path_error(path, error)
                raise wrapped from wrapped.__cause__
            _check_leaf(path, leaf, loaded)
            return loaded

        return _map_with_spec(load_leaf, filter_spec, like, is_leaf)

    if not _is_path(path_or_file):
        return load(path_or_file)
    path = _with_suffix(path_or_file)
    with open(path, "rb") as f:
        tree = load(f)
        if f.read(1):
            raise TreePathError(
                f"{path} holds more records than `like` has leaves to load: it was saved "
                "from a different (larger) tree. Check that `like` matches the saved tree.",
                (),
            )
    return tree
