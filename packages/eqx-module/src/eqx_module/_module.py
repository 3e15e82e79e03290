"""`Module`: a frozen-after-init dataclass that is a PyTree and an ABC.

Everything that depends only on the class is worked out once, when the class is
created, and cached in a `ClassInfo` on the class: the dynamic and static field names,
the specialised flatten/unflatten functions, whether the `__init__` is custom, and
which post-`__init__` steps (missing-field check, converters, warnings,
`__check_init__`) the class needs at all. A plain Module with a generated `__init__`
and no converters or checks pays for none of those loops.

Construction has two paths, chosen per class by its metaclass. A plain class (see
`ClassInfo.fast_path`) has the metaclass `_FastModuleMeta`, whose `__call__` is
`type.__call__` itself: `Cls(...)` runs in C and calls the class's one generated
`__init__` (`_fast_init.py`), which stores the fields and does the checks. Every other
class has `_ModuleMeta`, whose Python `__call__` (`_construct`) takes every step in
order. A class moves to the general path (with its subclasses) when its `__init__`,
`__new__`, a field's class-level value, etc. is reassigned after creation.

Field reads are ordinary attribute reads: there is no `__getattribute__` override.
Methods are bound by a descriptor (`_bound_method._MethodDescriptor`), installed on
the class for every plain function defined in (or later assigned to) the class.

Speed (bench/bench_module.py, 2-core CPU, see docs/performance.md): flatten+unflatten
runs through a Python callback, because JAX's C++ dataclass path cannot serve the
spec's flatten semantics (see `_flatten.py`).
"""

from __future__ import annotations

import abc
import dataclasses
import functools
import types
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, NoReturn

import jax.tree_util as jtu
from typing_extensions import dataclass_transform

from eqx_tree import EqxWarning, is_array, is_inexact_array_like, tree_equal, tree_pformat
from eqx_tree.internal import warn_at_user_code

from ._abstract import process_abstract_annotations, resolve_abstract
from ._aliasing import aliasing_checks
from ._class_info import (
    ClassInfo,
    InitSignature,
    abstract_error,
    apply_dataclass,
    converter_annotation,
    has_custom_init,
    inherited_init_doc,
    register_pytree,
    tuple_attrgetter,
)
from ._fast_init import build_fast_init, guard_field
from ._field import field, static_field
from ._flatten import WRAPPER_ATTRIBUTES
from ._transforms import TRANSFORM_TYPES, warn_if_transformed_callable

__all__ = ["Module", "INITIALISING", "METHOD_TYPES", "wrap_method_hook"]

# Ids of the instances whose `__init__` is running: only they accept field assignments.
INITIALISING: set[int] = set()
# Types whose instances may be bound methods of `self` (BoundMethod adds itself).
METHOD_TYPES: set[type] = {types.MethodType}
# Set by `_bound_method`: wraps a plain function into the method-binding descriptor.
wrap_method_hook: list[Callable[[Callable[..., Any]], Any]] = []

_CHECKED_TYPES: frozenset[type] = frozenset()
_object_new = object.__new__
_WRAPPER_NAMES = frozenset(WRAPPER_ATTRIBUTES)
# Class attributes whose later reassignment changes construction (see `ClassInfo.fast_path`).
_CONSTRUCTION_HOOKS = frozenset(
    {"__init__", "__new__", "__post_init__", "__check_init__", "__getattr__", "__getattribute__"}
)


def _checked_types() -> frozenset[type]:
    return TRANSFORM_TYPES | frozenset(METHOD_TYPES)


def _is_dunder(name: str) -> bool:
    return len(name) > 4 and name.startswith("__") and name.endswith("__")


def _wrap_methods(cls: type, field_names: frozenset[str]) -> None:
    if not wrap_method_hook:
        return  # while `_bound_method` itself is being imported
    wrap = wrap_method_hook[0]
    for name, value in list(cls.__dict__.items()):
        if type(value) is types.FunctionType and not _is_dunder(name) and name not in field_names:
            type.__setattr__(cls, name, wrap(value))


