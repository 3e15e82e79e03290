"""The analysis of a Module class, done once at class creation (not on each call).

`ClassInfo` records what construction and flattening need to know about a class: its
field names, which post-`__init__` steps apply at all, the abstract-instantiation
error, and the switch of its flatten function to the general path. The helpers here
carry out the class-creation steps that are not the metaclass's own bookkeeping:
applying `dataclass`, choosing the `__init__`, and registering the PyTree.
"""

from __future__ import annotations

import dataclasses
import inspect
import operator
import types
from collections.abc import Callable, Mapping
from typing import Any

import jax.tree_util as jtu

from ._flatten import build_flatten_with_keys, build_pytree_functions

__all__ = [
    "ClassInfo",
    "InitSignature",
    "abstract_error",
    "apply_dataclass",
    "converter_annotation",
    "has_custom_init",
    "inherited_init_doc",
    "register_pytree",
    "tuple_attrgetter",
]

_NOT_FOUND = object()


@dataclasses.dataclass(frozen=True, eq=False)
class ClassInfo:
    """What a Module class needs at construction and flatten time, computed once."""

    abstract_error: str | None
    abstract_vars: frozenset[str]
    field_names: tuple[str, ...]
    settable: frozenset[str]
    check_missing: bool
    # Per field, in field order: (name, converter or None, is static, is `init=False`).
    # Only fields with some post-`__init__` step, or every field if `check_missing`.
    field_steps: tuple[tuple[str, Callable[[Any], Any] | None, bool, bool], ...]
    check_inits: tuple[Callable[[Any], None], ...]
    has_custom_init: bool
    # Whether `__init__` can assign through `Module.__setattr__` (a custom `__init__`,
    # or a generated one calling `__post_init__`), so the instance must be marked.
    mark_initialising: bool
    check_init_arguments: bool
    init_field_names: tuple[str, ...]
    plain_new: bool
    init_values: Callable[[Any], tuple[Any, ...]]
    use_dict_mode: Callable[[], None]
    # Per-field metadata, verbatim, for per-field analyses by other tools.
    metadata: Mapping[str, Mapping[Any, Any]]
    # The guard installed over a generated `__init__` (its `__wrapped__` is the generated
    # function, which the general construction path calls directly): a wrapper, or the
    # one-function `__init__` of `_fast_init.py`; `None` for a custom `__init__`.
    guarded_init: Callable[..., None] | None = None
    # Whether no default value of an `__init__` parameter needs the per-argument check
    # (no `default_factory`, no default of a checked type): then checking the arguments
    # actually passed is the same as checking the stored values.
    defaults_unchecked: bool = False
    needs_post_init_steps: bool = dataclasses.field(init=False)
    # Whether construction is nothing but `object.__new__`, the generated `__init__`
    # and the argument-type check, so that `type.__call__` can run it through the
    # one-function `__init__` of `_fast_init.py`. Cleared if the class's `__init__`,
    # `__new__`, a field's class-level value, etc. is reassigned.
    fast_path: bool = dataclasses.field(init=False)

    def __post_init__(self) -> None:
        needs = bool(self.check_missing or self.field_steps or self.check_inits)
        object.__setattr__(self, "needs_post_init_steps", needs)
        simple = (
            self.abstract_error is None
            and not self.abstract_vars
            and self.plain_new
            and not self.mark_initialising
            and not needs
            and self.defaults_unchecked
            and self.guarded_init is not None
        )
        object.__setattr__(self, "fast_path", simple)

    def disable_fast_path(self) -> None:
        object.__setattr__(self, "fast_path", False)

    def set_guarded_init(self, init: Callable[..., None]) -> None:
        """Record the `__init__` installed over the generated one (see `guarded_init`)."""
        object.__setattr__(self, "guarded_init", init)


class InitSignature:
    """`Cls.__signature__`: the signature of `__init__` without `self`.

    Only on the class. An instance has no `__signature__`, so `inspect.signature(module)`
    reports its `__call__` (and `jax.jit(module, static_argnames=...)` finds the call's
    parameters), and a wrapper Module with a `__wrapped__` property is unwrapped like
    any `functools.wraps` wrapper. Computed on first access: `inspect.signature` is a
    large share of creating a class, and `import eqx` creates dozens.
    """

    __slots__ = ("cls", "signature")

    def __init__(self, cls: type) -> None:
        self.cls = cls
        self.signature: inspect.Signature | None = None

    def __get__(self, instance: Any, owner: type | None = None) -> inspect.Signature:
        if instance is not None:
            raise AttributeError("__signature__")
        if self.signature is None:
            signature = inspect.signature(self.cls.__init__)  # type: ignore[misc]
            parameters = list(signature.parameters.values())[1:]
            self.signature = signature.replace(parameters=parameters)
        return self.signature


