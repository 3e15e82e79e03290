"""Module class creation, construction, freezing and protocol."""

import abc
import dataclasses
import inspect
import pickle
from collections.abc import Callable
from typing import Any, ClassVar, Generic, TypeVar

import jax
import jax.numpy as jnp
import jax.tree_util as jtu
import numpy as np
import pytest

import eqx_module
from eqx_module import Module, field
from eqx_tree import EqxWarning, tree_at, tree_equal, tree_pformat

T = TypeVar("T")


class Point(Module):
    x: Any
    y: Any


class WithStatic(Module):
    weight: Any
    name: str = field(static=True, default="w")


class GenericBox(Module, Generic[T]):
    value: T


# ---------------------------------------------------------------- class creation


def test_module_subclass_is_a_dataclass_with_fields_in_order() -> None:
    assert dataclasses.is_dataclass(Point)
    assert [f.name for f in dataclasses.fields(Point)] == ["x", "y"]


def test_parent_fields_come_first_and_defaults_work() -> None:
    class Child(Point):
        z: int = 3

    c = Child(1, 2)
    assert (c.x, c.y, c.z) == (1, 2, 3)
    assert Child(1, 2, z=4).z == 4


def test_default_factory_and_kw_only_fields() -> None:
    class A(Module):
        items: list = field(default_factory=list)
        flag: bool = field(default=False, kw_only=True)

    a = A()
    assert a.items == []
    assert a.items is not A().items
    assert A([1], flag=True).flag is True
    with pytest.raises(TypeError):
        A([1], True)  # type: ignore[misc]


def test_init_var_is_passed_to_post_init_and_is_not_a_field() -> None:
    class A(Module):
        x: int
        scale: dataclasses.InitVar[int]

        def __post_init__(self, scale: int) -> None:
            self.x = self.x * scale

    assert A(2, 3).x == 6
    assert [f.name for f in dataclasses.fields(A)] == ["x"]


def test_signature_is_init_without_self() -> None:
    class A(Module):
        x: int
        y: str = "a"

    @dataclasses.dataclass
    class Plain:
        x: int
        y: str = "a"

    assert inspect.signature(A) == inspect.signature(Plain)
    assert A.__signature__ == inspect.signature(Plain)


def test_instance_signature_is_that_of_call_not_init() -> None:
    class Layer(Module):
        weight: Any

        def __call__(self, x: Any, train: bool = False) -> Any:
            return self.weight * x if train else x

    layer = Layer(jnp.array(2.0))
    assert str(inspect.signature(Layer)) == "(weight: Any) -> None"
    assert list(inspect.signature(layer).parameters) == ["x", "train"]
    with pytest.raises(AttributeError, match="__signature__"):
        layer.__signature__
    assert list(inspect.signature(jax.jit(layer.__call__)).parameters) == ["x", "train"]


def test_wrapper_module_instance_signature_follows_wrapped() -> None:
    class Wrapper(Module):
        fn: Callable

        @property
        def __wrapped__(self) -> Callable:
            return self.fn

        def __call__(self, *args: Any) -> Any:
            return self.fn(*args)

    def f(a: int, b: int = 1) -> int:
        return a + b

    assert list(inspect.signature(Wrapper(f)).parameters) == ["a", "b"]


def test_custom_init_is_inherited_unlike_plain_dataclasses() -> None:
    class Parent(Module):
        x: int

        def __init__(self, value: int) -> None:
            self.x = value * 10

    class Child(Parent):
        pass

    assert Child(2).x == 20
    assert list(inspect.signature(Child).parameters) == ["value"]


def test_non_module_base_with_own_init_counts_as_custom_init() -> None:
    class Mixin:
        def __init__(self, value: int) -> None:
            self.x = value + 1  # type: ignore[misc]

    class A(Mixin, Module):
        x: int

    assert A(1).x == 2


def test_generated_init_keeps_inherited_init_doc() -> None:
    class Parent(Module):
        x: int

        def __init__(self, x: int) -> None:
            """Parent init doc."""
            self.x = x

    class Middle(Module):
        pass

    Middle.__init__.__doc__ = "Middle doc"

    class Child(Middle):
        y: int

    assert Child.__init__.__doc__ == "Middle doc"