# No `frozen_default=True`: mypy and pyright would then reject every `self.x = ...`
# inside a custom `__init__`, which is how most Modules are written.
@dataclass_transform(field_specifiers=(dataclasses.field, field, static_field))
class _ModuleMeta(abc.ABCMeta):
    """Metaclass of `Module`: runs the class-creation steps once per class."""

    _eqx_class_info: ClassInfo

    def __new__(
        mcs,
        name: str,
        bases: tuple[type, ...],
        namespace: dict[str, Any],
        /,
        strict: bool | None = False,
        is_abstract: bool = False,
        check_aliasing: bool | None = None,
        **kwargs: Any,
    ) -> _ModuleMeta:
        qualname = namespace.get("__qualname__", name)
        found = process_abstract_annotations(qualname, namespace)
        abstract_vars, abstract_class_vars = resolve_abstract(found, namespace, bases)
        has_own_doc = namespace.get("__doc__") is not None
        cls = super().__new__(mcs, name, bases, namespace, **kwargs)
        type.__setattr__(cls, "__abstractvars__", abstract_vars)
        type.__setattr__(cls, "__abstractclassvars__", abstract_class_vars)

        custom_init = has_custom_init(cls)
        if custom_init and hasattr(cls, "__post_init__"):
            warn_at_user_code(
                f"Class `{cls.__module__}.{cls.__qualname__}` has both an `__init__` method "
                "and a `__post_init__` method. This means that the `__post_init__` method "
                "will not be run! Move its checks into a `__check_init__` method, which "
                "runs after any `__init__`, custom or generated.",
                EqxWarning,
            )
        init_doc = None if custom_init else inherited_init_doc(cls)
        apply_dataclass(cls, init=not custom_init)
        if not has_own_doc:
            # dataclass() invents "Name(x: int)"; inherit the parent's docstring instead.
            inherited = next((k.__doc__ for k in cls.__mro__[1:-1] if k.__doc__), None)
            type.__setattr__(cls, "__doc__", inherited)

        fields = dataclasses.fields(cls)  # type: ignore[arg-type]
        guarded_init = None
        generated_init = None
        if not custom_init:
            generated_init = cls.__dict__["__init__"]
            generated_init.__doc__ = init_doc
            for f in fields:
                if f.init and "converter" in f.metadata:
                    annotation = converter_annotation(f.metadata["converter"])
                    generated_init.__annotations__[f.name] = annotation
            guarded_init = _guard_generated_init(cls, generated_init)
        type.__setattr__(cls, "__signature__", InitSignature(cls))

        dynamic = tuple(f.name for f in fields if not f.metadata.get("static", False))
        static = tuple(f.name for f in fields if f.metadata.get("static", False))
        field_names = tuple(f.name for f in fields)
        check_missing = custom_init or any(not f.init for f in fields)
        info = ClassInfo(
            abstract_error=abstract_error(cls, is_abstract or strict is None, abstract_class_vars),
            abstract_vars=abstract_vars,
            field_names=field_names,
            settable=frozenset(field_names) | frozenset(WRAPPER_ATTRIBUTES),
            check_missing=check_missing,
            field_steps=_field_steps(fields, check_missing),
            check_inits=tuple(
                k.__dict__["__check_init__"] for k in cls.__mro__ if "__check_init__" in k.__dict__
            )
            + aliasing_checks(cls, check_aliasing),
            has_custom_init=custom_init,
            mark_initialising=custom_init or hasattr(cls, "__post_init__"),
            check_init_arguments=not custom_init,
            init_field_names=tuple(f.name for f in fields if f.init),
            plain_new=cls.__new__ is object.__new__,  # type: ignore[comparison-overlap]
            init_values=tuple_attrgetter(tuple(f.name for f in fields if f.init)),
            use_dict_mode=register_pytree(
                cls,
                dynamic,
                static,
                may_be_unset=frozenset(
                    f.name
                    for f in fields
                    if custom_init or (not f.init and f.default_factory is dataclasses.MISSING)
                ),
            ),
            metadata=types.MappingProxyType({f.name: f.metadata for f in fields}),
            guarded_init=guarded_init,
            defaults_unchecked=all(
                f.default_factory is dataclasses.MISSING and type(f.default) not in _checked_types()
                for f in fields
                if f.init
            ),
        )
        type.__setattr__(cls, "_eqx_class_info", info)
        if info.fast_path and generated_init is not None:
            _install_fast_init(cls, info, generated_init)
        _set_construction_path(cls, info.fast_path)
        _wrap_methods(cls, frozenset(field_names))
        return cls

    def __setattr__(cls, name: str, value: Any) -> None:
        info = cls.__dict__.get("_eqx_class_info")
        if (
            info is not None
            and wrap_method_hook
            and type(value) is types.FunctionType
            and not _is_dunder(name)
            and name not in info.field_names
        ):
            value = wrap_method_hook[0](value)
        if info is not None and name in info.field_names:
            _use_dict_mode_for_subtree(cls)
            # The fast `__init__` tells a fresh instance by a field it lacks.
            _disable_fast_path_for_subtree(cls)
        if name in _CONSTRUCTION_HOOKS:
            _disable_fast_path_for_subtree(cls)
        super().__setattr__(name, value)

    def register(cls, subclass: type) -> NoReturn:
        """Always raises: Modules do not support virtual subclasses."""
        raise ValueError(
            f"Cannot register a virtual subclass of the Module `{cls.__qualname__}`: "
            "`register` is not supported for Modules. Subclass it instead."
        )

    if not TYPE_CHECKING:

        def __call__(cls, *args: Any, **kwargs: Any) -> Any:
            return _construct(cls, cls._eqx_class_info, args, kwargs)


