# pyright: reportUnnecessaryTypeIgnoreComment=error
"""Type-checking fixture for `eqx_module` (not collected by pytest: it is only checked).

`check_module_mypy.py` holds the checks pyright cannot pass (see there).

Checked with both checkers, with the root configuration:

    .venv/bin/mypy tests/typing          # strict, so `warn_unused_ignores` is on
    .venv/bin/basedpyright tests/typing

A line that must be rejected carries `# type: ignore[<mypy code>]`. mypy's
`warn_unused_ignores` proves mypy reports exactly that code there; pyright honours
`# type: ignore` too, and the file-level `reportUnnecessaryTypeIgnoreComment=error`
above proves pyright reports an error on that line as well.

Frozenness is a runtime property only: `dataclass_transform(frozen_default=True)` would
make both checkers reject `self.x = ...` inside a custom `__init__` (the normal way to
write a Module), so post-init assignment is caught at runtime (`FrozenInstanceError`),
and here we check that custom `__init__` assignments type-check.

`AbstractVar[T]` reads as `T`, so for checkers it is a field of the
declaring class: a concrete subclass satisfies it by redeclaring the field.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from typing import Any, Generic, Literal, TypeVar

from typing_extensions import assert_type

import eqx_module
from eqx_module import AbstractVar, Module, field


class Linear(Module):
    weight: float
    bias: float = 0.0
    name: str = field(static=True, default="linear")
    tags: list[str] = field(default_factory=list)
    scale: int = field(converter=int, default=1)


# The synthesised `__init__`: parameters, types and defaults from the fields.
layer = Linear(1.0)
Linear(1.0, 2.0, "n", ["a"], 3)
Linear(weight=1.0, bias=2.0, name="n")
assert_type(layer.weight, float)
assert_type(layer.name, str)
assert_type(layer.tags, list[str])
Linear()  # type: ignore[call-arg]
Linear("not a float")  # type: ignore[arg-type]
Linear(1.0, nonexistent=1)  # type: ignore[call-arg]


# `field()` types: `default=` and `default_factory=` give the field's type; no default
# gives `Any`, so `x: int = field(static=True)` is fine.
assert_type(field(default=3), int)
assert_type(field(default_factory=list[int]), list[int])
static_int: int = field(static=True)
wrong: int = field(default="s")  # type: ignore[assignment]


class WithInitFalse(Module):
    x: int
    y: int = field(init=False)

    def __post_init__(self) -> None:
        self.y = 2 * self.x


WithInitFalse(1)
WithInitFalse(1, 2)  # type: ignore[call-arg]


# A custom `__init__` assigns fields freely and replaces the synthesised one.
class Custom(Module):
    x: int
    label: str = field(static=True)

    def __init__(self, value: int) -> None:
        self.x = value
        self.label = str(value)


assert_type(Custom(3).x, int)
Custom(x=3, label="a")  # type: ignore[call-arg]


# Abstract attributes: `AbstractVar[T]` reads as `T`. (For checkers it is then a field of
# the declaring class, which is abstract anyway; a concrete subclass redeclares it.)
class Shape(Module):
    area: AbstractVar[float]

    def describe(self) -> str:
        return f"area {self.area}"


class Square(Shape):
    area: float
    side: float


square = Square(area=4.0, side=2.0)
assert_type(square.area, float)
assert_type(square.describe(), str)


# Dataclass helpers see Modules as dataclasses.
assert_type(dataclasses.fields(square), tuple[dataclasses.Field[Any], ...])


# Helpers.
partial = eqx_module.Partial(lambda a, b: a + b, 1)
static = eqx_module.Static((1, 2))
assert_type(eqx_module.StrictConfig(force_abstact=True), Literal[False] | None)
wrapped_check: Callable[..., object] = partial
assert_type(static.value, Any)
assert_type(eqx_module.__version__, str)


# `module_update_wrapper` returns the wrapper's own type.
class Wrapper(Module):
    fn: Callable[[int], int]

    @property
    def __wrapped__(self) -> Callable[[int], int]:
        return self.fn

    def __call__(self, x: int) -> int:
        return self.fn(x)


def double(x: int) -> int:
    return 2 * x


updated = eqx_module.module_update_wrapper(Wrapper(double))
assert_type(updated, Wrapper)
assert_type(updated(3), int)
eqx_module.module_update_wrapper(double)  # type: ignore[type-var]


# Class keywords: `is_abstract`, the legacy `strict`, and `__init_subclass__` options.
class AbstractBase(Module, is_abstract=True):
    x: int


class LegacyAbstract(Module, strict=eqx_module.StrictConfig(force_abstact=True)):
    pass


# Generic Modules keep their type parameter.
_T = TypeVar("_T")


class Box(Module, Generic[_T]):
    value: _T


assert_type(Box(1).value, int)
assert_type(Box[str]("a").value, str)
Box[str](1)  # type: ignore[arg-type]


# `static_field` is the deprecated alias; it still types like `field`.
class Legacy(Module):
    name: str = eqx_module.static_field(default="a")


assert_type(Legacy().name, str)


# A method accessed on an instance is still an ordinary bound method for checkers.
method = square.describe
assert_type(method(), str)
