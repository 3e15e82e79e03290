"""The one-function `__init__` of Modules that Python's own `type.__call__` constructs.

A plain Module class (generated `__init__`, no converter, `__post_init__`,
`__check_init__`, `init=False` field, static field, custom `__new__` or abstract
member) needs only three construction steps: store the fields, refuse a second
`__init__` on a finished instance, and check the arguments' types (a bound method of
the instance, or a `jax.jit`-style transformed function stored in a field). This
module generates, once per such class, an `__init__` doing all three, so that
`Cls(...)` runs `type.__call__` in C with one Python frame, instead of a Python
metaclass `__call__` plus the `__init__` (a frame and an `*args` repack more).

Example: for `class Linear(Module): weight: Array; bias: Array = None` the
generated function reads

    def __init__(__eqx_self__, weight, bias):
        if (__eqx_getattr__(__eqx_self__, 'weight', __eqx_unset__) is not __eqx_unset__
                and __eqx_id__(__eqx_self__) not in __eqx_initialising__):
            raise __eqx_reinit_error__(__eqx_self__)
        __eqx_setattr__(__eqx_self__, 'weight', weight)
        __eqx_setattr__(__eqx_self__, 'bias', bias)
        if not __eqx_checked_types__.isdisjoint((__eqx_type__(weight), __eqx_type__(bias))):
            __eqx_check_arguments__(__eqx_self__)

with `bias`'s default taken from the dataclass-generated `__init__` (which stays as
its `__wrapped__`, so `inspect.signature` and the general construction path see the
dataclass function). Every helper is a global named `__eqx_...__`, so no field name
(`type`, `id`, `object`, ...) can shadow one.

The re-`__init__` check reads one field that has no class-level value (a required
field): a fresh instance lacks it, a finished one has it. Reading it never creates the
instance `__dict__` (which `self.__dict__` would, making every later field read ~2x
slower on CPython 3.11). A class whose every field has a default has no such field and
keeps the general path.
"""

from __future__ import annotations

import functools
import inspect
from collections.abc import Callable
from typing import Any

__all__ = ["build_fast_init", "guard_field"]

_NOT_FOUND = object()


def guard_field(cls: type, init_field_names: tuple[str, ...]) -> str | None:
    """The first `__init__` field with no class-level value anywhere in the MRO.

    `None` when there is none (every field has a default, or is served by a
    descriptor), or when the class customises attribute lookup.
    """
    lookup: object = cls.__getattribute__
    if lookup is not object.__getattribute__ or hasattr(cls, "__getattr__"):
        return None
    for name in init_field_names:
        if inspect.getattr_static(cls, name, _NOT_FOUND) is _NOT_FOUND:
            return name
    return None


def build_fast_init(
    generated: Callable[..., None],
    init_field_names: tuple[str, ...],
    guard: str,
    namespace: dict[str, Any],
) -> Callable[..., None] | None:
    """Generate the one-function `__init__` described above, or `None` if unsupported.

    `generated` is the dataclass-generated `__init__`; its parameters must be exactly
    `init_field_names` (so no `InitVar`), which it stores unchanged. `namespace` is the
    generated function's globals: the `__eqx_...__` helpers.
    """
    code = generated.__code__
    positional = code.co_varnames[1 : code.co_argcount]
    keyword_only = code.co_varnames[code.co_argcount : code.co_argcount + code.co_kwonlyargcount]
    params = positional + keyword_only
    if sorted(params) != sorted(init_field_names) or any(
        name.startswith("__eqx_") for name in params
    ):
        return None
    signature = ", ".join(["__eqx_self__", *positional])
    if keyword_only:
        signature += ", *, " + ", ".join(keyword_only)
    lines = [
        f"def __init__({signature}):",
        f"    if (__eqx_getattr__(__eqx_self__, {guard!r}, __eqx_unset__) is not __eqx_unset__",
        "            and __eqx_id__(__eqx_self__) not in __eqx_initialising__):",
        "        raise __eqx_reinit_error__(__eqx_self__)",
    ]
    lines += [f"    __eqx_setattr__(__eqx_self__, {name!r}, {name})" for name in init_field_names]
    types = ", ".join(f"__eqx_type__({name})" for name in init_field_names)
    lines += [
        f"    if not __eqx_checked_types__.isdisjoint(({types},)):",
        "        __eqx_check_arguments__(__eqx_self__)",
    ]
    local: dict[str, Any] = {}
    exec("\n".join(lines), namespace, local)  # the source is built from field names only
    init: Callable[..., None] = local["__init__"]
    init.__defaults__ = generated.__defaults__
    init.__kwdefaults__ = generated.__kwdefaults__
    functools.update_wrapper(init, generated)  # name, qualname, doc, `__wrapped__`
    return init