class _FastModuleMeta(_ModuleMeta):
    """Metaclass of the plain Module classes: `Cls(...)` is `type.__call__`, in C.

    It calls `object.__new__` and the class's one-function `__init__` (see
    `_fast_init.py`), which takes every construction step such a class has. Classes
    move between this metaclass and `_ModuleMeta` (`_set_construction_path`); both
    have the same layout, so `__class__` assignment allows it.
    """

    if not TYPE_CHECKING:
        __call__ = type.__call__


def _set_construction_path(cls: type, fast: bool) -> None:
    """Give `cls` the metaclass of its construction path (a custom metaclass is kept)."""
    current = type(cls)
    if current is _ModuleMeta or current is _FastModuleMeta:
        wanted = _FastModuleMeta if fast else _ModuleMeta
        if current is not wanted:
            type.__setattr__(cls, "__class__", wanted)


def _install_fast_init(cls: type, info: ClassInfo, generated: Callable[..., None]) -> None:
    """Replace the guarded `__init__` by the one-function version, if the class allows it."""
    guard = guard_field(cls, info.init_field_names)
    fast_init = None
    if guard is not None:
        fast_init = build_fast_init(generated, info.init_field_names, guard, _FAST_INIT_GLOBALS)
    if fast_init is None:
        info.disable_fast_path()
        return
    type.__setattr__(cls, "__init__", fast_init)
    info.set_guarded_init(fast_init)


def _construct(cls: Any, info: ClassInfo, args: tuple[Any, ...], kwargs: dict[str, Any]) -> Any:
    """Construction with every step: `Module.__call__`'s general path."""
    if info.abstract_error is not None:
        raise TypeError(info.abstract_error)
    if info.plain_new:
        self = _object_new(cls)  # raises Python's TypeError for abstract methods
    else:
        self = cls.__new__(cls, *args, **kwargs)
    if info.mark_initialising:
        key = id(self)
        INITIALISING.add(key)
        try:
            cls.__init__(self, *args, **kwargs)
        finally:
            INITIALISING.discard(key)
    else:
        # A generated `__init__` without `__post_init__` stores the fields with
        # `object.__setattr__` and runs no user code that could assign to `self`.
        # Called unguarded: the instance is new, so the re-init check is moot.
        init = cls.__init__
        if init is info.guarded_init:
            init = init.__wrapped__  # type: ignore[union-attr]
        init(self, *args, **kwargs)
    if info.abstract_vars:
        names = ", ".join(sorted(info.abstract_vars))
        raise TypeError(
            f"Can't instantiate abstract class `{cls.__qualname__}` with abstract "
            f"attributes {names}. Provide them in a concrete subclass, as a field, "
            "class attribute, property or method."
        )
    if info.check_init_arguments and not _CHECKED_TYPES.isdisjoint(
        map(type, info.init_values(self))
    ):
        _check_init_arguments(self, info)
    if info.needs_post_init_steps:
        _post_init_steps(self, info)
    return self


