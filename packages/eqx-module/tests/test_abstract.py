"""`AbstractVar` and `AbstractClassVar`."""

import dataclasses
import inspect
from typing import ClassVar

import pytest

from eqx_module import AbstractClassVar, AbstractVar, Module


class Shape(Module):
    area: AbstractVar[float]
    sides: AbstractClassVar[int]


def test_abstract_annotations_create_no_field_and_no_init_parameter() -> None:
    class A(Module):
        x: AbstractVar[int]
        y: int

    assert [f.name for f in dataclasses.fields(A)] == ["y"]
    assert list(inspect.signature(A).parameters) == ["y"]
    assert A.__abstractvars__ == frozenset({"x"})
    assert Shape.__abstractclassvars__ == frozenset({"sides"})


def test_unresolved_abstract_var_raises_after_init() -> None:
    class A(Module):
        x: AbstractVar[int]
        y: int

    with pytest.raises(TypeError, match="abstract attributes x"):
        A(1)


def test_unresolved_abstract_class_var_raises_before_init() -> None:
    ran: list[int] = []

    class A(Module):
        x: AbstractClassVar[int]

        def __init__(self) -> None:
            ran.append(1)

    with pytest.raises(TypeError, match="abstract class attributes x"):
        A()
    assert ran == []


@pytest.mark.parametrize("how", ["field", "classvar", "attribute", "property", "method"])
def test_abstract_var_is_satisfied_by_any_concrete_definition(how: str) -> None:
    class Base(Module):
        x: AbstractVar[int]

    if how == "field":

        class Sub(Base):
            x: int = 1

    elif how == "classvar":

        class Sub(Base):  # type: ignore[no-redef]
            x: ClassVar[int] = 1

    elif how == "attribute":

        class Sub(Base):  # type: ignore[no-redef]
            x = 1

    elif how == "property":

        class Sub(Base):  # type: ignore[no-redef]
            @property
            def x(self) -> int:
                return 1

    else:

        class Sub(Base):  # type: ignore[no-redef]
            def x(self) -> int:
                return 1

    assert Sub.__abstractvars__ == frozenset()
    sub = Sub()
    assert (sub.x() if how == "method" else sub.x) == 1


def test_redeclaring_abstract_var_keeps_it_abstract() -> None:
    class Base(Module):
        x: AbstractVar[int]

    class Sub(Base):
        x: AbstractVar[int]

    assert Sub.__abstractvars__ == frozenset({"x"})


def test_redeclaring_as_abstract_class_var_converts_it() -> None:
    class Base(Module):
        x: AbstractVar[int]

    class Sub(Base):
        x: AbstractClassVar[int]

    assert Sub.__abstractvars__ == frozenset()
    assert Sub.__abstractclassvars__ == frozenset({"x"})


@pytest.mark.parametrize("how", ["classvar", "attribute"])
def test_abstract_class_var_is_satisfied_by_classvar_or_class_attribute(how: str) -> None:
    if how == "classvar":

        class Square(Shape):
            sides: ClassVar[int] = 4
            area: float = 1.0

    else:

        class Square(Shape):  # type: ignore[no-redef]
            sides = 4
            area: float = 1.0

    assert Square.__abstractclassvars__ == frozenset()
    assert Square().sides == 4


def test_abstract_var_provided_by_another_base_is_resolved() -> None:
    class HasX(Module):
        x: int = 3

    class NeedsX(Module):
        x: AbstractVar[int]

    class Both(NeedsX, HasX):
        pass

    assert Both.__abstractvars__ == frozenset()
    assert Both().x == 3


def test_unsubscripted_abstract_annotation_raises() -> None:
    with pytest.raises(TypeError, match="unsubscripted"):

        class A(Module):
            x: AbstractVar  # type: ignore[type-arg]

    with pytest.raises(TypeError, match="unsubscripted"):

        class B(Module):
            x: AbstractClassVar  # type: ignore[type-arg]


def test_abstract_annotation_with_more_than_one_argument_raises() -> None:
    with pytest.raises(TypeError):

        class A(Module):
            x: AbstractVar[int, str]  # type: ignore[misc]


def test_abstract_annotation_with_value_raises() -> None:
    with pytest.raises(TypeError, match="cannot have value"):

        class A(Module):
            x: AbstractVar[int] = 3

    with pytest.raises(TypeError, match="cannot have value"):

        class B(Module):
            x: AbstractClassVar[int] = 3


def test_string_abstract_annotation_raises_not_implemented() -> None:
    with pytest.raises(NotImplementedError, match="AbstractVar"):

        class A(Module):
            x: "AbstractVar[int]"

    with pytest.raises(NotImplementedError, match="AbstractClassVar"):

        class B(Module):
            x: "AbstractClassVar[int]"


def test_other_string_annotations_are_fine() -> None:
    class A(Module):
        x: "int"

    assert A(1).x == 1


def test_abstract_class_var_may_be_made_concrete_by_an_ordinary_field() -> None:
    class Named(Module):
        abs_cls_var: AbstractClassVar[str]

    class PerInstance(Named):
        abs_cls_var: str

    assert PerInstance.__abstractclassvars__ == frozenset()
    assert [f.name for f in dataclasses.fields(PerInstance)] == ["abs_cls_var"]
    first, second = PerInstance("a"), PerInstance(abs_cls_var="b")
    assert (first.abs_cls_var, second.abs_cls_var) == ("a", "b")
    # The abstract parent itself still cannot be instantiated.
    with pytest.raises(TypeError, match="abstract class attributes abs_cls_var"):
        Named()
