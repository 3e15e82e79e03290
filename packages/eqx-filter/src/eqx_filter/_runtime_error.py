"""The runtime-error classes and the translation `filter_jit` applies to failed calls.

A failed `error_if` check raises, from inside the compiled program, a `_CheckFailed`
exception through a `jax.pure_callback`. XLA wraps it in JAX's own runtime error, whose
text still contains ours: the message, advice to use `eqx.filter_jit`, and a marker
`[eqx-check:<site>:<index>]`. `translate_runtime_error` finds the marker and builds
the `EqxRuntimeError` that `filter_jit` raises, using the call-site stack recorded
when the check was traced (`register_site`).
"""

from __future__ import annotations

import abc
import itertools
import re
import threading
import traceback
from collections.abc import Sequence
from typing import overload

__all__ = [
    "MessageTable",
    "as_messages",
    "EqxRuntimeError",
    "EqxTracetimeError",
    "EquinoxRuntimeError",
    "EquinoxTracetimeError",
    "check_failed_text",
    "register_site",
    "runtime_error",
    "translate_runtime_error",
    "user_stack",
]


class EqxRuntimeError(RuntimeError):
    """A check staged by `eqx.error_if` failed while the compiled code ran."""


class EqxTracetimeError(RuntimeError):
    """A check staged by `eqx.error_if` failed at trace time (its predicate was concrete)."""


# Shown as `EqxRuntimeError: ...` in tracebacks rather than with a private module path.
EqxRuntimeError.__module__ = "builtins"
EqxTracetimeError.__module__ = "builtins"

EquinoxRuntimeError = EqxRuntimeError
EquinoxTracetimeError = EqxTracetimeError

_MARKER = re.compile(r"\[eqx-check:(\d+):(-?\d+)\]")

_PLAIN_JIT_ADVICE = (
    "This is an `eqx.error_if` check that failed inside plain `jax.jit`. Wrap the "
    "function in `eqx.filter_jit` (instead of `jax.jit`) to get this as a readable "
    "`eqx.EqxRuntimeError` with the stack of the failing check."
)

_TIPS = (
    "-------------------\n"
    "An `eqx.error_if` check failed while your compiled JAX program ran.\n"
    "Tips for debugging it:\n"
    "1) Set the environment variable `EQX_ON_ERROR=breakpoint` to open a debugger at the "
    "failing check (`EQX_ON_ERROR_BREAKPOINT_FRAMES=<n>` shows n frames of context), "
    "where you can inspect the values that made it fail.\n"
    "2) Set `JAX_DISABLE_JIT=1` to run without compiling, so the error is raised eagerly "
    "at the check with an ordinary Python traceback (slow, but exact).\n"
    "3) `EQX_ON_ERROR=nan` returns NaNs instead of raising, and `EQX_ON_ERROR=off` "
    "disables the checks."
)


class MessageTable(Sequence[str], abc.ABC):
    """A long sequence of check messages, each built only when it is shown.

    A check with one message per leaf and per batch element (`debug.check_finite` under
    `vmap`) may have millions of them; a table computes `msgs[i]` on demand instead of
    holding them all. Subclasses must be hashable values (frozen dataclasses), since the
    messages are a static argument of the check's trace.
    """

    @abc.abstractmethod
    def __len__(self) -> int: ...

    @abc.abstractmethod
    def message(self, index: int) -> str:
        """The message at `0 <= index < len(self)`."""

    @overload
    def __getitem__(self, index: int) -> str: ...

    @overload
    def __getitem__(self, index: slice) -> Sequence[str]: ...

    def __getitem__(self, index: int | slice) -> str | Sequence[str]:
        size = len(self)
        if isinstance(index, slice):
            return tuple(self.message(i) for i in range(size)[index])
        if index < 0:
            index += size
        if not 0 <= index < size:
            raise IndexError(f"message index {index} out of range for {size} messages")
        return self.message(index)


def as_messages(msgs: Sequence[str]) -> Sequence[str]:
    """`msgs` as a hashable sequence: a tuple, or the `MessageTable` itself."""
    return msgs if isinstance(msgs, MessageTable) else tuple(msgs)


