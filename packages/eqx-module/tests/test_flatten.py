"""Module flatten/unflatten semantics and treedef invariants."""

import pickle
from typing import Any, ClassVar

import jax
import jax.numpy as jnp
import jax.tree_util as jtu
import pytest

from eqx_module import Module, field, module_update_wrapper


class Pair(Module):
    a: Any
    b: Any


class Mixed(Module):
    w: Any
    act: Any = field(static=True)
    b: Any = None
    tag: str = field(static=True, default="t")


class Outer(Module):
    inner: Pair
    items: list


def test_children_are_dynamic_fields_in_order_with_getattr_keys() -> None:
    m = Mixed(jnp.ones(2), "relu", b=3)
    leaves_with_paths, _ = jtu.tree_flatten_with_path(m)
    assert [path for path, _ in leaves_with_paths] == [
        (jtu.GetAttrKey("w"),),
        (jtu.GetAttrKey("b"),),
    ]
    assert leaves_with_paths[1][1] == 3


def test_flatten_matches_hand_built_expectation() -> None:
    m = Outer(Pair(1, 2), [3, (4, 5)])
    leaves, treedef = jtu.tree_flatten(m)
    assert leaves == [1, 2, 3, 4, 5]
    assert jtu.tree_unflatten(treedef, list("abcde")) == Outer(Pair("a", "b"), ["c", ("d", "e")])
    paths = [jtu.keystr(p) for p, _ in jtu.tree_flatten_with_path(m)[0]]
    assert paths == [".inner.a", ".inner.b", ".items[0]", ".items[1][0]", ".items[1][1]"]


def test_static_fields_live_in_the_treedef() -> None:
    one = jtu.tree_structure(Mixed(1, "relu"))
    assert one == jtu.tree_structure(Mixed(2, "relu"))
    assert one != jtu.tree_structure(Mixed(1, "gelu"))
    assert jtu.tree_leaves(Mixed(1, "relu")) == [1]  # b=None has no leaves


def test_flatten_one_level_with_tree_flatten_is_leaf() -> None:
    m = Pair([1, 2], None)
    children, treedef = jtu.tree_flatten(m, is_leaf=lambda x: x is not m)
    assert children == [[1, 2], None]
    assert jtu.tree_unflatten(treedef, children) == m


def test_unflatten_runs_no_init_converter_or_check() -> None:
    calls: list[str] = []

    class A(Module):
        x: Any = field(converter=lambda v: calls.append("convert") or v)

        def __check_init__(self) -> None:
            calls.append("check")

    a = A(1)
    calls.clear()
    b = jtu.tree_unflatten(jtu.tree_structure(a), [2])
    assert b.x == 2
    assert calls == []


@pytest.mark.parametrize("leaf", [None, object(), "str"])
def test_unflatten_accepts_any_leaves(leaf: Any) -> None:
    treedef = jtu.tree_structure(Pair(1, 2))
    p = jtu.tree_unflatten(treedef, [leaf, leaf])
    assert p.a is leaf
    assert p.b is leaf


def test_unflatten_accepts_tracers() -> None:
    def f(x: jax.Array) -> jax.Array:
        p = jtu.tree_unflatten(jtu.tree_structure(Pair(1, 2)), [x, x])
        return p.a + p.b

    assert jax.jit(f)(jnp.array(1.0)) == 2.0


def test_unflattened_module_is_frozen() -> None:
    import dataclasses

    p = jtu.tree_map(lambda x: x + 1, Pair(1, 2))
    assert (p.a, p.b) == (2, 3)
    with pytest.raises(dataclasses.FrozenInstanceError, match="cannot assign to field 'a'"):
        p.a = 5


def test_field_served_by_class_attribute_is_an_empty_placeholder_and_stays_unset() -> None:
    class A(Module):
        x: Any
        y: Any = 10

        def __init__(self, x: Any) -> None:
            self.x = x

    a = A(1)
    assert "y" not in a.__dict__
    leaves, treedef = jtu.tree_flatten(a)
    assert leaves == [1]
    b = jtu.tree_unflatten(treedef, [5])
    assert b.x == 5
    assert b.y == 10
    assert "y" not in b.__dict__
    assert jtu.tree_flatten_with_path(a)[0] == [((jtu.GetAttrKey("x"),), 1)]


def test_static_field_overridden_by_class_level_list_gives_hashable_treedef() -> None:
    class A(Module):
        x: Any
        opts: Any = field(static=True)

        def __init__(self, x: Any) -> None:
            self.x = x

    class B(A):
        opts: ClassVar[list] = [1, 2]

    b = B(jnp.arange(3.0))
    treedef = jtu.tree_structure(b)
    hash(treedef)
    out = jax.vmap(lambda m: m.x * 2)(B(jnp.ones((2, 3))))
    assert out.shape == (2, 3)