def test_custom_init_with_post_init_warns_at_class_creation() -> None:
    with pytest.warns(EqxWarning, match=r"`__init__` method and a `__post_init__`") as record:

        class A(Module):
            x: int

            def __init__(self) -> None:
                self.x = 1

            def __post_init__(self) -> None:
                pass

    message = str(record[0].message)
    assert f"{__name__}.{A.__qualname__}" in message
    assert "will not be run" in message
    assert "__check_init__" in message
    assert record[0].filename == __file__


def test_inherited_custom_init_with_post_init_warns() -> None:
    class A(Module):
        x: int

        def __init__(self) -> None:
            self.x = 1

    with pytest.warns(EqxWarning, match=r"`__init__` method and a `__post_init__`"):

        class B(A):
            def __post_init__(self) -> None:
                pass

    assert B().x == 1


def test_generated_init_with_post_init_does_not_warn() -> None:
    class A(Module):
        x: int

        def __post_init__(self) -> None:
            pass

    assert A(1).x == 1  # `filterwarnings = error` would have failed class creation


def test_converter_annotation_becomes_init_annotation() -> None:
    def to_float(value: int) -> float:
        return float(value)

    def untyped(value):  # type: ignore[no-untyped-def]
        return value

    class A(Module):
        a: float = field(converter=to_float)
        b: float = field(converter=untyped)
        c: str = field(converter=str)

    parameters = inspect.signature(A).parameters
    assert parameters["a"].annotation is int
    assert parameters["b"].annotation is Any
    assert parameters["c"].annotation is Any


def test_class_docstring_is_inherited_not_invented_by_dataclass() -> None:
    class A(Module):
        """A's docs."""

    class B(A):
        x: int

    assert B.__doc__ == "A's docs."
    assert inspect.getdoc(B) == "A's docs."


def test_init_subclass_keyword_arguments_are_forwarded() -> None:
    seen: list[Any] = []

    class Base(Module):
        def __init_subclass__(cls, tag: str = "none", **kwargs: Any) -> None:
            super().__init_subclass__(**kwargs)
            seen.append(tag)

    class A(Base, tag="hello"):
        pass

    assert seen == ["hello"]


def test_slots_declaration_works() -> None:
    class A(Module):
        __slots__ = ()
        x: int

    assert A(1).x == 1
    assert jtu.tree_leaves(A(1)) == [1]


def test_field_stored_in_slots_flattens_and_unflattens() -> None:
    class A(Module):
        __slots__ = ("x",)
        x: int
        y: int

    a = A(1, 2)
    leaves, treedef = jtu.tree_flatten(a)
    assert leaves == [1, 2]
    b = jtu.tree_unflatten(treedef, [5, 6])
    assert (b.x, b.y) == (5, 6)


def test_frozen_plain_dataclass_base_contributes_fields() -> None:
    @dataclasses.dataclass(frozen=True)
    class Base:
        z: int = 0

    class A(Module, Base):
        w: int = 1

    a = A(z=3)
    assert (a.z, a.w) == (3, 1)
    assert jtu.tree_leaves(a) == [3, 1]
    with pytest.raises(dataclasses.FrozenInstanceError, match="cannot assign to field 'z'"):
        a.z = 4


def test_dataclasses_replace_builds_a_new_module() -> None:
    p = dataclasses.replace(Point(1, 2), y=5)
    assert (p.x, p.y) == (1, 5)


def test_generic_module_can_be_subscripted_and_instantiated() -> None:
    box = GenericBox[int](3)
    assert box.value == 3
    assert box.__orig_class__ == GenericBox[int]
    assert jtu.tree_leaves(box) == [3]


# ------------------------------------------------------------------ abstractness


def test_abstract_method_prevents_instantiation() -> None:
    class A(Module):
        @abc.abstractmethod
        def f(self) -> int: ...

    class B(A):
        def f(self) -> int:
            return 1

    with pytest.raises(TypeError, match="abstract method"):
        A()
    assert B().f() == 1


def test_is_abstract_class_cannot_be_instantiated_but_subclasses_can() -> None:
    class A(Module, is_abstract=True):
        x: int = 1

    class B(A):
        pass

    with pytest.raises(TypeError, match="Cannot instantiate abstract"):
        A()
    assert B().x == 1


def test_strict_none_means_abstract_and_booleans_are_ignored() -> None:
    class A(Module, strict=None):
        pass

    class B(Module, strict=True):
        pass

    class C(Module, strict=eqx_module.StrictConfig(force_abstact=True)):
        pass

    with pytest.raises(TypeError, match="Cannot instantiate abstract"):
        A()
    with pytest.raises(TypeError, match="Cannot instantiate abstract"):
        C()
    assert isinstance(B(), B)


