"""`Enumeration`: JIT-safe enumerations whose items carry messages (for `error_if`).

```python
class Result(eqx.Enumeration):
    ok = "Success"
    diverged = "The solver diverged"
```

`Result.ok` is an `EnumerationItem`: a Module whose only leaf is an `int32` array (so it
can be returned from, or passed into, `jit`, `vmap`, `lax.cond` ...) and whose
enumeration is static. Everything about the class is worked out once, when the class
is created, by the metaclass.
"""

from __future__ import annotations

from typing import Any

import jax
import jax.numpy as jnp
import numpy as np

from eqx_module import Module, field
from eqx_tree import EqxWarning
from eqx_tree.internal import warn_at_user_code

from ._compat import tracer_type
from ._error_if import branched_error_if

__all__ = ["Enumeration", "EnumerationItem"]

_RESERVED_NAMES = ("promote", "where")


class EnumerationItem(Module):
    """One entry of an `Enumeration`: an `int32` value (a leaf) and its enumeration."""

    _value: Any
    _enumeration: Any = field(static=True)

    def __eq__(self, other: object) -> Any:
        if isinstance(other, EnumerationItem) and other._enumeration is self._enumeration:
            # Concrete items compare concretely, even inside `jit` (so `if a == b:` works).
            with jax.ensure_compile_time_eval():
                return jnp.asarray(self._value) == jnp.asarray(other._value)
        raise ValueError(
            "Can only compare equality between enumerations of the same type: "
            f"{self!r} was compared with {_describe(other)}."
        )

    def __ne__(self, other: object) -> Any:
        if isinstance(other, EnumerationItem) and other._enumeration is self._enumeration:
            # Concrete items compare concretely, even inside `jit` (so `if a != b:` works).
            with jax.ensure_compile_time_eval():
                return jnp.asarray(self._value) != jnp.asarray(other._value)
        raise ValueError(
            "Can only compare equality between enumerations of the same type: "
            f"{self!r} was compared with {_describe(other)}."
        )

    __hash__ = None  # type: ignore[assignment]

    def __repr__(self) -> str:
        enumeration = self._enumeration
        return f"{enumeration.__module__}.{enumeration.__qualname__}<{enumeration[self]}>"

    def is_traced(self) -> bool:
        """Whether the value is a tracer (inside `jit`, `vmap`, ...)."""
        return isinstance(self._value, tracer_type)

    def error_if(self, token: Any, pred: Any) -> Any:
        """`branched_error_if(token, pred, value, messages)`: raise this item's message."""
        return branched_error_if(token, pred, self._value, self._enumeration._messages)


def _describe(other: object) -> str:
    if isinstance(other, EnumerationItem):
        return f"an item of the different enumeration {other._enumeration.__qualname__}"
    return f"{type(other).__name__} {other!r}"