def test_vmap_and_scan_over_modules() -> None:
    stacked = Pair(jnp.arange(3.0), jnp.ones(3))
    out = jax.vmap(lambda p: Pair(p.a * 2, p.b))(stacked)
    assert isinstance(out, Pair)
    assert jnp.array_equal(out.a, jnp.array([0.0, 2.0, 4.0]))

    def step(carry: Pair, x: jax.Array) -> tuple[Pair, jax.Array]:
        return Pair(carry.a + x, carry.b), carry.a

    final, ys = jax.lax.scan(step, Pair(jnp.array(0.0), 1), jnp.arange(4.0))
    assert final.a == 6.0
    assert jnp.array_equal(ys, jnp.array([0.0, 0.0, 1.0, 3.0]))


def test_treedef_pickle_round_trip_gives_equal_treedef() -> None:
    m = Outer(Pair(1, 2), [Mixed(3, "relu")])
    leaves, treedef = jtu.tree_flatten(m)
    again = jtu.tree_structure(jtu.tree_unflatten(treedef, leaves))
    restored = pickle.loads(pickle.dumps(again))
    assert restored == treedef
    assert jtu.tree_unflatten(restored, leaves) == m


def test_treedef_with_absent_field_pickles() -> None:
    class_ = ModuleWithDefaultNotSet
    treedef = jtu.tree_structure(class_(1))
    assert pickle.loads(pickle.dumps(treedef)) == treedef


class ModuleWithDefaultNotSet(Module):
    x: Any
    y: Any = 2

    def __init__(self, x: Any) -> None:
        self.x = x


class Wrapper(Module):
    fn: Any

    @property
    def __wrapped__(self) -> Any:
        return self.fn


def documented(x: int) -> int:
    """Documented function."""
    return x


def test_wrapper_attributes_travel_in_aux_data_and_treedef_stays_hashable() -> None:
    w = module_update_wrapper(Wrapper(documented))
    leaves, treedef = jtu.tree_flatten(w)
    assert leaves == [documented]
    hash(treedef)  # the `__annotations__` dict must not break this
    again = jtu.tree_unflatten(treedef, leaves)
    assert again.__name__ == "documented"
    assert again.__doc__ == "Documented function."
    assert again.__annotations__ == {"x": "int", "return": "int"} or again.__annotations__ == {
        "x": int,
        "return": int,
    }
    assert jtu.tree_structure(again) == treedef
    assert pickle.loads(pickle.dumps(treedef)) == treedef


def test_module_with_wrapper_attributes_crosses_jit() -> None:
    w = module_update_wrapper(Wrapper(jnp.array(2.0)), documented)
    out = jax.jit(lambda m: m)(w)
    assert out.__name__ == "documented"
    assert out.fn == 2.0


def test_wrapper_attribute_set_in_init_travels_through_unflatten() -> None:
    class A(Module):
        x: Any

        def __init__(self, x: Any) -> None:
            self.x = x
            self.__doc__ = "per-instance doc"

    plain = Pair(1, 2)
    jtu.tree_flatten(plain)
    a = A(1)
    leaves, treedef = jtu.tree_flatten(a)
    again = jtu.tree_unflatten(treedef, leaves)
    assert again.__doc__ == "per-instance doc"
    assert again.x == 1


def test_class_level_value_assigned_later_still_flattens_instance_values() -> None:
    class A(Module):
        x: Any
        y: Any

    a = A(1, 2)
    assert jtu.tree_leaves(a) == [1, 2]
    A.y = 10  # type: ignore[misc]
    assert jtu.tree_leaves(a) == [1, 2]
    assert jtu.tree_leaves(A(3, 4)) == [3, 4]


def test_absent_field_without_class_value_flattens_as_placeholder() -> None:
    class A(Module):
        x: Any
        y: Any

    a = A(1, 2)
    hollow = object.__new__(A)
    hollow.__dict__["x"] = 5
    leaves, treedef = jtu.tree_flatten(hollow)
    assert leaves == [5]
    again = jtu.tree_unflatten(treedef, [6])
    assert again.x == 6
    assert not hasattr(again, "y")
    assert jtu.tree_structure(a) != treedef


def test_init_false_field_served_by_its_class_default_is_a_placeholder() -> None:
    class A(Module):
        x: Any
        y: int = field(init=False, default=2)

    a = A(1)
    assert "y" not in vars(a)
    leaves, treedef = jtu.tree_flatten(a)
    assert leaves == [1]
    again = jtu.tree_unflatten(treedef, [5])
    assert (again.x, again.y) == (5, 2)
    assert "y" not in vars(again)


class DefaultedByCustomInit(Module):
    """A custom `__init__` and a class-level default: may leave `y` unset, so dict mode."""

    x: Any
    y: Any = 2
    tag: str = field(static=True, default="t")

    def __init__(self, x: Any, y: Any = None, tag: str | None = None) -> None:
        self.x = x
        if y is not None:
            self.y = y
        if tag is not None:
            self.tag = tag


