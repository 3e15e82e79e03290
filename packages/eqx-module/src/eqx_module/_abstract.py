"""`AbstractVar` and `AbstractClassVar`: abstract attributes for Modules.

An abstract attribute is a promise that every concrete subclass provides a value: an
`AbstractVar[T]` by a field, a `ClassVar`, a class attribute, a property or a method;
an `AbstractClassVar[T]` by a `ClassVar[...]` annotation or a class attribute. The
annotations create no dataclass field: the metaclass strips them before dataclass
processing (`process_abstract_annotations`), so they never shift `__init__` parameters.

Type checkers see `AbstractVar[T]` as `T` and `AbstractClassVar[T]` as `ClassVar[T]`.
"""

from __future__ import annotations

import re
import typing
from collections.abc import Iterable, Mapping
from typing import TYPE_CHECKING, Any, ClassVar, Generic, TypeVar

_T = TypeVar("_T")

__all__ = ["AbstractClassVar", "AbstractVar", "AbstractAnnotations", "process_abstract_annotations"]

if TYPE_CHECKING:
    # Checkers see `AbstractVar[T]` as `T` and `AbstractClassVar[T]` as `ClassVar[T]`.
    # (A `ClassVar` view of `AbstractVar` would keep it out of `__init__`, but both mypy
    # and pyright then reject the usual way of satisfying it, a field `x: int` in a
    # subclass, as "instance variable overrides class variable".)
    from typing import Annotated, TypeAlias
    from typing import ClassVar as AbstractClassVar

    AbstractVar: TypeAlias = Annotated[_T, "AbstractVar"]
else:

    class AbstractVar(Generic[_T]):
        """Declares an abstract instance attribute of a Module.

        `x: AbstractVar[int]` creates no field; every concrete subclass must provide
        `x`, by a field annotation, a `ClassVar`, a class attribute, a property or a
        method. Re-declaring it as `AbstractVar` keeps it abstract; re-declaring it as
        `AbstractClassVar` turns it into an abstract class attribute.

        Example:
            ```python
            class Shape(eqx_module.Module):
                area: AbstractVar[float]

            class Square(Shape):
                side: float

                @property
                def area(self) -> float:
                    return self.side**2
            ```
        """

        def __init__(self) -> None:
            raise TypeError("`AbstractVar` is an annotation; it cannot be instantiated.")

    class AbstractClassVar(Generic[_T]):
        """Declares an abstract class attribute of a Module.

        `x: AbstractClassVar[int]` creates no field; every concrete subclass must provide
        `x` by a `ClassVar[...]` annotation or a class attribute. A class with an
        unresolved `AbstractClassVar` cannot be instantiated.

        Example:
            ```python
            class Activation(eqx_module.Module):
                name: AbstractClassVar[str]

            class Relu(Activation):
                name: ClassVar[str] = "relu"
            ```
        """

        def __init__(self) -> None:
            raise TypeError("`AbstractClassVar` is an annotation; it cannot be instantiated.")


# A string annotation that names one of the two (for example under
# `from __future__ import annotations`): we cannot evaluate it reliably at class creation.
_STRING_ABSTRACT = re.compile(r"^\s*([\w]+\.)*(AbstractVar|AbstractClassVar)\b")


class AbstractAnnotations(typing.NamedTuple):
    """The outcome of `process_abstract_annotations` for one class body."""

    own_vars: frozenset[str]
    own_class_vars: frozenset[str]
    classvar_annotations: frozenset[str]
    other_annotations: frozenset[str]


def _is_classvar(annotation: Any) -> bool:
    if annotation is ClassVar or typing.get_origin(annotation) is ClassVar:
        return True
    if isinstance(annotation, str):
        return re.match(r"^\s*(typing\.|typing_extensions\.)?ClassVar\b", annotation) is not None
    return False


