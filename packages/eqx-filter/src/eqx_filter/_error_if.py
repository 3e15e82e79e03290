"""`error_if` and `branched_error_if`: runtime checks that work inside JIT.

How a check is staged: the array leaves of `x` go through one function that returns
them unchanged unless the predicate holds. That function is

- a `jax.custom_jvp` whose tangent rule passes tangents straight through (so the check
  runs once, on the primal values, and `grad` works), around
- a `jax.custom_batching.custom_vmap` whose batching rule reduces the predicate with
  *any* and the index with *max* over the batch axis (so under `vmap` one failing
  element fails the call and the largest index wins), around
- a `lax.cond` on the predicate, whose failing branch is a `jax.pure_callback` that
  raises (mode `raise`), replaces values by NaN (`nan`), or prints and calls
  `jax.debug.breakpoint` (`breakpoint`).

The environment variables `EQX_ON_ERROR` and `EQX_ON_ERROR_BREAKPOINT_FRAMES` are read
once, when this module is imported, so a call never pays for an environment lookup.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Sequence
from typing import Any

import jax
import jax.numpy as jnp
import jax.tree_util as jtu
import numpy as np

from eqx_tree import EqxWarning, is_array, is_array_like
from eqx_tree.internal import read_choice, warn_at_user_code

from ._compat import shape_dtype_struct, tracer_type
from ._jit import filter_jit
from ._runtime_error import (
    EqxRuntimeError,
    EqxTracetimeError,
    MessageTable,
    _CheckFailed,
    check_failed_text,
    register_site,
    runtime_error,
    user_stack,
)
from ._tracing_hooks import _current_record, note_check_staged

__all__ = [
    "EQX_ON_ERROR",
    "EQX_ON_ERROR_BREAKPOINT_FRAMES",
    "branched_error_if",
    "error_if",
    "nan_like",
]

ON_ERROR_MODES = ("raise", "nan", "breakpoint", "off")


def _read_on_error() -> str:
    value = read_choice("EQX_ON_ERROR", ON_ERROR_MODES, "raise")
    if value == "breakpoint":
        warn_at_user_code(
            "`EQX_ON_ERROR=breakpoint` is set: every `eqx.error_if` check opens a debugger "
            "when it fails, which slows execution. Unset it once you are done debugging.",
            EqxWarning,
        )
    return value


def _read_breakpoint_frames() -> int:
    value = os.environ.get("EQX_ON_ERROR_BREAKPOINT_FRAMES", "1")
    try:
        return int(value)
    except ValueError:
        raise ValueError(
            f"The environment variable `EQX_ON_ERROR_BREAKPOINT_FRAMES` must be an integer "
            f"(the number of frames the debugger shows); got {value!r}."
        ) from None


EQX_ON_ERROR: str = _read_on_error()
EQX_ON_ERROR_BREAKPOINT_FRAMES: int = _read_breakpoint_frames()


def _resolve_mode(on_error: str) -> str:
    if on_error == "default":
        return EQX_ON_ERROR
    if on_error not in ON_ERROR_MODES:
        raise RuntimeError(
            f"Unrecognised value for `on_error`: {on_error!r}. Use one of 'default', "
            f"{', '.join(repr(m) for m in ON_ERROR_MODES)}."
        )
    return on_error


def _fill_value(dtype: Any) -> Any:
    dtype = np.dtype(dtype)
    if jnp.issubdtype(dtype, jnp.inexact):
        return np.array(np.nan, dtype)
    if jnp.issubdtype(dtype, jnp.bool_):
        return np.array(True)
    if jnp.issubdtype(dtype, jnp.integer):
        return np.array(np.iinfo(dtype).max, dtype)
    return None  # e.g. PRNG key data: left as it is


def nan_like(array: Any) -> Any:
    """`array` with NaN for floats, the dtype's max for ints and `True` for bools."""
    fill = _fill_value(array.dtype)
    if fill is None:
        return array
    return jnp.full(jnp.shape(array), fill, dtype=array.dtype)


def in_filter_jit_trace() -> bool:
    """Whether a `filter_jit` trace is in progress (it has a check record open)."""
    return _current_record.get() is not None


def _is_traced(x: Any) -> bool:
    return isinstance(x, tracer_type)


def _print_breakpoint_header(msg: str) -> None:
    print(
        f"eqx.EqxRuntimeError: {msg}\n"
        f"(Opening a debugger because EQX_ON_ERROR=breakpoint. It shows "
        f"EQX_ON_ERROR_BREAKPOINT_FRAMES={EQX_ON_ERROR_BREAKPOINT_FRAMES} frame(s); set that "
        "environment variable to see more of the stack.)"
    )


Message = str | Callable[[Any], str]


class _RenderedMessages(MessageTable):
    """The messages of one staged check, as `filter_jit` reports them.

    A callable message is rendered from the failing values of `x` when the check fails;
    the latest rendering is what a failure of that index reports.
    """

    def __init__(self, msgs: Sequence[Message]) -> None:
        self.msgs = msgs
        self.rendered: dict[int, str] = {}

    def __len__(self) -> int:
        return len(self.msgs)

    def message(self, index: int) -> str:
        msg = self.msgs[index]
        if callable(msg):
            return self.rendered.get(index, "(a message computed from `x` when it fails)")
        return msg


