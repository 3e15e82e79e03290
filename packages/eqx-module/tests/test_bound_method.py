"""`BoundMethod` and method binding on Modules."""

import doctest
import gc
import inspect
import pickle
import sys
import types
import weakref
from collections.abc import Callable
from typing import Any

import jax
import jax.numpy as jnp
import jax.tree_util as jtu

import eqx_module
from eqx_module import BoundMethod, Module


class Scale(Module):
    factor: Any

    def apply(self, x: Any) -> Any:
        """Multiply by the factor."""
        return self.factor * x


def test_bound_method_fields_func_static_and_self_child() -> None:
    s = Scale(jnp.array(2.0))
    method = s.apply
    leaves_with_paths, treedef = jtu.tree_flatten_with_path(method)
    assert [jtu.keystr(p) for p, _ in leaves_with_paths] == [".__self__.factor"]
    assert jtu.tree_unflatten(treedef, [jnp.array(3.0)])(1.0) == 3.0


def test_bound_method_copies_wrapper_attributes_of_func() -> None:
    method = Scale(1).apply
    assert method.__name__ == "apply"
    assert method.__qualname__ == "Scale.apply"
    assert method.__doc__ == "Multiply by the factor."
    assert method.__module__ == __name__


def test_explicitly_constructed_bound_method_matches_attribute_access() -> None:
    s = Scale(2)
    built = BoundMethod(Scale.apply, s)
    assert built(3) == 6
    assert built.__name__ == "apply"
    assert built == s.apply


def test_wrapped_is_the_plain_bound_method() -> None:
    s = Scale(2)
    wrapped = s.apply.__wrapped__
    assert isinstance(wrapped, types.MethodType)
    assert wrapped.__self__ is s
    assert wrapped(4) == 8


def test_bound_method_under_jit_equals_plain_function() -> None:
    s = Scale(jnp.array(3.0))
    out = jax.jit(lambda f, x: f(x))(s.apply, jnp.array(2.0))
    assert out == Scale.apply(s, jnp.array(2.0))


def test_grad_through_bound_method_equals_plain_function() -> None:
    s = Scale(jnp.array(3.0))
    g_method = jax.grad(lambda f: f(jnp.array(2.0)))(s.apply)
    g_plain = jax.grad(lambda m: Scale.apply(m, jnp.array(2.0)))(s)
    assert isinstance(g_method, BoundMethod)
    assert g_method.__self__.factor == g_plain.factor == 2.0


def test_jit_of_zero_argument_bound_method() -> None:
    class A(Module):
        x: Any

        def f(self) -> Any:
            return self.x + 1

    assert jax.jit(lambda f: f())(A(jnp.array(1.0)).f) == 2.0


# ----------------------------------------------------------------------- methods


class Counter(Module):
    step: Any

    def add(self, x: Any) -> Any:
        """Adds the step to `x`.

        >>> Counter(1).add(2)
        3
        """
        return x + self.step

    @property
    def doubled(self) -> Any:
        """Twice the step.

        >>> Counter(2).doubled
        4
        """
        return 2 * self.step

    @classmethod
    def make(cls) -> "Counter":
        """A default counter.

        >>> Counter.make().step
        1
        """
        return cls(1)

    @staticmethod
    def helper() -> int:
        """A static helper.

        >>> Counter.helper()
        7
        """
        return 7


def test_instance_method_access_returns_bound_method() -> None:
    c = Counter(1)
    assert isinstance(c.add, eqx_module.BoundMethod)
    assert c.add(2) == 3
    assert c.add.__self__ is c
    assert c.add.__func__ is Counter.add


def test_class_access_returns_the_function() -> None:
    assert inspect.isfunction(Counter.add)
    assert Counter.add(Counter(1), 2) == 3


def test_function_assigned_to_class_later_is_bound_and_class_access_is_identity() -> None:
    class A(Module):
        x: int

    def f2(self: A) -> int:
        return self.x + 100

    A.f = f2  # type: ignore[attr-defined]
    assert A.f is f2  # type: ignore[attr-defined]
    assert isinstance(A(1).f, eqx_module.BoundMethod)  # type: ignore[attr-defined]
    assert A(1).f() == 101  # type: ignore[attr-defined]


def test_properties_classmethods_staticmethods_and_dunders_are_not_bound() -> None:
    c = Counter(3)
    assert c.doubled == 6
    assert Counter.make().step == 1
    assert c.helper() == 7
    assert not isinstance(c.__repr__, eqx_module.BoundMethod)


def test_function_stored_in_field_is_not_bound() -> None:
    class A(Module):
        fn: Callable

    a = A(jnp.sin)
    assert a.fn is jnp.sin

    def plain(x: Any) -> Any:
        return x

    assert A(plain).fn is plain


def test_function_field_default_is_not_bound() -> None:
    def plain(x: Any) -> Any:
        return x

    class A(Module):
        fn: Callable = plain

    assert A().fn is plain
    assert A.fn is plain


def test_bound_method_kept_as_class_attribute_works() -> None:
    class A(Module):
        x: int

        def add(self, y: int) -> int:
            return self.x + y

    class B(Module):
        add = A(3).add

    assert B().add(1) == 4


def test_bound_methods_compare_equal() -> None:
    assert Counter(1).add == Counter(1).add
    assert hash(Counter(1).add) == hash(Counter(1).add)


def test_bound_method_is_a_pytree_under_jit_and_grad() -> None:
    c = Counter(jnp.array(2.0))
    out = jax.jit(lambda f: f(3.0))(c.add)
    assert out == 5.0
    grad = jax.grad(lambda m: m.add(3.0))(c)
    assert isinstance(grad, Counter)
    assert grad.step == 1.0