def test_register_raises_value_error() -> None:
    with pytest.raises(ValueError, match="register"):
        Point.register(int)


def test_module_is_an_abc_instance_check() -> None:
    assert isinstance(Point(1, 2), Module)
    assert isinstance(Point, abc.ABCMeta)


# ------------------------------------------------------------------ construction


def test_assigning_a_non_field_in_init_raises_frozen_instance_error() -> None:
    class A(Module):
        x: int

        def __init__(self) -> None:
            self.x = 1
            self.y = 2

    with pytest.raises(dataclasses.FrozenInstanceError, match="'y'"):
        A()
    assert issubclass(dataclasses.FrozenInstanceError, AttributeError)


def test_post_init_of_generated_init_assigns_fields_but_not_other_names() -> None:
    class A(Module):
        x: int
        doubled: int = field(init=False)

        def __post_init__(self) -> None:
            self.doubled = 2 * self.x

    class B(Module):
        x: int

        def __post_init__(self) -> None:
            self.y = 2

    assert A(3).doubled == 6
    with pytest.raises(dataclasses.FrozenInstanceError, match="has no field named `y`"):
        B(1)
    with pytest.raises(dataclasses.FrozenInstanceError, match="immutable after"):
        A(3).x = 1


def test_calling_init_again_on_a_finished_module_raises_and_changes_nothing() -> None:
    class Generated(Module):
        x: int

    class WithPostInit(Module):
        x: int
        doubled: int = field(init=False)

        def __post_init__(self) -> None:
            self.doubled = 2 * self.x

    class Custom(Module):
        x: int

        def __init__(self, x: int) -> None:
            self.x = x

    for module in (Generated(1), WithPostInit(1), Custom(1)):
        with pytest.raises(dataclasses.FrozenInstanceError, match=type(module).__qualname__):
            module.__init__(5)  # type: ignore[misc]
        assert module.x == 1
    with pytest.raises(dataclasses.FrozenInstanceError, match=r"eqx\.tree_at"):
        Generated(1).__init__(5)  # type: ignore[misc]


def test_a_custom_init_may_still_call_the_generated_init_of_its_parent() -> None:
    class Parent(Module):
        x: float
        y: float

    class Child(Parent):
        def __init__(self, x: float) -> None:
            super().__init__(x, 2 * x)

    class Grandchild(Parent):
        def __init__(self, x: float) -> None:
            Parent.__init__(self, x, 3 * x)

    assert (Child(1.0).x, Child(1.0).y) == (1.0, 2.0)
    assert Grandchild(1.0).y == 3.0
    # The guard keeps the generated signature, docs and annotations.
    assert list(inspect.signature(Parent).parameters) == ["x", "y"]
    assert list(inspect.signature(Parent.__init__).parameters) == ["self", "x", "y"]


def test_fields_and_wrapper_names_can_be_assigned_repeatedly_in_init() -> None:
    class A(Module):
        x: int

        def __init__(self) -> None:
            self.x = 1
            self.x = 2
            self.__doc__ = "instance doc"
            self.__name__ = "named"

    a = A()
    assert a.x == 2
    assert a.__doc__ == "instance doc"
    assert a.__name__ == "named"


def test_assigning_own_bound_method_in_init_raises() -> None:
    class A(Module):
        f: Callable

        def __init__(self) -> None:
            self.f = self.g

        def g(self) -> int:
            return 1

    with pytest.raises(ValueError, match="Cannot assign methods in __init__"):
        A()


def test_methods_can_be_called_inside_init() -> None:
    class A(Module):
        x: int

        def __init__(self) -> None:
            self.x = self.compute()

        def compute(self) -> int:
            return 5

    assert A().x == 5


def test_missing_field_raises_exact_message() -> None:
    class A(Module):
        x: int
        y: int

        def __init__(self) -> None:
            self.x = 1

    with pytest.raises(TypeError, match=r"^Field 'y' was not initialized\.$"):
        A()


def test_class_level_defaults_and_properties_count_as_initialised() -> None:
    class A(Module):
        x: int = 4

        def __init__(self) -> None:
            pass

    assert A().x == 4