def _render(msg: Message, x: Any) -> str:
    """`msg`, or for a callable message, `msg(x)` as a string."""
    return str(msg(x)) if callable(msg) else msg


def _make_check(
    mode: str, msgs: Sequence[Message], rebuild_x: Callable[[list[Any]], Any]
) -> Callable[..., list[Any]]:
    """The staged check for `mode`: `(arrays, pred, index) -> arrays`.

    `rebuild_x(arrays)` rebuilds `x` around the (NumPy) values of its arrays, for
    callable messages.
    """
    table = _RenderedMessages(msgs)
    site_id = register_site(table) if mode == "raise" else -1

    def message(index: Any, arrays: list[Any]) -> tuple[int, str]:
        i = int(np.asarray(index))
        if not 0 <= i < len(msgs):
            return i, f"(error index {i} out of range)"
        text = _render(msgs[i], rebuild_x([np.asarray(a) for a in arrays]))
        table.rendered[i] = text
        return i, text

    def raise_failure(index: Any, arrays: list[Any]) -> list[Any]:
        i, msg = message(index, arrays)
        raise _CheckFailed(check_failed_text(site_id, i, msg))

    def show_failure(index: Any, arrays: list[Any]) -> None:
        _print_breakpoint_header(message(index, arrays)[1])

    def failed(arrays: list[Any], index: Any) -> list[Any]:
        if mode == "raise":
            structs = [shape_dtype_struct(a.shape, a.dtype) for a in arrays]
            out: list[Any] = jax.pure_callback(raise_failure, structs, index, arrays)
            return out
        if mode == "breakpoint":
            jax.debug.callback(show_failure, index, arrays)
            jax.debug.breakpoint(num_frames=EQX_ON_ERROR_BREAKPOINT_FRAMES)
        return [nan_like(a) for a in arrays]

    def passed(arrays: list[Any], index: Any) -> list[Any]:
        return list(arrays)

    @jax.custom_batching.custom_vmap
    def unbatched(arrays: list[Any], pred: Any, index: Any) -> list[Any]:
        out: list[Any] = jax.lax.cond(pred, failed, passed, arrays, index)
        return out

    @unbatched.def_vmap
    def batched(
        axis_size: int, in_batched: list[Any], arrays: list[Any], pred: Any, index: Any
    ) -> tuple[list[Any], list[Any]]:
        arrays_batched, pred_batched, index_batched = in_batched
        if pred_batched:
            pred = jnp.any(pred, axis=0)
        if index_batched:
            index = jnp.max(index, axis=0)
        return unbatched(arrays, pred, index), list(arrays_batched)

    @jax.custom_jvp
    def check(arrays: list[Any], pred: Any, index: Any) -> list[Any]:
        return unbatched(arrays, pred, index)

    @check.defjvp
    def check_jvp(primals: Any, tangents: Any) -> tuple[list[Any], list[Any]]:
        arrays, pred, index = primals
        return unbatched(arrays, pred, index), list(tangents[0])

    return check


def _staged_check(x: Any, pred: Any, index: Any, msgs: Sequence[Message], mode: str) -> Any:
    leaves, treedef = jtu.tree_flatten(x)
    positions = [i for i, leaf in enumerate(leaves) if is_array(leaf)]
    if not positions:
        raise ValueError(
            "No arrays to thread error on to: `error_if(x, pred, msg)` attaches its check "
            f"to the arrays of `x`, but `x` has none (got {x!r}). Pass an array (for "
            "example the value the check protects) as `x`."
        )
    if mode == "off":
        return x
    note_check_staged()
    pred = jnp.any(jnp.asarray(pred))
    index = jnp.max(jnp.asarray(index)).astype(jnp.int32)
    arrays = [jnp.asarray(leaves[i]) for i in positions]
    # Non-array leaves only: the callback must not hold on to this trace's tracers.
    static_leaves = [None if is_array(leaf) else leaf for leaf in leaves]

    def rebuild_x(values: list[Any]) -> Any:
        full = list(static_leaves)
        for position, value in zip(positions, values, strict=True):
            full[position] = value
        return jtu.tree_unflatten(treedef, full)

    checked = _make_check(mode, msgs, rebuild_x)(arrays, pred, index)
    for position, value in zip(positions, checked, strict=True):
        leaves[position] = value
    return jtu.tree_unflatten(treedef, leaves)


def _branched_error_if_impl(
    x: Any, pred: Any, index: Any, msgs: Sequence[Message], mode: str
) -> Any:
    if not _is_traced(pred):
        if not bool(np.any(np.asarray(pred))):
            return x
        if not _is_traced(index):
            msg = _render(msgs[int(np.max(np.asarray(index)))], x)
            if mode == "raise":
                raise EqxTracetimeError(msg)
            if mode == "breakpoint":
                _print_breakpoint_header(msg)
                breakpoint()
                return x
            if mode == "nan":
                warn_at_user_code(
                    f"`eqx.error_if` failed at trace time (its predicate is a concrete True), "
                    f"so with on_error='nan' its output is NaN: {msg}",
                    EqxWarning,
                )
                return jtu.tree_map(lambda a: nan_like(a) if is_array(a) else a, x)
            return x
        pred = True  # a traced index: defer to run time
    return _staged_check(x, pred, index, msgs, mode)


