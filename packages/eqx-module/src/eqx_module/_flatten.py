"""Per-class PyTree flatten/unflatten functions for Modules (a hot path: see docs/architecture.md).

Each Module class gets its own flatten function, built once at class creation from its
field names. The fast path is one tuple display of attribute reads: no loop runs and no
key objects are built. The aux data is then the plain tuple of static values (`()`
without static fields), which JAX compares and hashes in C. Unflatten is
`object.__new__` plus one `object.__setattr__` that gives the instance a complete new
`__dict__` (a dict display of the fields); slotted fields are set one by one.

Everything unusual goes down the general path, which reads the instance `__dict__`: a
field absent there (served by a class attribute, property or default) becomes the
leafless `MISSING` placeholder and is left unset on unflatten; wrapper attributes
(`__module__`, `__name__`, ...) set by `module_update_wrapper` travel in a `_SlowAux`,
hashable even though `__annotations__` is a dict. See `build_pytree_functions` for when
attribute reads are exact and when a class switches to dict mode for good. In dict
mode an instance whose `__dict__` holds exactly the fields (the usual case: a custom
`__init__` that sets every field, though one has a class-level default) still takes a
generated fast path, one tuple display of `__dict__` reads.

Why not JAX's C++ dataclass path (`register_dataclass`)? It reads fields with
`getattr` (so absent fields would flatten class-level values and lose their absence),
has nowhere to keep wrapper attributes, and unflattens by calling the class, which
would run `__init__`, converters and checks; unflatten must run none of them and
accept any leaves, because JAX rebuilds trees from tracers, `None` and sentinels.
A Python callback it is, kept as small as possible.
"""

from __future__ import annotations

import functools
import itertools
import keyword
import operator
import types
from collections.abc import Callable, Sequence
from typing import Any, NamedTuple

import jax.tree_util as jtu