def test_property_counts_as_initialised_and_flattens_as_placeholder() -> None:
    class A(Module):
        x: Any
        y: Any

        def __init__(self) -> None:
            self.x = 1

    class B(A):
        @property
        def y(self) -> int:  # type: ignore[override]
            return 3

    b = B()
    assert b.y == 3
    leaves, treedef = jtu.tree_flatten(b)
    assert leaves == [1]
    assert jtu.tree_unflatten(treedef, [2]).y == 3


def test_converter_runs_once_after_post_init() -> None:
    calls: list[Any] = []
    seen_in_post_init: list[Any] = []

    def convert(value: Any) -> Any:
        calls.append(value)
        return jnp.asarray(value)

    class A(Module):
        x: Any = field(converter=convert)

        def __post_init__(self) -> None:
            seen_in_post_init.append(self.x)

    a = A(3)
    assert calls == [3]
    assert seen_in_post_init == [3]
    assert isinstance(a.x, jax.Array)
    assert a.x == 3


def test_post_init_steps_run_per_field_in_field_order() -> None:
    def refuse(value: Any) -> Any:
        raise ValueError(f"converter refused {value!r}")

    class A(Module):
        a: int = field(converter=refuse)
        b: int

        def __init__(self) -> None:
            self.a = 1

    # Field `a` (its converter) comes before field `b` (not initialised).
    with pytest.raises(ValueError, match="converter refused 1"):
        A()


def test_converter_runs_for_custom_init_too() -> None:
    class A(Module):
        x: Any = field(converter=lambda v: v * 2)

        def __init__(self, v: int) -> None:
            self.x = v

    assert A(3).x == 6


def test_converter_is_not_run_by_unflatten() -> None:
    class A(Module):
        x: Any = field(converter=lambda v: v + 1)

    a = A(1)
    leaves, treedef = jtu.tree_flatten(a)
    assert jtu.tree_unflatten(treedef, leaves).x == 2


def test_static_array_warns_naming_field() -> None:
    class A(Module):
        arr: Any = field(static=True)

    with pytest.warns(EqxWarning, match=r"A JAX array is being set as static!.*arr") as record:
        A(jnp.zeros(2))
    assert record[0].filename == __file__


def test_init_false_field_holding_inexact_array_warns() -> None:
    class A(Module):
        x: Any
        doubled: Any = field(init=False)

        def __post_init__(self) -> None:
            self.doubled = self.x * 2

    with pytest.warns(EqxWarning, match="doubled.*[Gg]radients") as record:
        A(jnp.array(1.0))
    assert record[0].filename == __file__
    A(jnp.array(1))  # integer arrays are not differentiated: no warning


def test_check_init_runs_for_every_class_in_mro_most_derived_first() -> None:
    order: list[str] = []

    class Base(Module):
        x: int

        def __check_init__(self) -> None:
            order.append("base")

    class Child(Base):
        def __check_init__(self) -> None:
            order.append("child")

    class Grandchild(Child):
        pass

    Grandchild(1)
    assert order == ["child", "base"]


def test_check_init_sees_converted_values_and_its_error_propagates() -> None:
    class A(Module):
        x: Any = field(converter=abs)

        def __check_init__(self) -> None:
            if self.x > 5:
                raise ValueError("x too big")

    assert A(-3).x == 3
    with pytest.raises(ValueError, match="x too big"):
        A(-9)


def test_assigning_in_check_init_raises() -> None:
    class A(Module):
        x: int

        def __check_init__(self) -> None:
            self.x = 2

    with pytest.raises(dataclasses.FrozenInstanceError, match="cannot assign to field 'x'"):
        A(1)


def test_initialising_mark_is_removed_even_if_init_raises() -> None:
    captured: list[Any] = []

    class A(Module):
        x: int

        def __init__(self) -> None:
            captured.append(self)
            self.x = 1
            raise RuntimeError("boom")

    with pytest.raises(RuntimeError, match="boom"):
        A()
    with pytest.raises(dataclasses.FrozenInstanceError, match="immutable after `__init__`"):
        captured[0].x = 2


# ---------------------------------------------------------------------- frozen


def test_setattr_after_init_raises_frozen_instance_error() -> None:
    p = Point(1, 2)
    with pytest.raises(dataclasses.FrozenInstanceError, match="cannot assign to field"):
        p.x = 3
    with pytest.raises(dataclasses.FrozenInstanceError, match="'new_attr' of `Point`"):
        p.new_attr = 3
    with pytest.raises(dataclasses.FrozenInstanceError, match="'x' of `Point`"):
        del p.x