def _guard_generated_init(cls: type, generated: Callable[..., None]) -> Callable[..., None]:
    """Make `instance.__init__(...)` on a finished instance raise, as for a frozen dataclass.

    A generated `__init__` stores fields with `object.__setattr__`, so calling it again
    would mutate a finished (possibly hashed, possibly traced) Module. The guard only
    runs for such explicit calls and for `super().__init__(...)`; `Module(...)` itself
    calls the generated function directly (one attribute lookup, no extra frame).
    """

    @functools.wraps(generated)
    def __init__(self: Any, *args: Any, **kwargs: Any) -> None:
        # A fresh instance has an empty `__dict__`; a subclass's custom `__init__` that
        # calls `super().__init__` has marked its instance as initialising.
        if self.__dict__ and id(self) not in INITIALISING:
            raise _reinit_error(self)
        generated(self, *args, **kwargs)

    type.__setattr__(cls, "__init__", __init__)
    return __init__


def _reinit_error(self: Any) -> dataclasses.FrozenInstanceError:
    qualname = type(self).__qualname__
    return dataclasses.FrozenInstanceError(
        f"cannot call `__init__` again on a finished `{qualname}`: Modules are immutable "
        f"after construction. Build a new instance instead (`{qualname}(...)`), or change "
        "one field with `eqx.tree_at(lambda m: m.<field>, module, new_value)`."
    )


def _field_steps(
    fields: tuple[dataclasses.Field[Any], ...], check_missing: bool
) -> tuple[tuple[str, Callable[[Any], Any] | None, bool, bool], ...]:
    """Per field: `(name, converter, is static, is init=False)`, for `_post_init_steps`.

    Fields with no step are left out, unless every field is checked for being set.
    """
    steps = []
    for f in fields:
        converter = f.metadata.get("converter")
        static = bool(f.metadata.get("static", False))
        if check_missing or converter is not None or static or not f.init:
            steps.append((f.name, converter, static, not f.init))
    return tuple(steps)


def _check_init_arguments(self: Any, info: ClassInfo) -> None:
    # The frozen-style generated `__init__` bypasses `__setattr__`: check its arguments
    # here (fields set in `__post_init__` went through `__setattr__` already).
    for name in info.init_field_names:
        value = getattr(self, name, None)
        if type(value) in _CHECKED_TYPES:
            _check_assignment(self, name, value)


def _for_subtree(cls: type, update: Callable[[type, ClassInfo], None]) -> None:
    """Apply `update` to `cls` and every subclass, however deep, with its class info."""
    pending = [cls]
    while pending:
        klass = pending.pop()
        info = klass.__dict__.get("_eqx_class_info")
        if info is not None:
            update(klass, info)
        pending.extend(type.__subclasses__(klass))


def _use_dict_mode_for_subtree(cls: type) -> None:
    # A class-level value for a field can now stand in for absent instance values.
    _for_subtree(cls, lambda klass, info: info.use_dict_mode())


def _disable_fast_path(klass: type, info: ClassInfo) -> None:
    info.disable_fast_path()
    _set_construction_path(klass, fast=False)


def _disable_fast_path_for_subtree(cls: type) -> None:
    # The class (or a base) changed how its instances are built: take every step.
    _for_subtree(cls, _disable_fast_path)


