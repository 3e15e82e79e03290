"""Binding `filter_jit` calls to the wrapped function's signature, computed once."""

from __future__ import annotations

import inspect
import types
from collections.abc import Callable
from typing import Any

__all__ = ["Binder", "bind_general", "general_binders"]


class Binder:
    """`inspect.signature(fun)`, computed once, with a fast check for positional calls."""

    __slots__ = ("max_positional", "min_positional", "signature")

    def __init__(self, fun: Callable[..., Any]) -> None:
        try:
            self.signature: inspect.Signature | None = inspect.signature(fun)
        except (TypeError, ValueError):  # builtins without a signature
            self.signature = None
            self.min_positional = 0
            self.max_positional = -1
            return
        params = list(self.signature.parameters.values())
        kinds = inspect.Parameter
        positional = [
            p for p in params if p.kind in (kinds.POSITIONAL_ONLY, kinds.POSITIONAL_OR_KEYWORD)
        ]
        required_kwonly = any(
            p.kind is kinds.KEYWORD_ONLY and p.default is kinds.empty for p in params
        )
        has_varargs = any(p.kind is kinds.VAR_POSITIONAL for p in params)
        self.min_positional = sum(p.default is kinds.empty for p in positional)
        self.max_positional = 1 << 30 if has_varargs else len(positional)
        if required_kwonly:  # a call without kwargs can never be valid: always bind
            self.max_positional = -1

    def bind(
        self, args: tuple[Any, ...], kwargs: dict[str, Any]
    ) -> tuple[tuple[Any, ...], dict[str, Any]]:
        if self.signature is None:
            return args, kwargs
        bound = self.signature.bind(*args, **kwargs)
        return bound.args, bound.kwargs


def bind_general(
    fun: Callable[..., Any], args: tuple[Any, ...], kwargs: dict[str, Any]
) -> tuple[tuple[Any, ...], dict[str, Any]]:
    key = _binder_key(fun)
    binder = general_binders.get(key) if key is not None else None
    if binder is None:
        binder = Binder(fun)
        if key is not None:
            general_binders[key] = binder
    return binder.bind(args, kwargs)


def _binder_key(fun: Any) -> Any:
    """What determines `inspect.signature(fun)` for a non-function callable, if cheap."""
    func = getattr(fun, "__func__", None)
    if func is not None and hasattr(fun, "__self__") and type(func) is types.FunctionType:
        return ("method", func)
    cls = type(fun)
    if getattr(cls, "__wrapped__", None) is not None or hasattr(fun, "__signature__"):
        return None  # the signature follows `__wrapped__`, which is per instance
    call = inspect.getattr_static(cls, "__call__", None)
    if isinstance(call, types.FunctionType):
        return cls
    return None


general_binders: dict[Any, Binder] = {}