_jitted_impl = filter_jit(_branched_error_if_impl)


def _check_index(index: Any, n_msgs: int) -> None:
    """An integer index; when concrete, one that selects one of the `n_msgs` messages."""
    dtype = jnp.result_type(index) if is_array_like(index) else None
    if dtype is None or not (
        jnp.issubdtype(dtype, jnp.integer) or jnp.issubdtype(dtype, jnp.bool_)
    ):
        described = f" and dtype {dtype}" if dtype is not None else ""
        raise TypeError(
            f"`index` must be an integer selecting one of the {n_msgs} messages "
            f"(0 to {n_msgs - 1}); got {index!r} of type {type(index).__name__}{described}."
        )
    if _is_traced(index):
        return
    values = np.asarray(index)
    if values.size and (values.min() < 0 or values.max() >= n_msgs):
        bad = values.min() if values.min() < 0 else values.max()
        raise ValueError(
            f"`index` {int(bad)} is out of range: there are {n_msgs} messages, so it must "
            f"be from 0 to {n_msgs - 1}."
        )


def branched_error_if(
    x: Any,
    pred: Any,
    index: Any,
    msgs: Sequence[Message],
    *,
    on_error: str = "default",
) -> Any:
    """Raise `msgs[index]` at run time if `pred` holds; otherwise return `x`.

    The check attaches to the arrays of `x`: it runs after `x` is computed and before
    the returned value is used. (So if the returned value is never used, the check
    may be removed by dead-code elimination: use the output!)

    **Arguments:**

    - `x`: any PyTree holding at least one array; returned unchanged.
    - `pred`: a bool (or bool array: any true element fails). Under `vmap` it is
      reduced with *any* over the batch axes.
    - `index`: an int (or int array) selecting the message. Under `vmap` the largest
      index wins.
    - `msgs`: the messages; each may also be a function of `x` returning the message
      (see `error_if`).
    - `on_error`: `"default"` (the `EQX_ON_ERROR` environment variable, itself
      `"raise"` by default), `"raise"`, `"nan"` (replace floats by NaN, ints by their
      maximum, bools by `True`), `"breakpoint"` (print the message and open
      `jax.debug.breakpoint`, then continue with NaNs) or `"off"`.

    **Returns:** `x`, through the check.

    **Raises:** `EqxRuntimeError` (under `filter_jit`, or eagerly) when the check
    fails; `EqxTracetimeError` when `pred` and `index` are concrete and the check
    fails; `RuntimeError` for a bad `on_error`; `ValueError` if `x` has no arrays;
    `TypeError` for a non-integer `index`, and `ValueError` for a concrete one outside
    `0 .. len(msgs) - 1`.

    ```python
    @eqx_filter.filter_jit
    def safe_log(x):
        x = eqx_filter.error_if(x, x <= 0, "log of a non-positive number")
        return jnp.log(x)
    ```
    """
    mode = _resolve_mode(on_error)
    # A tuple (hashable: the messages are static under `filter_jit`), or the table.
    msgs = msgs if isinstance(msgs, MessageTable) else tuple(msgs)
    _check_index(index, len(msgs))
    if in_filter_jit_trace():
        # Already being compiled by `filter_jit`, whose trace records the check.
        return _branched_error_if_impl(x, pred, index, msgs, mode)
    if is_array(pred) or is_array(index):
        # (A Python `pred` and `index` are handled right here, with the real `x`.)
        # The check is staged inside the nested `filter_jit`'s own trace; tell an
        # enclosing trace (say, `jax.jit`'s) as well.
        note_check_staged()
        try:
            return _jitted_impl(x, pred, index, msgs, mode)
        except EqxRuntimeError as error:
            # Failed right here (eagerly): show this call's stack, not that of the call
            # which first traced `_jitted_impl` (the trace is shared by every call).
            message = getattr(error, "_eqx_message", None)
            if message is None:  # pragma: no cover - every translated error has one
                raise
            raise runtime_error(message, user_stack(inside_jit=False)) from None
    return _branched_error_if_impl(x, pred, index, msgs, mode)


def error_if(x: Any, pred: Any, msg: Message, *, on_error: str = "default") -> Any:
    """Raise `msg` at run time if `pred` holds; otherwise return `x`.

    `error_if(x, pred, msg)` is `branched_error_if(x, pred, 0, [msg])`; see there.

    `msg` may be a function of `x` returning the message, to show the values that
    failed: it is called only when the check fails, with `x` whose arrays are NumPy
    arrays of their run-time values (under `vmap`, of the whole batch).

    ```python
    x = eqx_filter.error_if(x, jnp.isnan(x), "x has a NaN")
    x = eqx_filter.error_if(x, x < 0, lambda x: f"negative values: {x[x < 0]}")
    ```
    """
    return branched_error_if(x, pred, 0, [msg], on_error=on_error)