class _Site:
    """One traced check: its messages and the user stack where it was staged."""

    __slots__ = ("msgs", "stack")

    def __init__(self, msgs: Sequence[str], stack: str) -> None:
        self.msgs = msgs
        self.stack = stack


_sites: dict[int, _Site] = {}
_site_ids = itertools.count()
_sites_lock = threading.Lock()
_MAX_SITES = 100_000


def _is_library_frame(frame: traceback.FrameSummary) -> bool:
    filename = frame.filename.replace("\\", "/")
    return (
        "/jax/" in filename
        or "/jaxlib/" in filename
        or "/eqx_filter/" in filename
        or "/eqx_module/" in filename  # e.g. the bound method of `item.error_if`
        or "/eqx_tree/" in filename
        or "contextlib" in filename
    )


def user_stack(*, inside_jit: bool) -> str:
    """The user's frames of the current stack, without those of JAX and eqx_filter.

    With `inside_jit`, only the frames below the innermost `filter_jit` trace: those are
    the same on every call that reuses the trace, unlike the frames above it (the call
    that happened to trigger the trace; a failing call's own are in its traceback).
    """
    frames = traceback.extract_stack()[:-1]
    if inside_jit:
        for i in range(len(frames) - 1, -1, -1):
            if frames[i].filename.replace("\\", "/").endswith("/eqx_filter/_jit/_entry.py"):
                frames = frames[i + 1 :]
                break
    kept = [frame for frame in frames if not _is_library_frame(frame)]
    return "".join(traceback.format_list(kept[-20:]))


def register_site(msgs: Sequence[str]) -> int:
    """Record a check being traced now; returns the id its failures carry."""
    site = _Site(as_messages(msgs), user_stack(inside_jit=True))
    with _sites_lock:
        site_id = next(_site_ids)
        if len(_sites) >= _MAX_SITES:  # bounded: forget the oldest sites
            for old in list(_sites)[: _MAX_SITES // 10]:
                del _sites[old]
        _sites[site_id] = site
    return site_id


def check_failed_text(site_id: int, index: int, msg: str) -> str:
    """The text of the exception a failing check raises inside the compiled program."""
    return f"{msg}\n\n{_PLAIN_JIT_ADVICE}\n[eqx-check:{site_id}:{index}]"


class _CheckFailed(RuntimeError):
    """Raised by a failing check's callback; JAX wraps it in its own runtime error."""


def _find_marker(error: BaseException) -> tuple[int, int] | None:
    seen: set[int] = set()
    current: BaseException | None = error
    while current is not None and id(current) not in seen:
        seen.add(id(current))
        match = _MARKER.search(str(current))
        if match is not None:
            return int(match.group(1)), int(match.group(2))
        current = current.__cause__ or current.__context__
    return None


def translate_runtime_error(error: BaseException) -> EqxRuntimeError | None:
    """The `EqxRuntimeError` that `filter_jit` should raise (`from None`) for `error`.

    `filter_jit` calls this on any exception raised while it waits for the results of
    a call whose trace staged a check. It returns `None` when `error` did not come
    from an eqx check; `filter_jit` then re-raises `error` unchanged.
    """
    if isinstance(error, (EqxRuntimeError, EqxTracetimeError)):
        return None
    found = _find_marker(error)
    if found is None:
        return None
    site_id, index = found
    site = _sites.get(site_id)
    if site is None:  # pragma: no cover - only after more than _MAX_SITES traces
        msg, stack = f"(message of check #{site_id} no longer available)", ""
    else:
        msg = site.msgs[index] if 0 <= index < len(site.msgs) else f"(bad index {index})"
        stack = site.stack
    return runtime_error(msg, stack)


def runtime_error(msg: str, stack: str) -> EqxRuntimeError:
    """The `EqxRuntimeError` of a failed check with message `msg`, staged at `stack`."""
    text = (
        "Above is the stack outside of JIT. Below is the stack inside of JIT, down to the "
        "failing check:\n"
        f"{stack}"
        f"eqx.EqxRuntimeError: {msg}\n\n"
        f"{_TIPS}"
    )
    error = EqxRuntimeError(text)
    error._eqx_message = msg  # type: ignore[attr-defined]
    return error