def test_tree_at_is_the_way_to_update() -> None:
    p = Point(jnp.array(1.0), 2)
    q = tree_at(lambda m: m.x, p, jnp.array(5.0))
    assert q.x == 5.0
    assert q.y == 2
    assert p.x == 1.0


def test_tree_at_on_a_module_with_a_static_field_keeps_it_and_rejects_selecting_it() -> None:
    m = WithStatic(jnp.array([1.0, 2.0]), name="first")
    out = tree_at(lambda m: m.weight, m, jnp.array([3.0, 4.0]))
    assert out.name == "first"
    assert out.weight.tolist() == [3.0, 4.0]
    assert jtu.tree_structure(out) == jtu.tree_structure(m)
    # A static field is part of the treedef, not a node: it cannot be replaced this way.
    with pytest.raises(ValueError, match="`where` does not specify an element") as info:
        tree_at(lambda m: m.name, m, "second")
    assert "'first'" in str(info.value)


# --------------------------------------------------------------------- protocol


def test_eq_is_tree_equal() -> None:
    assert Point(1, 2) == Point(1, 2)
    assert (Point(1, 2) == Point(1, 3)) is False
    result = Point(jnp.array(1.0), 2) == Point(jnp.array(1.0), 2)
    assert isinstance(result, jax.Array)
    assert bool(result)
    assert (Point(1, 2) == WithStatic(1)) is False


def test_repr_is_tree_pformat() -> None:
    p = Point(jnp.zeros(3), 1)
    assert repr(p) == tree_pformat(p)


def test_hash_uses_flattened_form_so_list_fields_are_hashable() -> None:
    class Model(Module):
        layers: list
        act: Callable = field(static=True, default=jax.nn.relu)

    a = Model([1, 2, (3, "x")])
    b = Model([1, 2, (3, "x")])
    assert hash(a) == hash(b)
    assert a == b
    assert hash(a) != hash(Model([1, 2, (3, "y")]))


def test_hash_of_unhashable_leaf_names_key_path() -> None:
    class Model(Module):
        layers: list

    with pytest.raises(TypeError, match=r"\.layers\[1\]"):
        hash(Model([1, jnp.zeros(2)]))


def test_partitioned_static_half_works_as_jit_static_argument() -> None:
    class Model(Module):
        layers: list
        act: Callable = field(static=True, default=jnp.tanh)

    model = Model([jnp.ones(2), "config"])
    params = jtu.tree_map(lambda x: x if isinstance(x, jax.Array) else None, model)
    static = jtu.tree_map(lambda x: None if isinstance(x, jax.Array) else x, model)

    run = jax.jit(lambda p, s: s.act(p.layers[0]).sum(), static_argnums=1)
    np.testing.assert_allclose(run(params, static), 2 * np.tanh(1.0), rtol=1e-6)


def test_module_instances_pickle_round_trip() -> None:
    p = pickle.loads(pickle.dumps(Point(1, [2, 3])))
    assert p == Point(1, [2, 3])


# ------------------------------------------------------------- generic / misc


def test_orig_class_is_the_only_settable_attribute_after_init() -> None:
    box = GenericBox(1)
    box.__orig_class__ = GenericBox[int]  # type: ignore[attr-defined]
    with pytest.raises(dataclasses.FrozenInstanceError, match="'__module__'"):
        box.__module__ = "other"


def test_classvar_is_not_a_field() -> None:
    class A(Module):
        count: ClassVar[int] = 3
        x: int

    assert [f.name for f in dataclasses.fields(A)] == ["x"]
    assert A(1).count == 3


def test_tree_equal_of_two_different_module_types_is_false() -> None:
    assert tree_equal(Point(1, 2), WithStatic(1)) is False


def test_an_init_assigned_after_class_creation_is_used() -> None:
    # Construction of a plain class is a fast path decided at class creation; an
    # `__init__` assigned afterwards must still be the one run.
    class Point(Module):
        x: float

    assert Point(1.0).x == 1.0

    def init(self: Any, x: float) -> None:
        object.__setattr__(self, "x", 2 * x)  # as a generated `__init__` stores fields

    Point.__init__ = init  # type: ignore[method-assign]
    assert Point(3.0).x == 6.0
