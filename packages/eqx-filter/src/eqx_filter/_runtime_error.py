"""The runtime-error classes and the translation `filter_jit` applies to failed calls.

(Stub laid down with the package skeleton; issue 5 fills it in. The interface below is
what `filter_jit` calls and must stay.)
"""

from __future__ import annotations

__all__ = [
    "EqxRuntimeError",
    "EqxTracetimeError",
    "EquinoxRuntimeError",
    "EquinoxTracetimeError",
    "translate_runtime_error",
]


class EqxRuntimeError(RuntimeError):
    """A check staged by `eqx.error_if` failed while the compiled code ran."""


class EqxTracetimeError(RuntimeError):
    """A check staged by `eqx.error_if` failed at trace time (its predicate was concrete)."""


EquinoxRuntimeError = EqxRuntimeError
EquinoxTracetimeError = EqxTracetimeError


def translate_runtime_error(error: BaseException) -> EqxRuntimeError | None:
    """The `EqxRuntimeError` that `filter_jit` should raise (`from None`) for `error`.

    `filter_jit` calls this on any exception raised while it waits for the results of
    a call whose trace staged a check. It returns `None` when `error` did not come
    from an eqx check; `filter_jit` then re-raises `error` unchanged.
    """
    return None
