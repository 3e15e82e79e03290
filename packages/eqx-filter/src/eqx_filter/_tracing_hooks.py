"""Trace-time bookkeeping shared by `filter_jit` and `error_if`.

`filter_jit` must wait for a call's results only when that call's trace staged a
runtime check (an `error_if`); every other call returns as soon as it is dispatched,
keeping JAX's asynchronous dispatch. The trace is the only place that knows, so:

- `filter_jit` runs each *trace* of the user's function inside `record_checks()`,
  and stores `record.count > 0` on the cache entry it builds;
- `error_if` / `branched_error_if` call `note_check_staged()` whenever they insert a
  check into a trace.

A check staged inside a nested trace (a `lax.scan` body, a `vmap`) is still staged
in the enclosing `filter_jit` trace, which is what matters, because the record is a
context variable that nested traces inherit.
"""

from __future__ import annotations

import contextlib
import contextvars
import dataclasses
from collections.abc import Iterator

__all__ = ["CheckRecord", "note_check_staged", "record_checks"]


@dataclasses.dataclass
class CheckRecord:
    """How many runtime checks the trace in progress has staged."""

    count: int = 0


_current_record: contextvars.ContextVar[CheckRecord | None] = contextvars.ContextVar(
    "eqx_filter_current_check_record", default=None
)


@contextlib.contextmanager
def record_checks() -> Iterator[CheckRecord]:
    """Record the runtime checks staged while the block runs (one trace)."""
    record = CheckRecord()
    token = _current_record.set(record)
    try:
        yield record
    finally:
        _current_record.reset(token)


def note_check_staged() -> None:
    """Tell the enclosing `filter_jit` trace, if any, that it now holds a check."""
    record = _current_record.get()
    if record is not None:
        record.count += 1