class _EnumerationMeta(type):
    """Collects the entries of an `Enumeration` subclass and makes its items."""

    _messages: tuple[str, ...]
    _names: tuple[str, ...]
    _items: dict[str, EnumerationItem]

    def __new__(
        mcs, name: str, bases: tuple[type, ...], namespace: dict[str, Any], **kwargs: Any
    ) -> _EnumerationMeta:
        for base in bases:
            if not isinstance(base, _EnumerationMeta):
                raise ValueError(
                    f"Enumeration {name!r} has the base {base.__qualname__!r}, which is not "
                    "an `Enumeration`. An Enumeration may only subclass other Enumerations."
                )
        own: dict[str, str] = {}
        for key, value in list(namespace.items()):
            if key.startswith("__") and key.endswith("__"):
                continue
            if not isinstance(value, str):
                continue
            if key in _RESERVED_NAMES:
                raise ValueError(
                    f"Enumeration {name!r} cannot have an entry named {key!r}: `promote` and "
                    "`where` are methods of every Enumeration. Rename the entry."
                )
            own[key] = value
            del namespace[key]
        cls = super().__new__(mcs, name, bases, namespace, **kwargs)
        messages: dict[str, str] = {}
        # Parent entries first, base by base in the order the bases are listed (each
        # base already holds its own parents' entries first).
        for base in bases:
            assert isinstance(base, _EnumerationMeta)  # checked above
            for entry, message in zip(base._names, base._messages, strict=True):
                _add_entry(messages, entry, message, name)
        for entry, message in own.items():
            _add_entry(messages, entry, message, name)
        cls._names = tuple(messages)
        cls._messages = tuple(messages.values())
        cls._items = {
            entry: EnumerationItem(np.array(i, dtype=np.int32), cls)
            for i, entry in enumerate(cls._names)
        }
        listing = "\n".join(f"- `{entry}`: {message}" for entry, message in messages.items())
        doc = namespace.get("__doc__") or ""
        cls.__doc__ = (doc + "\n\n" if doc else "") + f"Entries:\n\n{listing}"
        return cls

    def __getattr__(cls, item: str) -> EnumerationItem:
        # Only called when normal lookup fails: the entries live in `_items`.
        found = cls.__dict__.get("_items", {}).get(item)
        if found is not None:
            return found
        raise AttributeError(f"Enumeration {cls.__qualname__!r} has no entry {item!r}.")

    def __getitem__(cls, item: Any) -> Any:
        if not isinstance(item, EnumerationItem) or item._enumeration is not cls:
            raise ValueError(
                f"`{cls.__qualname__}[x]` needs an item of {cls.__qualname__}; got "
                f"{_describe(item)}. Use `{cls.__qualname__}.promote(x)` for an item of a "
                "parent enumeration."
            )
        if item.is_traced():
            return "traced"
        value = np.asarray(item._value)
        if value.ndim == 0:
            return cls._messages[int(value)]
        return np.asarray(cls._messages)[value]

    def __len__(cls) -> int:
        return len(cls._messages)

    def __instancecheck__(cls, value: Any) -> bool:
        return isinstance(value, EnumerationItem) and value._enumeration is cls

    def __iter__(cls) -> Any:
        return iter(cls._items.values())

    def where(cls, pred: Any, a: EnumerationItem, b: EnumerationItem) -> EnumerationItem:
        """`a` where `pred` holds, else `b` (both items of this enumeration).

        Nothing is staged when the answer is known: with a concrete `pred` (a Python
        bool, or a concrete array, even inside `jit`) it returns `a` or `b` itself, and
        when `a` and `b` are the same item (the same object, or equal concrete values,
        say a rebuilt copy) it returns `a`. Otherwise it is a `jnp.where`.
        """
        for arg_name, arg in (("a", a), ("b", b)):
            if not isinstance(arg, cls):
                raise ValueError(
                    f"`{cls.__qualname__}.where(pred, a, b)`: `{arg_name}` must be an item of "
                    f"{cls.__qualname__}; got {_describe(arg)}."
                )
        shape = np.shape(pred)
        dtype = getattr(pred, "dtype", None)
        is_bool = isinstance(pred, bool) or (dtype is not None and np.dtype(dtype) == np.bool_)
        if shape != () or not is_bool:
            raise ValueError(
                f"`{cls.__qualname__}.where(pred, a, b)`: `pred` must be a scalar bool; got "
                f"shape {shape} and dtype {dtype if dtype is not None else type(pred).__name__}."
            )
        if a is b or _same_value(a._value, b._value):
            return a
        if not _is_tracer(pred):
            # A concrete predicate picks an item without staging anything, even inside
            # `jit` or under `jax.ensure_compile_time_eval`.
            return a if bool(pred) else b
        with jax.ensure_compile_time_eval():  # traced only if something really is
            return EnumerationItem(jnp.where(pred, a._value, b._value), cls)

    def promote(cls, item: Any) -> EnumerationItem:
        """The item of this enumeration with the same name as `item`, of an ancestor."""
        source = item._enumeration if isinstance(item, EnumerationItem) else None
        if source is None or source is cls or not issubclass(cls, source):
            raise ValueError(
                f"`{cls.__qualname__}.promote(x)` needs an item of a parent enumeration of "
                f"{cls.__qualname__}; got {_describe(item)}."
            )
        table = np.array([cls._names.index(entry) for entry in source._names], dtype=np.int32)
        if item.is_traced():
            return EnumerationItem(jnp.asarray(table)[item._value], cls)
        return EnumerationItem(table[np.asarray(item._value)], cls)


def _is_tracer(x: Any) -> bool:
    return isinstance(x, tracer_type)


def _same_value(x: Any, y: Any) -> bool:
    """Whether two item values are known to be equal (the same tracer, or equal constants)."""
    if x is y:
        return True
    if isinstance(x, tracer_type) or isinstance(y, tracer_type):
        return False
    return bool(np.array_equal(np.asarray(x), np.asarray(y)))


def _add_entry(messages: dict[str, str], entry: str, message: str, name: str) -> None:
    previous = messages.get(entry)
    if previous is not None and previous != message:
        warn_at_user_code(
            f"Enumeration {name!r} redefines the entry {entry!r}: its message changes from "
            f"{previous!r} to {message!r}. The new message is used.",
            EqxWarning,
        )
    messages[entry] = message


class Enumeration(metaclass=_EnumerationMeta):
    """Base class of JIT-safe enumerations; see the module docstring.

    ```python
    class Result(eqx.Enumeration):
        ok = "Success"
        diverged = "The solver diverged"

    result = Result.where(converged, Result.ok, Result.diverged)
    x = result.error_if(x, result != Result.ok)
    ```
    """
