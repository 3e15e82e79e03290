"""Construction of plain Module classes, which Python's `type.__call__` runs directly.

A plain class (generated `__init__`, no converter or check) is built by one generated
`__init__` that stores the fields, refuses a second `__init__` and checks the argument
types. These tests pin that it behaves as the dataclass `__init__` plus those checks,
and that classes changed after creation fall back to the general path correctly.
"""

import dataclasses
import pickle
from typing import Any

import jax
import jax.numpy as jnp
import pytest

from eqx_module import Module, Partial, field
from eqx_tree import EqxWarning


class Mixed(Module):
    a: Any
    b: Any = 2
    c: Any = field(default=3, kw_only=True)


def test_positional_keyword_default_and_kw_only_arguments_are_stored() -> None:
    m = Mixed(1)
    assert (m.a, m.b, m.c) == (1, 2, 3)
    m = Mixed(b=20, a=10, c=30)
    assert (m.a, m.b, m.c) == (10, 20, 30)
    assert vars(Mixed(1, 5)) == {"a": 1, "b": 5, "c": 3}


def test_wrong_arguments_raise_the_dataclass_init_errors() -> None:
    with pytest.raises(TypeError, match=r"Mixed.__init__\(\) missing 1 required positional"):
        Mixed()
    with pytest.raises(TypeError, match=r"Mixed.__init__\(\) takes from 2 to 3 positional"):
        Mixed(1, 2, 3)
    with pytest.raises(TypeError, match=r"unexpected keyword argument 'd'"):
        Mixed(1, d=4)


def test_fields_named_like_builtins_and_self_are_stored() -> None:
    # The generated `__init__` must not read these names as its own helpers.
    class Odd(Module):
        type: Any
        id: Any
        object: Any
        self: Any

    odd = Odd(1, 2, 3, self=4)
    assert (odd.type, odd.id, odd.object, odd.self) == (1, 2, 3, 4)
    inner = Partial(jnp.multiply, jnp.ones(3))
    with pytest.warns(EqxWarning, match="Possibly assigning a JAX-transformed callable"):
        Odd(jax.vmap(inner), 2, 3, 4)


def test_transformed_callable_in_any_position_warns_once() -> None:
    inner = Partial(jnp.multiply, jnp.ones(3))
    with pytest.warns(EqxWarning, match="`Mixed.c`") as record:
        Mixed(1, 2, c=jax.vmap(inner))
    assert len(record) == 1


def test_reinit_of_a_class_whose_fields_all_have_defaults_raises() -> None:
    class Defaults(Module):
        x: int = 1

    module = Defaults()
    with pytest.raises(dataclasses.FrozenInstanceError, match=r"again on a finished `.*Defaults`"):
        module.__init__(5)  # type: ignore[misc]
    assert module.x == 1


def test_a_class_level_value_given_later_to_a_required_field() -> None:
    class Point(Module):
        x: float

    Point.x = 5.0  # type: ignore[misc]
    assert Point(1.0).x == 1.0
    with pytest.raises(dataclasses.FrozenInstanceError, match=r"again on a finished `.*Point`"):
        Point(1.0).__init__(2.0)  # type: ignore[misc]


def test_a_class_with_getattr_fallback_constructs_and_guards_reinit() -> None:
    class Fallback(Module):
        x: float

        def __getattr__(self, name: str) -> Any:
            return 0.0

    module = Fallback(1.0)
    assert module.x == 1.0
    assert module.missing == 0.0
    with pytest.raises(dataclasses.FrozenInstanceError, match=r"again on a finished `.*Fallback`"):
        module.__init__(2.0)  # type: ignore[misc]


def test_a_custom_metaclass_of_module_is_kept_and_constructs() -> None:
    class Meta(type(Module)):  # type: ignore[misc]
        pass

    class Point(Module, metaclass=Meta):
        x: Any

    assert type(Point) is Meta
    assert Point(1).x == 1
    inner = Partial(jnp.multiply, jnp.ones(3))
    with pytest.warns(EqxWarning, match="Possibly assigning a JAX-transformed callable"):
        Point(jax.vmap(inner))


def test_subclass_of_a_plain_class_with_a_custom_init_takes_every_step() -> None:
    class Parent(Module):
        x: Any
        y: Any

    class Child(Parent):
        def __init__(self, x: Any) -> None:
            self.x = x

    with pytest.raises(TypeError, match="Field 'y' was not initialized"):
        Child(1)


def test_subclasses_built_before_and_after_a_parent_init_is_reassigned() -> None:
    class Parent(Module):
        x: float

    class Child(Parent):
        y: float

    assert (Child(1.0, 2.0).x, Child(1.0, 2.0).y) == (1.0, 2.0)

    def init(self: Any, x: float) -> None:
        object.__setattr__(self, "x", 10 * x)

    Parent.__init__ = init  # type: ignore[method-assign]
    assert Parent(1.0).x == 10.0
    assert (Child(1.0, 2.0).x, Child(1.0, 2.0).y) == (1.0, 2.0)  # its own generated init


def test_abstract_method_still_refuses_instantiation() -> None:
    import abc

    class Base(Module):
        x: int

        @abc.abstractmethod
        def f(self) -> int: ...

    with pytest.raises(TypeError, match="Can't instantiate abstract class Base"):
        Base(1)


def test_plain_instances_pickle_and_compare_equal() -> None:
    m = Mixed(1, [2, 3], c=4)
    restored = pickle.loads(pickle.dumps(m))
    assert restored == m
    assert vars(restored) == {"a": 1, "b": [2, 3], "c": 4}