def test_dict_mode_instances_with_every_field_set_round_trip_exactly() -> None:
    full = DefaultedByCustomInit(1, 3, tag="u")
    leaves, treedef = jtu.tree_flatten(full)
    assert leaves == [1, 3]
    assert treedef.node_data() == (DefaultedByCustomInit, ("u",))
    again = jtu.tree_unflatten(treedef, [4, 5])
    assert vars(again) == {"x": 4, "y": 5, "tag": "u"}
    assert jtu.tree_structure(again) == treedef


def test_dict_mode_instances_missing_a_field_keep_it_absent_beside_full_ones() -> None:
    # Instances of one class, some with every field set and some not: each flattens
    # by what it holds, whatever order they come in.
    trees = [
        DefaultedByCustomInit(1, 3, tag="u"),
        DefaultedByCustomInit(1),
        DefaultedByCustomInit(1, tag="u"),
    ]
    assert [jtu.tree_leaves(t) for t in trees] == [[1, 3], [1], [1]]
    leaves, treedef = jtu.tree_flatten(trees)
    again = jtu.tree_unflatten(treedef, [10 * leaf for leaf in leaves])
    assert [vars(t) for t in again] == [
        {"x": 10, "y": 30, "tag": "u"},
        {"x": 10},
        {"x": 10, "tag": "u"},
    ]
    assert (again[1].y, again[1].tag) == (2, "t")  # served by the class, as before


def test_dict_mode_instance_with_an_extra_attribute_flattens_its_fields_only() -> None:
    class Box(DefaultedByCustomInit):
        pass

    full = Box(1, 3, tag="u")
    object.__setattr__(full, "__orig_class__", Box)  # as `typing` sets it for `Box[int]()`
    leaves, treedef = jtu.tree_flatten(full)
    assert leaves == [1, 3]
    assert treedef == jtu.tree_structure(Box(7, 8, tag="u"))
    assert vars(jtu.tree_unflatten(treedef, leaves)) == {"x": 1, "y": 3, "tag": "u"}
    # As many attributes as fields, yet `tag` is absent: still a placeholder.
    hollow = Box(1, 3)
    object.__setattr__(hollow, "__orig_class__", Box)
    leaves, treedef = jtu.tree_flatten(hollow)
    assert leaves == [1, 3]
    assert treedef == jtu.tree_structure(Box(7, 8))
    assert vars(jtu.tree_unflatten(treedef, leaves)) == {"x": 1, "y": 3}


def test_unflatten_sets_exactly_the_fields_in_declaration_order() -> None:
    m = Mixed(jnp.ones(2), "relu", b=jnp.zeros(2))
    leaves, treedef = jtu.tree_flatten(m)
    again = jtu.tree_unflatten(treedef, leaves)
    assert list(vars(again)) == ["w", "b", "act", "tag"]  # dynamic fields, then static
    assert (again.act, again.tag) == ("relu", "t")
    assert again.w is leaves[0] and again.b is leaves[1]
    assert jtu.tree_structure(again) == treedef


def test_unflatten_sets_slotted_and_dict_fields_together() -> None:
    class Half(Module):
        __slots__ = ("x",)
        x: Any
        y: Any
        s: str = field(static=True, default="k")

    leaves, treedef = jtu.tree_flatten(Half(1, 2))
    assert leaves == [1, 2]
    again = jtu.tree_unflatten(treedef, [3, 4])
    assert (again.x, again.y, again.s) == (3, 4, "k")
    assert vars(again) == {"y": 4, "s": "k"}  # `x` lives in its slot


def test_classes_with_the_same_fields_flatten_and_unflatten_as_themselves() -> None:
    # Classes with one field layout reuse one compiled flatten/unflatten: each must
    # still rebuild instances of its own class, with its own values.
    def make(name: str) -> type[Module]:
        class Layer(Module):
            weight: Any
            bias: Any
            act: str = field(static=True, default="relu")

        Layer.__qualname__ = name
        return Layer

    first, second = make("First"), make("Second")
    a, b = first(1, 2, act="tanh"), second(3, 4)
    (leaves_a, treedef_a), (leaves_b, treedef_b) = jtu.tree_flatten(a), jtu.tree_flatten(b)
    assert (leaves_a, leaves_b) == ([1, 2], [3, 4])
    assert treedef_a != treedef_b
    again_a, again_b = jtu.tree_unflatten(treedef_a, [5, 6]), jtu.tree_unflatten(treedef_b, [7, 8])
    assert type(again_a) is first and type(again_b) is second
    assert (again_a.weight, again_a.bias, again_a.act) == (5, 6, "tanh")
    assert (again_b.weight, again_b.bias, again_b.act) == (7, 8, "relu")