__all__ = [
    "MISSING",
    "WRAPPER_ATTRIBUTES",
    "PyTreeFunctions",
    "build_flatten_with_keys",
    "build_pytree_functions",
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


class _SlowAux:
    """Aux data when wrapper attributes are present or some field is absent.

    Compares by value. Hashes only the statics, so a treedef carrying an
    `__annotations__` dict is still hashable, and equal treedefs hash equal.
    """

    __slots__ = ("statics", "wrappers")

    def __init__(self, wrappers: tuple[tuple[str, Any], ...], statics: tuple[Any, ...]):
        self.wrappers = wrappers
        self.statics = statics

    def __eq__(self, other: object) -> bool:
        if self is other:
            return True
        if type(other) is not _SlowAux:
            return NotImplemented
        return self.wrappers == other.wrappers and self.statics == other.statics

    def __hash__(self) -> int:
        # Only the statics and how many wrapper attributes there are: equal auxes hash
        # equal, `__annotations__` dicts need no special care, and `jit`, which hashes
        # the treedef on every call, pays little.
        return hash((len(self.wrappers), self.statics))

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
    d = obj.__dict__
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
    return any(map(operator.is_, values, itertools.repeat(MISSING)))


class PyTreeFunctions(NamedTuple):
    """The functions registered with JAX for one Module class, plus a mode switch."""

    flatten: Callable[[Any], tuple[tuple[Any, ...], Any]]
    unflatten: Callable[[Any, Any], Any]
    use_dict_mode: Callable[[], None]


def _names_are_identifiers(names: tuple[str, ...]) -> bool:
    return all(name.isidentifier() and not keyword.iskeyword(name) for name in names)


def build_pytree_functions(
    cls: type,
    dynamic: tuple[str, ...],
    static: tuple[str, ...],
    *,
    slotted: frozenset[str],
    attribute_mode: bool,
    direct_set: bool,
) -> PyTreeFunctions:
    """Builds the keyless flatten and the unflatten function of one Module class.

    Generated source, because a tuple display of attribute reads is the fastest
    pure-Python flatten there is, and `jax.jit` calls it on every dispatch.

    Two read modes. In *attribute mode* the fast path reads fields as attributes:
    exact whenever no field can be served by the class instead of the instance (the
    class creator decides), and it never touches `obj.__dict__`, whose creation would
    make every later attribute read on that instance slower (CPython 3.11/3.12 keep
    instance attributes in an inline array until `__dict__` is requested). A failing
    read (an absent field) falls back to the general path. *Dict mode* always takes the
    general path, which reads `__dict__`: needed once instances of the class may carry
    wrapper attributes, or once a field name is given a class-level value later.

    Arguments:
        cls: the Module class.
        dynamic: the names of the child fields, in order.
        static: the names of the static fields, in order.
        slotted: field names stored in `__slots__`.
        attribute_mode: start in attribute mode (else dict mode).
        direct_set: unflatten may write fields with `object.__setattr__` (no data
            descriptor such as a property shadows a field name).
    """
    if not _names_are_identifiers(dynamic + static):
        attribute_mode = False
        direct_set = False
    children = "".join(f"obj.{name}, " for name in dynamic)
    statics = "".join(f"obj.{name}, " for name in static)
    lines = [
        "def flatten(obj):",
        "    if dict_mode:",
        *_dict_mode_fast_path(dynamic, static, slotted),
        "        return slow(obj, dynamic, static, slotted)",
        "    try:",
        f"        return ({children}), ({statics})",
        "    except AttributeError:",
        "        return slow(obj, dynamic, static, slotted)",
        "",
        "def unflatten(aux, children):",
    ]
    if direct_set:
        lines += [
            "    if type(aux) is not tuple:",
            "        return slow_unflatten(cls, dynamic, static, aux, children, slotted, switch)",
            "    obj = new(cls)",
        ]
        values = [(name, f"c{i}") for i, name in enumerate(dynamic)]
        values += [(name, f"s{i}") for i, name in enumerate(static)]
        if dynamic:
            lines.append("    " + "".join(f"c{i}, " for i in range(len(dynamic))) + "= children")
        if static:
            lines.append("    " + "".join(f"s{i}, " for i in range(len(static))) + "= aux")
        in_dict = "".join(f"{name!r}: {value}, " for name, value in values if name not in slotted)
        if in_dict:
            # One new `__dict__`, given whole: cheaper than a `__setattr__` per field,
            # and, unlike writing into `obj.__dict__`, it keeps later attribute reads
            # as fast as on an instance built by `__init__`.
            lines.append(f"    set_(obj, '__dict__', {{{in_dict}}})")
        lines += [f"    set_(obj, {name!r}, {value})" for name, value in values if name in slotted]
        lines.append("    return obj")
    else:
        lines.append(
            "    return slow_unflatten(cls, dynamic, static, aux, children, slotted, switch)"
        )
    namespace: dict[str, Any] = {
        "slow": _slow_flatten,
        "slow_unflatten": _slow_unflatten,
        "dynamic": dynamic,
        "static": static,
        "slotted": slotted,
        "cls": cls,
        "new": object.__new__,
        "set_": object.__setattr__,
        "dict_mode": not attribute_mode,
    }

    def use_dict_mode() -> None:
        namespace["dict_mode"] = True

    namespace["switch"] = use_dict_mode
    exec(_compiled("\n".join(lines) + "\n"), namespace)
    flatten, unflatten = namespace["flatten"], namespace["unflatten"]
    # Each class gets its own copy of the code: CPython specialises attribute reads per
    # code object, and one shared by two classes would keep switching between them
    # (flatten ~25% slower when both are flattened in turn).
    flatten.__code__ = flatten.__code__.replace()
    unflatten.__code__ = unflatten.__code__.replace()
    return PyTreeFunctions(flatten, unflatten, use_dict_mode)


@functools.cache
def _compiled(source: str) -> types.CodeType:
    """The compiled source, one per field layout (layers of one family share it).

    Compiling is most of what building a class's functions costs (~0.1 ms a class, on
    every class creation); the source names only fields (the class is bound through
    `exec`'s namespace), so classes with the same fields can reuse it.
    """
    return compile(source, "<string>", "exec")


def _dict_mode_fast_path(
    dynamic: tuple[str, ...], static: tuple[str, ...], slotted: frozenset[str]
) -> list[str]:
    """Source lines for dict mode: read `__dict__` directly when it holds exactly the fields.

    Then no field is absent and no wrapper attribute is present, so the result is what
    the general path would return, without its loops and checks. Classes with slots
    always take the general path.
    """
    if slotted or not dynamic + static:
        return []
    children = "".join(f"d[{name!r}], " for name in dynamic)
    statics = "".join(f"d[{name!r}], " for name in static)
    return [
        "        d = obj.__dict__",
        f"        if len(d) == {len(dynamic) + len(static)}:",
        "            try:",
        f"                return ({children}), ({statics})",
        "            except KeyError:",
        "                pass",
    ]


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
    slotted: frozenset[str],
    use_dict_mode: Callable[[], None],
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
    if type(aux) is _SlowAux and aux.wrappers:
        use_dict_mode()
        d.update(aux.wrappers)
    return obj