class _JitLike(Module):
    """Stands in for a `filter_jit` wrapper: a Module with `__get__` and wrapper attributes."""

    fn: Callable

    @property
    def __wrapped__(self) -> Callable:
        return self.fn

    def __get__(self, instance: Any, owner: Any = None) -> Any:
        if instance is None:
            return self
        return eqx_module.Partial(self, instance)

    def __call__(self, *args: Any) -> Any:
        return self.fn(*args)


def _jit_like(fn: Callable) -> Any:
    return eqx_module.module_update_wrapper(_JitLike(fn))


class WithDecoratedMethod(Module):
    value: int

    @_jit_like
    def triple(self) -> int:
        """Three times the value.

        >>> WithDecoratedMethod(2).triple()
        6
        """
        return 3 * self.value


def test_doctest_finds_docstrings_of_wrapper_decorated_methods() -> None:

    finder = doctest.DocTestFinder()
    tests = finder.find(WithDecoratedMethod, module=sys.modules[__name__])
    assert "triple" in {t.name.split(".")[-1] for t in tests}
    assert WithDecoratedMethod(2).triple() == 6


def test_doctest_finds_method_docstrings() -> None:
    finder = doctest.DocTestFinder()

    names = {t.name.split(".")[-1] for t in finder.find(Counter, module=sys.modules[__name__])}
    assert {"add", "doubled", "make", "helper"} <= names
    runner = doctest.DocTestRunner()
    for test in finder.find(Counter, module=sys.modules[__name__]):
        runner.run(test)
    assert runner.failures == 0


# ------------------------------------------------- jit of a method, hashing, flattening


def test_jax_jit_of_a_bound_method_as_the_function() -> None:
    s = Scale(jnp.array(3.0))
    jitted = jax.jit(s.apply)
    assert jitted(jnp.array(2.0)) == 6.0
    assert jitted(jnp.array(4.0)) == 12.0


def test_jax_grad_of_a_bound_method_as_the_function() -> None:
    s = Scale(jnp.array(3.0))
    assert jax.grad(s.apply)(jnp.array(2.0)) == 3.0


def test_bound_method_with_array_leaves_hashes_by_instance_identity() -> None:
    s = Scale(jnp.array(3.0))
    assert hash(s.apply) == hash(s.apply)
    assert s.apply == s.apply
    assert {s.apply: 1}[s.apply] == 1


def test_bound_method_with_hashable_leaves_hashes_by_value() -> None:
    assert hash(Scale(2).apply) == hash(Scale(2).apply)
    assert hash(Scale(2).apply) != hash(Scale(3).apply)


def test_flatten_unflatten_restores_wrapper_attributes() -> None:
    s = Scale(jnp.array(2.0))
    treedef = jtu.tree_structure(s.apply)
    rebuilt = jtu.tree_unflatten(treedef, [jnp.array(5.0)])
    assert isinstance(rebuilt, BoundMethod)
    assert rebuilt.__name__ == "apply"
    assert rebuilt.__qualname__ == "Scale.apply"
    assert rebuilt.__doc__ == "Multiply by the factor."
    assert rebuilt.__module__ == __name__
    assert rebuilt.__func__ is Scale.apply
    assert rebuilt(2.0) == 10.0


def test_accessed_and_constructed_bound_methods_have_equal_treedefs() -> None:
    s = Scale(2)
    accessed = jtu.tree_structure(s.apply)
    assert jtu.tree_structure(BoundMethod(Scale.apply, s)) == accessed
    assert jtu.tree_structure(jtu.tree_map(lambda x: x, s.apply)) == accessed
    assert jtu.tree_structure(Scale(3).apply) == accessed
    assert jtu.tree_structure(Counter(2).add) != accessed


def test_bound_method_treedef_pickles() -> None:
    treedef = jtu.tree_structure(Scale(2).apply)
    assert pickle.loads(pickle.dumps(treedef)) == treedef


def test_changed_wrapper_attributes_survive_flatten() -> None:
    def other(x: Any) -> Any:
        """Other docs."""
        return x

    method = eqx_module.module_update_wrapper(Scale(2).apply, other)
    assert method.__name__ == "other"
    assert jtu.tree_structure(method) != jtu.tree_structure(Scale(2).apply)
    rebuilt = jtu.tree_map(lambda x: x, method)
    assert rebuilt.__name__ == "other"
    assert rebuilt.__doc__ == "Other docs."
    assert rebuilt(3) == 6


def test_bound_method_of_a_callable_object_flattens() -> None:
    partial = eqx_module.Partial(lambda self, x: self.factor + x)
    method = BoundMethod(partial, Scale(jnp.array(1.0)))
    leaves, treedef = jtu.tree_flatten(method)
    assert len(leaves) == 1
    assert jtu.tree_unflatten(treedef, leaves)(2.0) == 3.0


def test_a_model_whose_method_was_accessed_is_freed_without_the_cyclic_gc() -> None:
    # A bound method must not be cached on its instance: that would be a reference
    # cycle, and the model's (device) arrays would wait for the cyclic collector.
    model = Scale(jnp.array(2.0))
    method = model.apply
    assert method(3.0) == 6.0
    alive = weakref.ref(model)
    was_enabled = gc.isenabled()
    gc.disable()
    try:
        del model
        assert alive() is not None  # the method still holds its instance
        del method
        assert alive() is None
    finally:
        if was_enabled:
            gc.enable()