def _check_fast_init_arguments(self: Any) -> None:
    """The argument-type check of the one-function `__init__` (see `_fast_init.py`).

    Skipped when a subclass's custom `__init__` calls it through `super().__init__`,
    as the guarded `__init__` of the general path skips it.
    """
    if id(self) not in INITIALISING:
        _check_init_arguments(self, type(self)._eqx_class_info)


def _post_init_steps(self: Any, info: ClassInfo) -> None:
    """Steps 6-7 of construction: the per-field steps, then every `__check_init__`.

    Per field, in field order: the missing-field check, the converter, the warnings.
    """
    cls = type(self)
    check_missing = info.check_missing
    for name, converter, static, init_false in info.field_steps:
        if check_missing:
            try:
                getattr(self, name)
            except AttributeError:
                raise TypeError(f"Field '{name}' was not initialized.") from None
        if converter is not None:
            object.__setattr__(self, name, converter(getattr(self, name)))
        if static and any(is_array(leaf) for leaf in jtu.tree_leaves(getattr(self, name))):
            warn_at_user_code(
                f"A JAX array is being set as static! Field `{name}` of "
                f"`{cls.__qualname__}` is marked `static=True`, so its value lives in the "
                "treedef, where arrays cannot be traced or differentiated and are compared "
                "by identity. Remove `static=True`, or store a hashable non-array value.",
                EqxWarning,
            )
        if init_false and any(
            is_inexact_array_like(leaf) for leaf in jtu.tree_leaves(getattr(self, name))
        ):
            warn_at_user_code(
                f"Field `{name}` of `{cls.__qualname__}` is declared `field(init=False)` "
                "and holds inexact arrays. Gradients will be taken with respect to this "
                "field itself, rather than the `__init__` inputs it was computed from. If "
                "that is not intended, compute it in a method or property instead.",
                EqxWarning,
            )
    for check_init in info.check_inits:
        check_init(self)


def _frozen_error(self: Any, name: str) -> dataclasses.FrozenInstanceError:
    qualname = type(self).__qualname__
    if id(self) in INITIALISING:
        return dataclasses.FrozenInstanceError(
            f"cannot assign to field '{name}': `{qualname}` has no field named `{name}`, "
            f"so it cannot be set in `__init__`. Declare it in the class body "
            f"(`{name}: <type>`), or use a local variable."
        )
    return dataclasses.FrozenInstanceError(
        f"cannot assign to field '{name}' of `{qualname}`: Modules are immutable after "
        f"`__init__`. Build a modified copy instead, for example "
        f"`eqx.tree_at(lambda m: m.{name}, module, new_value)`."
    )


def _unhashable_error(self: Any, error: TypeError) -> TypeError:
    leaves_with_paths = jtu.tree_flatten_with_path(self)[0]
    for path, leaf in leaves_with_paths:
        try:
            hash(leaf)
        except TypeError:
            return TypeError(
                f"Module `{type(self).__qualname__}` is unhashable: its leaf at "
                f"`{jtu.keystr(path)}` (a {type(leaf).__qualname__}) is unhashable. "
                "Modules hash their leaves; to pass a Module as a static argument, first "
                "split the arrays out, e.g. `params, static = eqx.partition(model, "
                "eqx.is_array)`."
            )
    return TypeError(
        f"Module `{type(self).__qualname__}` is unhashable: a static field holds an "
        f"unhashable value ({error}). Static values must be hashable."
    )


