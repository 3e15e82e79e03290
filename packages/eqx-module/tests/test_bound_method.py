"""`BoundMethod` (spec §3.6)."""

import types
from typing import Any

import jax
import jax.numpy as jnp
import jax.tree_util as jtu

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