def apply_dataclass(cls: type, init: bool) -> None:
    """Step 4 of class creation: `dataclass(eq=False, repr=False, init=init)`.

    We ask `dataclass` for `frozen=True` only for its generated `__init__`, which then
    stores fields with `object.__setattr__` instead of going through our Python
    `__setattr__` once per field (construction is ~2x faster). The `__setattr__` and
    `__delattr__` it adds are removed again, so `Module.__setattr__` (which allows
    assignments during `__init__`) stays in charge. As `dataclass` forbids mixing frozen
    and non-frozen dataclasses, a non-frozen plain-dataclass base is rejected.
    """
    own = {
        name: cls.__dict__[name] for name in ("__setattr__", "__delattr__") if name in cls.__dict__
    }
    for name in own:
        type.__delattr__(cls, name)
    try:
        dataclasses.dataclass(eq=False, repr=False, frozen=True, init=init)(cls)
    except TypeError as error:
        if "frozen" not in str(error):
            raise
        raise TypeError(
            f"`{cls.__qualname__}` cannot inherit from a non-frozen dataclass: Modules are "
            "frozen dataclasses. Make that base `@dataclass(frozen=True)` or a Module."
        ) from error
    for name in ("__setattr__", "__delattr__"):
        if name in cls.__dict__:
            type.__delattr__(cls, name)
    for name, value in own.items():
        type.__setattr__(cls, name, value)


def tuple_attrgetter(names: tuple[str, ...]) -> Callable[[Any], tuple[Any, ...]]:
    """`attrgetter(*names)` that always returns a tuple (C-speed attribute reads)."""
    if not names:
        return lambda obj: ()
    if len(names) == 1:
        get_one = operator.attrgetter(names[0])
        return lambda obj: (get_one(obj),)
    getter: Callable[[Any], tuple[Any, ...]] = operator.attrgetter(*names)
    return getter


def has_custom_init(cls: type) -> bool:
    if "__init__" in cls.__dict__:
        return True
    for klass in cls.__mro__[1:-1]:
        info = klass.__dict__.get("_eqx_class_info")
        if isinstance(info, ClassInfo):
            return info.has_custom_init
        if "__init__" in klass.__dict__:
            return True
    return False


def inherited_init_doc(cls: type) -> str | None:
    for klass in cls.__mro__[1:]:
        if "__init__" in klass.__dict__:
            doc: str | None = getattr(klass.__dict__["__init__"], "__doc__", None)
            return doc
    return None  # pragma: no cover - `object` always defines `__init__`


def converter_annotation(converter: Callable[[Any], Any]) -> Any:
    try:
        parameters = list(inspect.signature(converter).parameters.values())
    except (TypeError, ValueError):
        return Any
    if not parameters or parameters[0].annotation is inspect.Parameter.empty:
        return Any
    return parameters[0].annotation


def abstract_error(cls: type, is_abstract: bool, abstract_class_vars: frozenset[str]) -> str | None:
    if is_abstract:
        return (
            f"Cannot instantiate abstract class `{cls.__qualname__}`: it was declared "
            "abstract (`is_abstract=True` or `strict=StrictConfig(force_abstact=True)`). "
            "Instantiate a concrete subclass instead."
        )
    if abstract_class_vars:
        names = ", ".join(sorted(abstract_class_vars))
        return (
            f"Can't instantiate abstract class `{cls.__qualname__}` with abstract class "
            f"attributes {names}. Give them values (`name: ClassVar[type] = value`) in a "
            "concrete subclass."
        )
    return None


def register_pytree(
    cls: type,
    dynamic: tuple[str, ...],
    static: tuple[str, ...],
    may_be_unset: frozenset[str],
) -> Callable[[], None]:
    """Registers `cls` with JAX; returns the switch to the general (dict) flatten path.

    `may_be_unset` names the fields that `__init__` might leave unset: every field of
    a custom `__init__`; for a generated one, only `init=False` fields without a
    `default_factory` (dataclass serves their plain default from the class).
    """
    slotted: set[str] = set()
    class_served = False  # some field could be read from the class instead of an instance
    descriptor = False  # some field name is shadowed by a data descriptor (a property)
    for name in dynamic + static:
        attribute = inspect.getattr_static(cls, name, _NOT_FOUND)
        if isinstance(attribute, types.MemberDescriptorType):
            slotted.add(name)
        elif attribute is not _NOT_FOUND:
            class_served |= name in may_be_unset
            kind = type(attribute)
            descriptor |= hasattr(kind, "__set__") or hasattr(kind, "__delete__")
    functions = build_pytree_functions(
        cls,
        dynamic,
        static,
        slotted=frozenset(slotted),
        # Attribute reads are exact unless a class-level value can stand in for a
        # field that an instance lacks.
        attribute_mode=not descriptor and not class_served,
        direct_set=not descriptor,
    )
    jtu.register_pytree_with_keys(
        cls,
        build_flatten_with_keys(dynamic, functions.flatten),
        functions.unflatten,
        functions.flatten,
    )
    return functions.use_dict_mode
