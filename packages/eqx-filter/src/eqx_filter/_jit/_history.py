"""Retrace history for `filter_jit` (read by `eqx.debug`): written on cache misses only."""

from __future__ import annotations

import collections
import threading
import types
import weakref
from typing import Any

import jax.tree_util as jtu

from eqx_tree import is_array

from .._compat import aval_weak_type, shape_dtype_struct
from .._retrace import parameter_names

__all__ = [
    "clear_histories",
    "note_call_keywords",
    "record_signature",
    "trace_signatures",
    "unbind_call_keywords",
]

_HISTORY_LENGTH = 32


_histories: weakref.WeakKeyDictionary[Any, collections.deque[Any]] = weakref.WeakKeyDictionary()
_strong_histories: dict[Any, collections.deque[Any]] = {}


def _history_key(fun: Any) -> Any:
    func = getattr(fun, "__func__", None)
    if func is not None and hasattr(fun, "__self__"):
        return func
    if isinstance(fun, types.FunctionType):
        return fun
    wrapped = getattr(type(fun), "__wrapped__", None)
    if isinstance(wrapped, property):  # an eqx wrapper Module: follow it
        return _history_key(fun.__wrapped__)
    if isinstance(fun, jtu.Partial):
        return _history_key(fun.func)
    if jtu.treedef_is_leaf(jtu.tree_structure(fun)):
        return fun
    return type(fun)


def _history_for(fun: Any, create: bool) -> collections.deque[Any] | None:
    key = _history_key(fun)
    try:
        history = _histories.get(key)
        if history is None and create:
            history = _histories.setdefault(key, collections.deque(maxlen=_HISTORY_LENGTH))
        return history
    except TypeError:  # not weakly referenceable, or unhashable
        try:
            history = _strong_histories.get(key)
            if history is None and create:
                history = _strong_histories.setdefault(
                    key, collections.deque(maxlen=_HISTORY_LENGTH)
                )
            return history
        except TypeError:
            return None


# Which arguments the caller passed by keyword, for the trace this call may start. The
# cache binds every call to the signature (so `f(x, n=3)` and `f(x, 3)` share a cache
# entry); a trace puts the keywords back, so that the function sees the call as it was
# made and a retrace reads `kwargs['n']: Python int 3 -> 4`.
_call_keywords = threading.local()


def note_call_keywords(names: tuple[str, ...]) -> None:
    """Remember (on this thread) the keyword names of the call about to dispatch."""
    _call_keywords.names = names


def unbind_call_keywords(
    fun: Any, args: tuple[Any, ...], kwargs: dict[str, Any]
) -> tuple[tuple[Any, ...], dict[str, Any]]:
    """Undo the binding of the arguments the caller passed by keyword (and forget them).

    Bound positional arguments that the caller named form a suffix of `args` (Python
    allows no positional argument after a keyword one), so they move back to `kwargs`.
    """
    names = getattr(_call_keywords, "names", ())
    if not names:
        return args, kwargs
    _call_keywords.names = ()
    params = parameter_names(fun)
    cut = len(args)
    while 0 < cut <= len(params) and params[cut - 1] in names:
        cut -= 1
    if cut == len(args):
        return args, kwargs
    moved = {params[i]: args[i] for i in range(cut, len(args))}
    return args[:cut], {**moved, **kwargs}


def _abstract(x: Any) -> Any:
    if is_array(x):
        return shape_dtype_struct(x.shape, x.dtype, weak_type=aval_weak_type(x))
    return x


def record_signature(fun: Any, args: tuple[Any, ...], kwargs: dict[str, Any]) -> None:
    history = _history_for(fun, create=True)
    if history is None:
        return
    key = _history_key(fun)

    def abstract(x: Any) -> Any:
        if x is key:  # the history must not keep its own key (the function) alive
            return weakref.ref(x)
        return _abstract(x)

    history.append(jtu.tree_map(abstract, (fun, args, kwargs)))


def trace_signatures(fn: Any) -> list[Any]:
    """The signatures of the last (up to 32) traces of `fn` under `filter_jit`.

    **Arguments:** `fn`, a `filter_jit` wrapper or the function it wraps.

    **Returns:** a list, oldest first, of `(fun, args, kwargs)` tuples: the call as it
    was made (arguments given by keyword stay in `kwargs`), with every array leaf
    replaced by a `jax.ShapeDtypeStruct` (shape, dtype, weak type) and every other leaf
    as it was, except that the function itself appears as a `weakref.ref` (so the
    history does not keep it alive). One is recorded per trace (cache miss); cache hits
    record nothing.
    """
    history = _history_for(fn, create=False)
    return [] if history is None else list(history)


def clear_histories() -> None:
    _histories.clear()
    _strong_histories.clear()