def process_abstract_annotations(qualname: str, namespace: dict[str, Any]) -> AbstractAnnotations:
    """Strips `AbstractVar`/`AbstractClassVar` annotations out of a class namespace.

    Arguments:
        qualname: the class's qualified name, for error messages.
        namespace: the class body namespace; its `__annotations__` is edited in place.

    Returns:
        The names declared abstract here, and the names annotated otherwise.

    Raises:
        TypeError: an unsubscripted abstract annotation, or one with a value.
        NotImplementedError: an abstract annotation written as a string.
    """
    annotations: dict[str, Any] = namespace.get("__annotations__", {})
    own_vars: set[str] = set()
    own_class_vars: set[str] = set()
    classvars: set[str] = set()
    others: set[str] = set()
    for name, annotation in list(annotations.items()):
        if isinstance(annotation, str) and _STRING_ABSTRACT.match(annotation):
            raise NotImplementedError(
                f"Field `{name}` of `{qualname}` has the string annotation {annotation!r}. "
                "String (postponed) `AbstractVar`/`AbstractClassVar` annotations are not "
                "supported: remove `from __future__ import annotations` from this module, "
                "or write the annotation unquoted."
            )
        if annotation is AbstractVar or annotation is AbstractClassVar:
            kind = "AbstractVar" if annotation is AbstractVar else "AbstractClassVar"
            raise TypeError(
                f"Field `{name}` of `{qualname}` is annotated with an unsubscripted `{kind}`. "
                f"Give the type of the attribute: `{name}: {kind}[int]`."
            )
        origin = typing.get_origin(annotation)
        if origin is AbstractVar or origin is AbstractClassVar:
            kind = "AbstractVar" if origin is AbstractVar else "AbstractClassVar"
            if len(typing.get_args(annotation)) != 1:  # pragma: no cover - Generic checks first
                raise TypeError(f"`{kind}` takes exactly one argument; got {annotation!r}.")
            if name in namespace:
                raise TypeError(
                    f"Abstract attribute `{name}` of `{qualname}` cannot have value "
                    f"{namespace[name]!r}. An `{kind}` only declares the attribute; give "
                    "it a value in a concrete subclass instead."
                )
            del annotations[name]
            (own_vars if origin is AbstractVar else own_class_vars).add(name)
        elif _is_classvar(annotation):
            classvars.add(name)
        else:
            others.add(name)
    return AbstractAnnotations(
        frozenset(own_vars), frozenset(own_class_vars), frozenset(classvars), frozenset(others)
    )


def resolve_abstract(
    found: AbstractAnnotations,
    namespace: Mapping[str, Any],
    bases: Iterable[type],
) -> tuple[frozenset[str], frozenset[str]]:
    """Combines a class's own abstract declarations with those it inherits.

    Arguments:
        found: this class body's annotations (from `process_abstract_annotations`).
        namespace: this class body's namespace (class attributes, properties, methods).
        bases: the direct base classes.

    Returns:
        `(abstract_vars, abstract_class_vars)` still unresolved for the new class.
    """
    inherited_vars: set[str] = set()
    inherited_class_vars: set[str] = set()
    for base in bases:
        inherited_vars |= getattr(base, "__abstractvars__", frozenset())
        inherited_class_vars |= getattr(base, "__abstractclassvars__", frozenset())
    defined_here = set(namespace) | found.other_annotations | found.classvar_annotations
    # A subclass may also make an abstract class variable concrete as an ordinary field
    # (`name: str`), set per instance, as Equinox allows.
    class_defined_here = defined_here

    abstract_vars = set(found.own_vars)
    for name in inherited_vars:
        if name in found.own_class_vars or name in defined_here:
            continue
        if not _abstract_in_every_base(name, bases):  # another base provides it
            continue
        abstract_vars.add(name)
    abstract_class_vars = set(found.own_class_vars)
    for name in inherited_class_vars:
        if name in class_defined_here:
            continue
        abstract_class_vars.add(name)
    abstract_vars -= abstract_class_vars
    return frozenset(abstract_vars), frozenset(abstract_class_vars)


def _abstract_in_every_base(name: str, bases: Iterable[type]) -> bool:
    for base in bases:
        if name not in getattr(base, "__abstractvars__", ()) and any(
            name in klass.__dict__ or name in klass.__dict__.get("__dataclass_fields__", {})
            for klass in base.__mro__
        ):
            return False
    return True