class Module(metaclass=_ModuleMeta):
    """Base class for eqx models: a frozen dataclass that is a PyTree and an ABC.

    Subclasses declare fields with annotations (and `field(...)` for options). Their
    instances are PyTrees whose children are the non-static fields, keyed by
    `GetAttrKey(name)`; static fields live in the treedef. After `__init__` the instance
    is immutable: update it with `eqx.tree_at`. Methods accessed on an instance are
    `BoundMethod`s, themselves PyTrees, so `jax.jit(model.method)` works.

    Class keyword arguments: `is_abstract=True` forbids instantiation; `strict` is a
    legacy option (`None` means abstract); `check_aliasing=True` warns
    `EqxAliasingWarning` when an instance stores one array or sub-module in two places
    (inherited by subclasses; the default follows `EQX_CHECK_ALIASING`); others go to
    `__init_subclass__`.

    Example:
        ```python
        class Linear(eqx_module.Module):
            weight: jax.Array
            bias: jax.Array
            activation: Callable = eqx_module.field(static=True, default=jax.nn.relu)

            def __call__(self, x):
                return self.activation(self.weight @ x + self.bias)

        layer = Linear(jnp.ones((2, 3)), jnp.zeros(2))
        leaves = jax.tree_util.tree_leaves(layer)  # [weight, bias]
        ```
    """

    def __setattr__(self, name: str, value: Any) -> None:
        if id(self) in INITIALISING and name in type(self)._eqx_class_info.settable:
            if type(value) in _CHECKED_TYPES:
                _check_assignment(self, name, value)
            if name in _WRAPPER_NAMES:
                type(self)._eqx_class_info.use_dict_mode()
            object.__setattr__(self, name, value)
        elif name == "__orig_class__":  # set by `typing` for `A[int]()`
            object.__setattr__(self, name, value)
        else:
            raise _frozen_error(self, name)

    def __delattr__(self, name: str) -> None:
        raise _frozen_error(self, name)

    def __hash__(self) -> int:
        leaves, treedef = jtu.tree_flatten(self)
        try:
            return hash((treedef, tuple(leaves)))
        except TypeError as error:
            raise _unhashable_error(self, error) from None

    def __eq__(self, other: object) -> Any:
        return tree_equal(self, other)

    def __repr__(self) -> str:
        return tree_pformat(self)

    def _repr_pretty_(self, printer: Any, cycle: bool) -> None:
        """IPython / Jupyter display: `repr`, wrapped to the printer's width.

        Called by IPython only, so nothing is imported for it. A subclass's own
        `__repr__` wins, as in a plain `repr`.
        """
        if cycle:  # a tree cannot contain itself; IPython asks anyway for safety
            printer.text(f"{type(self).__name__}(...)")
        elif type(self).__repr__ is not Module.__repr__:
            printer.text(repr(self))
        else:
            printer.text(tree_pformat(self, width=getattr(printer, "max_width", 80)))


def _check_assignment(self: Any, name: str, value: Any) -> None:
    if type(value) in METHOD_TYPES and value.__self__ is self:
        raise ValueError(
            f"Cannot assign methods in __init__: `{type(self).__qualname__}.{name}` was "
            f"given a method of the same instance. That would make the Module contain "
            "itself (a reference cycle, so it is no longer a tree). Use a `@property` "
            "returning the method, or call the method where it is needed."
        )
    # A wrapper class that exists to hold the user's callable (the `eqx.filter_*`
    # transforms set `_eqx_wraps_callable = True`) is not the place to warn: the user
    # asked for `filter_jit(jax.vmap(model))`, and the field is an implementation detail.
    if type(value) in TRANSFORM_TYPES and not getattr(type(self), "_eqx_wraps_callable", False):
        warn_if_transformed_callable(self, name, value)


# The globals of every one-function `__init__` (`_fast_init.py`): its helpers.
_FAST_INIT_GLOBALS: dict[str, Any] = {
    "__builtins__": {},
    "__eqx_getattr__": getattr,
    "__eqx_setattr__": object.__setattr__,
    "__eqx_type__": type,
    "__eqx_id__": id,
    "__eqx_unset__": object(),
    "__eqx_initialising__": INITIALISING,
    "__eqx_reinit_error__": _reinit_error,
    "__eqx_check_arguments__": _check_fast_init_arguments,
}


def refresh_checked_types() -> None:
    """Recomputes the set of value types that `__setattr__` inspects during `__init__`."""
    global _CHECKED_TYPES
    _CHECKED_TYPES = _checked_types()
    _FAST_INIT_GLOBALS["__eqx_checked_types__"] = _CHECKED_TYPES


refresh_checked_types()
