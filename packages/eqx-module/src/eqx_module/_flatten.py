"""Per-class PyTree flatten/unflatten functions for Modules (spec §3.1, DESIGN §5).

Each Module class gets its own flatten function, built once at class creation from its
field names. The fast path is one length check on the instance `__dict__` plus one
tuple display of dictionary reads: when the `__dict__` holds exactly the fields (the
usual case), no loop runs and no key objects are built. The aux data is then the plain
tuple of static values (`()` without static fields), which JAX compares and hashes in C.

Everything unusual goes down the slow path: a field absent from `__dict__` (served by a
class attribute, property or default) becomes the leafless `MISSING` placeholder and is
left unset on unflatten; wrapper attributes (`__module__`, `__name__`, ...) set by
`module_update_wrapper` travel in a `_SlowAux`, hashable even though `__annotations__`
is a dict.

Why not JAX's C++ dataclass path (`register_dataclass`)? It reads fields with
`getattr` (so absent fields would flatten class-level values and lose their absence),
has nowhere to keep wrapper attributes, and unflattens by calling the class, which
would run `__init__`, converters and checks; the spec requires unflatten to run none of
them and to accept any leaves. A Python callback it is, kept as small as possible.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import jax.tree_util as jtu

__all__ = [
    "MISSING",
    "WRAPPER_ATTRIBUTES",
    "build_flatten",
    "build_flatten_with_keys",
    "build_unflatten",
]

WRAPPER_ATTRIBUTES = ("__module__", "__name__", "__qualname__", "__doc__", "__annotations__")


class _Missing:
    """Placeholder for a field absent from an instance `__dict__`; a node with no leaves."""

    _instance: _Missing | None = None

    def __new__(cls) -> _Missing:
        if cls._instance is None:
            cls._instance = super().__new__(cls)
        return cls._instance

    def __repr__(self) -> str:
        return "<missing>"

    def __reduce__(self) -> str:
        return "MISSING"


MISSING = _Missing()
jtu.register_pytree_node(_Missing, lambda _: ((), None), lambda _aux, _children: MISSING)


def _hashable_part(value: Any) -> Any:
    try:
        hash(value)
    except TypeError:
        return type(value)  # e.g. an `__annotations__` dict: equal dicts, equal types
    return value


class _SlowAux:
    """Aux data when wrapper attributes are present or some field is absent.

    Compares by value; hashes what is hashable, so a treedef carrying an
    `__annotations__` dict is still hashable and equal treedefs hash equal.
    """

    __slots__ = ("_hash", "statics", "wrappers")

    def __init__(self, wrappers: tuple[tuple[str, Any], ...], statics: tuple[Any, ...]):
        self.wrappers = wrappers
        self.statics = statics
        self._hash: int | None = None

    def __eq__(self, other: object) -> bool:
        if self is other:
            return True
        if type(other) is not _SlowAux:
            return NotImplemented
        return self.wrappers == other.wrappers and self.statics == other.statics

    def __hash__(self) -> int:
        # `jit` hashes the treedef on every call: compute once per aux object.
        if self._hash is None:
            wrappers = tuple((name, _hashable_part(value)) for name, value in self.wrappers)
            self._hash = hash((wrappers, self.statics))
        return self._hash

    def __repr__(self) -> str:
        return f"_SlowAux(wrappers={self.wrappers!r}, statics={self.statics!r})"

    def __reduce__(self) -> tuple[Any, ...]:
        return (_SlowAux, (self.wrappers, self.statics))


def _read_slot(obj: Any, name: str) -> Any:
    try:
        return object.__getattribute__(obj, name)
    except AttributeError:
        return MISSING


def _slow_flatten(
    obj: Any,
    dynamic: Sequence[str],
    static: Sequence[str],
    slotted: frozenset[str] = frozenset(),
) -> tuple[tuple[Any, ...], Any]:
    d = getattr(obj, "__dict__", {})
    if slotted:
        children = tuple(
            [_read_slot(obj, name) if name in slotted else d.get(name, MISSING) for name in dynamic]
        )
        statics = tuple(
            [_read_slot(obj, name) if name in slotted else d.get(name, MISSING) for name in static]
        )
    else:
        children = tuple([d.get(name, MISSING) for name in dynamic])
        statics = tuple([d.get(name, MISSING) for name in static])
    wrappers = tuple([(name, d[name]) for name in WRAPPER_ATTRIBUTES if name in d])
    if wrappers or _has_missing(children) or _has_missing(statics):
        return children, _SlowAux(wrappers, statics)
    return children, statics  # e.g. only `__orig_class__` was extra


def _has_missing(values: tuple[Any, ...]) -> bool:
    """Whether the placeholder occurs (by identity: `in` would compare arrays with `==`)."""
    return any(value is MISSING for value in values)


def build_flatten(
    dynamic: tuple[str, ...], static: tuple[str, ...], slotted: frozenset[str] = frozenset()
) -> Callable[[Any], tuple[tuple[Any, ...], Any]]:
    """Builds the keyless flatten function for a class with these field names.

    Generated source, because a tuple display of `d["name"]` reads is the fastest
    pure-Python flatten there is, and `jax.jit` calls it on every dispatch. Classes
    with fields stored in `__slots__` (`slotted`) use the general path.
    """
    if slotted:
        return lambda obj: _slow_flatten(obj, dynamic, static, slotted)
    children = "".join(f"d[{name!r}], " for name in dynamic)
    statics = "".join(f"d[{name!r}], " for name in static)
    source = (
        "def flatten(obj):\n"
        "    d = obj.__dict__\n"
        f"    if len(d) == {len(dynamic) + len(static)}:\n"
        "        try:\n"
        f"            return ({children}), ({statics})\n"
        "        except KeyError:\n"
        "            pass\n"
        "    return slow(obj, dynamic, static)\n"
    )
    namespace: dict[str, Any] = {"slow": _slow_flatten, "dynamic": dynamic, "static": static}
    exec(source, namespace)
    flatten: Callable[[Any], tuple[tuple[Any, ...], Any]] = namespace["flatten"]
    return flatten


def build_flatten_with_keys(
    dynamic: tuple[str, ...], flatten: Callable[[Any], tuple[tuple[Any, ...], Any]]
) -> Callable[[Any], tuple[tuple[tuple[Any, Any], ...], Any]]:
    """The keyed flatten: children paired with precomputed `GetAttrKey`s."""
    keys = tuple(jtu.GetAttrKey(name) for name in dynamic)

    def flatten_with_keys(obj: Any) -> tuple[tuple[tuple[Any, Any], ...], Any]:
        children, aux = flatten(obj)
        return tuple(zip(keys, children, strict=True)), aux

    return flatten_with_keys


def _slow_unflatten(
    cls: type,
    dynamic: Sequence[str],
    static: Sequence[str],
    aux: Any,
    children: Any,
    slotted: frozenset[str] = frozenset(),
) -> Any:
    obj: Any = object.__new__(cls)
    d = obj.__dict__
    statics = aux.statics if type(aux) is _SlowAux else aux
    for names, values in ((dynamic, children), (static, statics)):
        for name, value in zip(names, values, strict=True):
            if value is MISSING:
                continue
            if name in slotted:
                object.__setattr__(obj, name, value)
            else:
                d[name] = value
    if type(aux) is _SlowAux:
        d.update(aux.wrappers)
    return obj


def build_unflatten(
    cls: type,
    dynamic: tuple[str, ...],
    static: tuple[str, ...],
    slotted: frozenset[str] = frozenset(),
) -> Callable[[Any, Any], Any]:
    """Builds the unflatten function: `object.__new__` plus direct `__dict__` writes.

    No `__init__`, converter, check or warning runs, and any leaves are accepted.
    """
    if slotted:
        return lambda aux, children: _slow_unflatten(cls, dynamic, static, aux, children, slotted)

    def unflatten(aux: Any, children: Any) -> Any:
        # A tuple aux comes only from a flatten that found every field present.
        if type(aux) is tuple:
            obj: Any = object.__new__(cls)
            d = obj.__dict__
            d.update(zip(dynamic, children, strict=False))
            if aux:
                d.update(zip(static, aux, strict=False))
            return obj
        return _slow_unflatten(cls, dynamic, static, aux, children)

    return unflatten
