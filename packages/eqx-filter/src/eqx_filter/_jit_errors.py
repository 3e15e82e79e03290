"""What `filter_jit` does about errors and warnings.

- Messages for calls whose static parts are unhashable, computed only when hashing
  failed, so the hit path never pays for key paths.
- Calls of an entry whose trace staged a runtime check (`error_if`): wait for the
  result, translate a failure into an `EqxRuntimeError`, keep JAX's "callback failed"
  log record out of the way.
- Calls that must not show JAX's unusable-donation warning (`donate="all"`).
"""

from __future__ import annotations

import inspect
import logging
import warnings
from collections.abc import Iterator
from typing import TYPE_CHECKING, Any

import jax.tree_util as jtu

from . import _runtime_error
from ._compat import CALLBACK_LOGGER_NAMES, block_until_ready
from ._jit_bind import signature_of

if TYPE_CHECKING:
    from ._jit_cache import _Entry

__all__ = [
    "DONATED_BUFFERS_MESSAGE",
    "call_entry",
    "call_silenced",
    "finish_after_retrace",
    "guarded_call",
    "translate_hot_path_error",
    "unhashable_leaf_error",
    "unhashable_treedef_error",
]

DONATED_BUFFERS_MESSAGE = ".*Some donated buffers were not usable.*"


def _leaf_path(tree: Any, index: int, has_fun: bool, fun: Any) -> str:
    """A readable path for leaf `index`: `x.layers[0]` (parameter name) or `args[2]`."""
    names = ("fun", "args", "kwargs") if has_fun else ("args", "kwargs")
    path, _ = jtu.tree_flatten_with_path(tree)[0][index]
    head, *rest = path
    group = names[head.idx]
    if group == "args" and rest:
        position = rest[0].idx
        parameters = _parameter_names(fun)
        if position < len(parameters):
            return f"{parameters[position]}{jtu.keystr(tuple(rest[1:]))} (args[{position}])"
    if group == "kwargs" and rest:
        return f"{rest[0].key}{jtu.keystr(tuple(rest[1:]))}"
    return group + jtu.keystr(tuple(rest))


def _parameter_names(fun: Any) -> list[str]:
    try:
        parameters = signature_of(fun).parameters.values()
    except (TypeError, ValueError):
        return []
    kinds = (inspect.Parameter.POSITIONAL_ONLY, inspect.Parameter.POSITIONAL_OR_KEYWORD)
    return [p.name for p in parameters if p.kind in kinds]


def unhashable_leaf_error(
    tree: Any, static_positions: tuple[int, ...], has_fun: bool, error: Exception, fun: Any
) -> TypeError:
    for index in static_positions:
        leaf = jtu.tree_leaves(tree)[index]
        try:
            hash(leaf)
        except TypeError:
            where = _leaf_path(tree, index, has_fun, fun)
            return TypeError(
                f"filter_jit: the non-array argument at `{where}` (of type "
                f"{type(leaf).__name__}) is unhashable. Non-array leaves are static: they "
                "are hashed to look up the compiled function. Make it hashable (a tuple "
                "instead of a list, a frozen dataclass), or turn it into a JAX array."
            )
    return TypeError(f"filter_jit: the static part of the arguments is unhashable: {error}")


def unhashable_treedef_error(tree: Any, error: Exception, has_fun: bool) -> TypeError:
    names = ("fun", "args", "kwargs") if has_fun else ("args", "kwargs")
    culprit = None
    for path, node in _nodes_with_path(tree, ()):
        try:
            hash(jtu.tree_structure(node))
        except TypeError:
            culprit = path
    if culprit:
        where = names[culprit[0].idx] + jtu.keystr(tuple(culprit[1:]))
        return TypeError(
            f"filter_jit: the static (non-array) data of the node at `{where}` is "
            f"unhashable ({error}). Static fields are hashed to look up the compiled "
            "function: make them hashable (tuples instead of lists)."
        )
    return TypeError(f"filter_jit: the static part of the arguments is unhashable: {error}")


def _nodes_with_path(tree: Any, path: tuple[Any, ...]) -> Iterator[tuple[tuple[Any, ...], Any]]:
    """Every node of `tree`, parents first, with its key path."""
    yield path, tree
    children, _ = jtu.tree_flatten_with_path(tree, is_leaf=lambda x: x is not tree)
    if len(children) == 1 and children[0][1] is tree:
        return
    for child_path, child in children:
        yield from _nodes_with_path(child, path + tuple(child_path))


# ---------------------------------------------------------------------------------------
# Run-time checks and donation warnings.


class _DropCallbackLog(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        return "callback failed" not in record.getMessage()


_drop_callback_log = _DropCallbackLog()


def guarded_call(entry: _Entry, dynamic: tuple[Any, ...]) -> Any:
    """A call that may fail at run time with an `error_if`: wait for it and translate."""
    loggers = [logging.getLogger(name) for name in CALLBACK_LOGGER_NAMES]
    for logger in loggers:
        logger.addFilter(_drop_callback_log)
    try:
        out = entry.jitted(*dynamic)
        if entry.has_checks:
            block_until_ready(out)
    except Exception as e:
        if entry.has_checks:
            translated = _runtime_error.translate_runtime_error(e)
            if translated is not None:
                raise translated from None
        raise
    finally:
        for logger in loggers:
            logger.removeFilter(_drop_callback_log)
    entry.completed = True
    entry.fast = fast = not (entry.has_checks or entry.unstable)
    info = entry.out_info
    entry.plain = fast and info is not None and info.all_dynamic and not entry.plan.silence
    # Another thread's trace may have set `has_checks`/`unstable` (they only ever turn
    # True, before that trace clears `fast` and `plain`) between the read above and the
    # writes: look again, after writing, so such a trace's clearing is never undone.
    if entry.has_checks or entry.unstable:
        entry.plain = entry.fast = False
    return out


def call_silenced(jitted: Any, dynamic: Any) -> Any:
    """Call `jitted(*dynamic)` without JAX's unusable-donation warning (`donate="all"`).

    JAX warns when it lowers, which any call may do (new shapes), so every call of a
    plan that donates pays for this.
    """
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message=DONATED_BUFFERS_MESSAGE)
        return jitted(*dynamic)


def finish_after_retrace(entry: _Entry, out: Any) -> Any:
    """Finish a hot-path call during which `jax.jit` retraced and the entry changed.

    The new trace may have staged a runtime check (so wait for the result and
    translate its failure), or given the output different static parts (so rebuild
    it with the info that trace recorded).
    """
    if entry.has_checks:
        try:
            block_until_ready(out)
        except Exception as e:
            translated = _runtime_error.translate_runtime_error(e)
            if translated is not None:
                raise translated from None
            raise
    info = entry.out_info
    assert info is not None
    return out if info.all_dynamic else info.rebuild(out)


def translate_hot_path_error(entry: _Entry, error: Exception) -> Exception | None:
    """The `EqxRuntimeError` for a hot-path call that failed synchronously, if any."""
    if entry.has_checks:  # a new trace of this entry staged a check
        return _runtime_error.translate_runtime_error(error)
    return None


def call_entry(entry: _Entry, dynamic: tuple[Any, ...]) -> Any:
    """Call an entry from the slow path: guarded until it has completed once."""
    if entry.has_checks or not entry.completed:
        return guarded_call(entry, dynamic)
    try:
        return entry.jitted(*dynamic)
    except Exception as e:
        if entry.has_checks:  # a new trace of this entry staged a check
            translated = _runtime_error.translate_runtime_error(e)
            if translated is not None:
                raise translated from None
        raise
