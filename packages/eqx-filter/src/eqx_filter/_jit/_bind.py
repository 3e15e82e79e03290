"""Binding `filter_jit` calls to the wrapped function's signature, computed once."""

from __future__ import annotations

import functools
import inspect
import types
import weakref
from collections.abc import Callable
from typing import Any

__all__ = ["Binder", "bind_general", "general_binders", "signature_of", "wrapped_binders"]


class Binder:
    """`inspect.signature(fun)`, computed once, with a fast check for positional calls."""

    __slots__ = ("max_positional", "min_positional", "signature")

    def __init__(self, fun: Callable[..., Any]) -> None:
        try:
            self.signature: inspect.Signature | None = signature_of(fun)
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
    if key is None and _wraps(fun):
        # A wrapper's signature is its innermost function's: cache it there, weakly.
        inner = inspect.unwrap(fun, stop=_has_signature)
        if isinstance(inner, types.FunctionType):
            binder = wrapped_binders.get(inner)
            if binder is None:
                binder = wrapped_binders[inner] = Binder(fun)
            return binder.bind(args, kwargs)
    binder = general_binders.get(key) if key is not None else None
    if binder is None:
        binder = Binder(fun)
        if key is not None:
            general_binders[key] = binder
    return binder.bind(args, kwargs)


def _has_signature(fun: Any) -> bool:
    return hasattr(fun, "__signature__")  # where `inspect.signature` stops unwrapping


def _without_first(signature: inspect.Signature) -> inspect.Signature:
    parameters = list(signature.parameters.values())[1:]
    return signature.replace(parameters=parameters)


def _method_function(fun: Any) -> types.FunctionType | None:
    """The function of a bound method (Python's, or an eqx `BoundMethod`), if any."""
    func = getattr(fun, "__func__", None)
    if isinstance(func, types.FunctionType) and hasattr(fun, "__self__"):
        return func
    return None


def signature_of(fun: Any) -> inspect.Signature:
    """The signature `fun` is called with.

    A callable instance (a Module with `__call__`, say) gives its class's `__call__`
    signature without `self`, read from the class: the same answer as
    `inspect.signature(instance)`, without its walk through the instance's attributes.
    An instance with a `__wrapped__` (the Module a transform returns) gets
    `inspect.signature(instance)` itself, which follows `__wrapped__` to the function.
    """
    if isinstance(fun, (types.FunctionType, functools.partial)):
        return inspect.signature(fun)
    func = _method_function(fun)
    if func is not None:
        return _without_first(inspect.signature(func))
    if _wraps(fun):  # `inspect.signature` follows `__wrapped__` (a transform's wrapper)
        return inspect.signature(fun)
    call = inspect.getattr_static(type(fun), "__call__", None)
    if isinstance(call, types.FunctionType):
        return _without_first(inspect.signature(call))
    return inspect.signature(fun)


def _wraps(fun: Any) -> bool:
    """Whether `fun` has a `__wrapped__` (as `filter_grad`'s or `filter_jit`'s wrapper)."""
    try:
        return getattr(fun, "__wrapped__", None) is not None
    except Exception:  # a `__wrapped__` property that fails: not a wrapper
        return False


def _binder_key(fun: Any) -> Any:
    """What determines `signature_of(fun)` for a non-function callable, when cheap."""
    func = _method_function(fun)
    if func is not None:
        return ("method", func)
    if isinstance(fun, functools.partial) or _wraps(fun):  # depends on the instance
        return None
    if isinstance(inspect.getattr_static(type(fun), "__call__", None), types.FunctionType):
        return type(fun)
    return None


general_binders: dict[Any, Binder] = {}
# The binders of wrappers (`__wrapped__` chains), keyed on the innermost function.
wrapped_binders: weakref.WeakKeyDictionary[Any, Binder] = weakref.WeakKeyDictionary()
