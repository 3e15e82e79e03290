"""What `filter_jit` and `filter_pmap` say when a call goes wrong, and what they hide.

Nothing here knows about the compile cache: these helpers take plain values (a tree
of arguments, leaf positions, an exception) so that the cache can import them, and
`filter_pmap` can share them.

- `unhashable_leaf_error` / `unhashable_node_error`: a call whose static (non-array)
  parts cannot be hashed names the culprit by its path. Computed only after hashing
  failed, so a cache hit never pays for key paths.
- `translated`: the readable `EqxRuntimeError` for a failed `error_if` check.
- `quiet_callback_logs`: keeps JAX's "callback failed" log record out of the output
  while a call that may fail a check runs (the check's error is raised instead).
- `donation_warnings_silenced`: hides JAX's unusable-donation warning for
  `donate="all"` / `"all-except-first"`.
"""

from __future__ import annotations

import contextlib
import inspect
import logging
import warnings
from collections.abc import Iterable, Iterator, Sequence
from typing import Any

import jax.tree_util as jtu

from eqx_tree import is_array

from .. import _runtime_error
from .._compat import CALLBACK_LOGGER_NAMES
from ._bind import signature_of

__all__ = [
    "DONATED_BUFFERS_MESSAGE",
    "donation_warnings_silenced",
    "first_unhashable_leaf",
    "quiet_callback_logs",
    "translated",
    "unhashable_leaf_error",
    "unhashable_node_error",
]

DONATED_BUFFERS_MESSAGE = ".*Some donated buffers were not usable.*"

_HOW_TO_FIX_LEAF = (
    "Non-array leaves are static: they are hashed to look up the compiled function. "
    "Make it hashable (a tuple instead of a list, a frozen dataclass), or turn it into "
    "a JAX array."
)


@contextlib.contextmanager
def donation_warnings_silenced(silence: bool = True) -> Iterator[None]:
    """Hide JAX's "Some donated buffers were not usable" warning inside the block.

    JAX warns when it lowers, which any call may do (new shapes), so every call that
    donates with silencing asked for goes through this. `silence=False` does nothing.
    """
    if not silence:
        yield
        return
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message=DONATED_BUFFERS_MESSAGE)
        yield


class _DropCallbackLog(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        return "callback failed" not in record.getMessage()


@contextlib.contextmanager
def quiet_callback_logs() -> Iterator[None]:
    """Drop JAX's "pure_callback failed" log records while the block runs.

    A failing `error_if` check fails its callback; JAX logs that before raising. The
    caller raises the check's own error instead, so the log line would only repeat it.
    """
    # A filter of its own: a nested block (an inner `filter_jit` called while the outer
    # one traces) must not remove the outer block's filter when it ends.
    drop = _DropCallbackLog()
    loggers = [logging.getLogger(name) for name in CALLBACK_LOGGER_NAMES]
    for logger in loggers:
        logger.addFilter(drop)
    try:
        yield
    finally:
        for logger in loggers:
            logger.removeFilter(drop)


def translated(error: BaseException) -> BaseException | None:
    """The `EqxRuntimeError` to raise (`from None`) for `error`, or `None` to re-raise it.

    Read through the module so that tests may replace the translation.
    """
    return _runtime_error.translate_runtime_error(error)


def first_unhashable_leaf(
    leaves_with_paths: Iterable[tuple[Any, Any]],
) -> tuple[Any, Any] | None:
    """The first `(path, leaf)` whose leaf is a non-array that cannot be hashed."""
    for path, leaf in leaves_with_paths:
        if is_array(leaf):
            continue
        try:
            hash(leaf)
        except TypeError:
            return path, leaf
    return None


def unhashable_leaf_error(
    tree: Any, static_positions: Sequence[int], groups: Sequence[str], fun: Any, error: Exception
) -> TypeError:
    """A `TypeError` naming the unhashable static leaf of a `filter_jit` call.

    `tree` is the flattened call, a tuple whose items are named by `groups` (`("args",
    "kwargs")` or `("fun", "args", "kwargs")`); a positional argument is also named by
    its parameter in `fun`'s signature.
    """
    with_paths = jtu.tree_flatten_with_path(tree)[0]
    found = first_unhashable_leaf(with_paths[i] for i in static_positions)
    if found is None:
        return TypeError(f"filter_jit: the static part of the arguments is unhashable: {error}")
    path, leaf = found
    return TypeError(
        f"filter_jit: the non-array argument at `{_call_path(path, groups, fun)}` (of type "
        f"{type(leaf).__name__}) is unhashable. {_HOW_TO_FIX_LEAF}"
    )


def unhashable_node_error(tree: Any, groups: Sequence[str], error: Exception) -> TypeError:
    """A `TypeError` naming the node whose static data (aux data) cannot be hashed."""
    culprit = None
    for path, node in _nodes_with_path(tree, ()):
        try:
            hash(jtu.tree_structure(node))
        except TypeError:
            culprit = path  # the deepest one: its parents fail because of it
    if culprit:
        where = groups[culprit[0].idx] + jtu.keystr(tuple(culprit[1:]))
        return TypeError(
            f"filter_jit: the static (non-array) data of the node at `{where}` is "
            f"unhashable ({error}). Static fields are hashed to look up the compiled "
            "function: make them hashable (tuples instead of lists)."
        )
    return TypeError(f"filter_jit: the static part of the arguments is unhashable: {error}")


def unhashable_argument_error(transform: str, call_args: tuple[Any, ...]) -> TypeError:
    """A `TypeError` naming the unhashable leaf of `(fun, *args)` by `fun...`/`args[i]...`."""
    found = first_unhashable_leaf(jtu.tree_flatten_with_path(call_args)[0])
    if found is None:
        culprit = "a static field of the function or of an argument"
    else:
        (first, *rest), _ = found
        index = first.idx if isinstance(first, jtu.SequenceKey) else 0
        head = "fun" if index == 0 else f"args[{index - 1}]"
        culprit = f"the non-array leaf at `{head}{jtu.keystr(tuple(rest))}`"
    return TypeError(f"{transform}: {culprit} is unhashable. {_HOW_TO_FIX_LEAF}")


def _call_path(path: tuple[Any, ...], groups: Sequence[str], fun: Any) -> str:
    """`x.layers[0] (args[1])` for a positional argument, `n` for a keyword one."""
    head, *rest = path
    group = groups[head.idx]
    if group == "args" and rest:
        position = rest[0].idx
        parameters = _positional_names(fun)
        if position < len(parameters):
            return f"{parameters[position]}{jtu.keystr(tuple(rest[1:]))} (args[{position}])"
    if group == "kwargs" and rest:
        return f"{rest[0].key}{jtu.keystr(tuple(rest[1:]))}"
    return f"{group}{jtu.keystr(tuple(rest))}"


def _positional_names(fun: Any) -> list[str]:
    try:
        parameters = signature_of(fun).parameters.values()
    except (TypeError, ValueError):
        return []
    kinds = (inspect.Parameter.POSITIONAL_ONLY, inspect.Parameter.POSITIONAL_OR_KEYWORD)
    return [p.name for p in parameters if p.kind in kinds]


def _nodes_with_path(tree: Any, path: tuple[Any, ...]) -> Iterator[tuple[tuple[Any, ...], Any]]:
    """Every node of `tree`, parents first, with its key path."""
    yield path, tree
    children, _ = jtu.tree_flatten_with_path(tree, is_leaf=lambda x: x is not tree)
    if len(children) == 1 and children[0][1] is tree:
        return
    for child_path, child in children:
        yield from _nodes_with_path(child, path + tuple(child_path))
