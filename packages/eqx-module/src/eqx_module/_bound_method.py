"""`BoundMethod` and the descriptor that creates it on method access.

Every plain function in a Module class body is replaced by a `_MethodDescriptor`, a
non-data descriptor: instance access builds a `BoundMethod` (a PyTree, so
`jax.jit(lambda f: f())(model.method)` works), class access returns the function
itself. Being a non-data descriptor, it costs nothing on field reads (no
`__getattribute__` override), and a function stored in an instance field wins over it.
Building the `BoundMethod` skips construction entirely: its `__dict__` is filled from a
per-method template computed once.
"""

from __future__ import annotations

import types
from collections.abc import Callable, Mapping
from typing import Any

import jax.tree_util as jtu

from ._field import field
from ._flatten import WRAPPER_ATTRIBUTES
from ._module import METHOD_TYPES, Module, refresh_checked_types, wrap_method_hook

__all__ = ["BoundMethod"]

_object_new = object.__new__
_ABSENT = object()


class _MethodDescriptor:
    """Binds a Module method as a `BoundMethod`; keeps the function's metadata visible.

    `__doc__`, `__module__`, `__wrapped__` and friends mirror the function, so
    `doctest.DocTestFinder` and `inspect` still find the method's docstring.
    """

    def __init__(self, func: Callable[..., Any]) -> None:
        self.__func__ = func
        self.__wrapped__ = func
        self.__isabstractmethod__ = getattr(func, "__isabstractmethod__", False)
        template: dict[str, Any] = {"__func__": func}
        for name in WRAPPER_ATTRIBUTES:
            try:
                value = getattr(func, name)
            except AttributeError:
                continue
            template[name] = value
            object.__setattr__(self, name, value)
        self._template = template

    def __get__(self, instance: Any, owner: type | None = None) -> Any:
        if instance is None:
            return self.__func__
        method: Any = _object_new(BoundMethod)
        d = method.__dict__
        d.update(self._template)
        d["__self__"] = instance
        return method

    def __repr__(self) -> str:
        return f"<method descriptor {self.__func__!r}>"


wrap_method_hook.append(_MethodDescriptor)


def _identity(d: Mapping[str, Any]) -> tuple[Any, ...]:
    """`__self__` by identity, then `__func__` and the wrapper attributes by value."""
    return (
        id(d.get("__self__", _ABSENT)),
        d.get("__func__", _ABSENT),
        *(d.get(name, _ABSENT) for name in WRAPPER_ATTRIBUTES),
    )


class BoundMethod(Module):
    """A method bound to a Module instance, as a PyTree.

    Fields: `__func__` (static: the plain function) and `__self__` (a child: the
    instance). Calling it runs `__func__(__self__, *args, **kwargs)`. On creation it
    copies the wrapper attributes (`__name__`, `__doc__`, ...) of `__func__`.

    Example:
        ```python
        method = model.predict  # a BoundMethod: a PyTree holding `model`
        jax.jit(lambda f, x: f(x))(method, x)
        ```
    """

    __func__: Callable[..., Any] = field(static=True)
    __self__: Any

    def __post_init__(self) -> None:
        for name in WRAPPER_ATTRIBUTES:
            try:
                value = getattr(self.__func__, name)
            except AttributeError:
                continue
            setattr(self, name, value)

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        return self.__func__(self.__self__, *args, **kwargs)

    def __hash__(self) -> int:
        """The hash of the flattened form, like every Module's.

        When the leaves are unhashable (arrays), it falls back to hashing the identity
        of `__self__`, as Python's own bound methods do. `jax.jit(model.method)` keeps
        the function in a weak-key cache, so it needs this.
        """
        leaves, treedef = jtu.tree_flatten(self)
        try:
            return hash((treedef, tuple(leaves)))
        except TypeError:
            return hash((treedef, id(self.__dict__.get("__self__"))))

    def __eq__(self, other: object) -> Any:
        # The same method of the same instance is equal without comparing its arrays,
        # so a weak-key cache holding `jax.jit(model.method)` never needs array `==`.
        if self is other or (
            type(other) is type(self) and _identity(other.__dict__) == _identity(self.__dict__)
        ):
            return True
        return super().__eq__(other)

    @property
    def __wrapped__(self) -> types.MethodType:
        """The plain Python bound method."""
        return types.MethodType(self.__func__, self.__self__)


# Every BoundMethod carries its function's wrapper attributes in `__dict__`.
BoundMethod._eqx_class_info.use_dict_mode()
METHOD_TYPES.add(BoundMethod)
refresh_checked_types()
