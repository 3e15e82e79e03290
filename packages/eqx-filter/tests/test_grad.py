"""filter_grad / filter_value_and_grad."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from eqx_filter import filter_grad, filter_jit, filter_value_and_grad
from eqx_module import Module


class Model(Module):
    weight: jax.Array
    steps: jax.Array
    activation: object
    scale: float


def loss(model, x, *, power=2):
    return jnp.sum(model.activation(model.weight * x) ** power) * model.scale


def make_model():
    return Model(jnp.array([1.0, -2.0, 3.0]), jnp.array([1, 2]), jnp.tanh, 2.0)


def test_grad_matches_jax_grad_and_gives_none_for_non_inexact_leaves():
    model = make_model()
    x = jnp.array([0.5, 0.1, -0.3])
    grads = filter_grad(loss)(model, x, power=3)
    expected = jax.grad(lambda w: jnp.sum(jnp.tanh(w * x) ** 3) * 2.0)(model.weight)
    np.testing.assert_allclose(grads.weight, expected, rtol=1e-6)
    assert isinstance(grads, Model)
    assert grads.steps is None
    assert grads.activation is None
    assert grads.scale is None  # a Python float is static, not differentiated


def test_value_and_grad_returns_the_value_too():
    model = make_model()
    x = jnp.ones(3)
    value, grads = filter_value_and_grad(loss)(model, x)
    np.testing.assert_allclose(value, loss(model, x), rtol=1e-6)
    np.testing.assert_allclose(grads.weight, filter_grad(loss)(model, x).weight)


def test_has_aux_returns_the_auxiliary_output():
    def f(x, label):
        return jnp.sum(x**2), {"label": label, "x": x}

    (value, aux), grad = filter_value_and_grad(f, has_aux=True)(jnp.ones(2), "l")
    assert float(value) == 2.0
    assert aux["label"] == "l"
    np.testing.assert_array_equal(grad, jnp.full(2, 2.0))
    grad2, aux2 = filter_grad(f, has_aux=True)(jnp.ones(2), "l")
    np.testing.assert_array_equal(grad2, grad)
    assert aux2["label"] == "l"


def test_only_the_first_argument_is_differentiated():
    grad = filter_grad(lambda x, y: jnp.sum(x * y))(jnp.ones(2), jnp.arange(2.0))
    np.testing.assert_array_equal(grad, jnp.arange(2.0))


def test_decorator_form_with_options():
    @filter_grad(has_aux=True)
    def f(x):
        return jnp.sum(x), "aux"

    grad, aux = f(jnp.ones(2))
    np.testing.assert_array_equal(grad, jnp.ones(2))
    assert aux == "aux"


def test_grad_under_filter_jit_matches_eager():
    model = make_model()
    x = jnp.ones(3)
    eager = filter_grad(loss)(model, x)
    jitted = filter_jit(filter_grad(loss))(model, x)
    np.testing.assert_allclose(jitted.weight, eager.weight, rtol=1e-6)


def test_grad_wrapper_binds_self_as_a_method():
    class Quadratic(Module):
        a: jax.Array

        @filter_grad
        def grad_of(self, x):
            return jnp.sum(self.a * x**2)

    q = Quadratic(jnp.array(3.0))
    grads = q.grad_of(jnp.array(2.0))
    assert float(grads.a) == 4.0


def test_argnums_is_rejected_with_a_suggestion():
    with pytest.raises(ValueError, match="tuple"):
        filter_grad(loss, argnums=1)
    with pytest.raises(ValueError, match="argnums"):
        filter_value_and_grad(loss, argnums=(0, 1))


@pytest.mark.parametrize("name", ["arg", "filter_spec"])
def test_pre_0_10_keywords_are_rejected(name):
    with pytest.raises(ValueError, match=name):
        filter_grad(loss, **{name: None})


def test_calling_without_a_positional_argument_raises_type_error():
    with pytest.raises(TypeError, match="Functions wrapped with `filter_grad`") as info:
        filter_grad(lambda x: jnp.sum(x))(x=jnp.ones(2))
    assert "only keyword arguments ('x')" in str(info.value)
    with pytest.raises(
        TypeError, match=r"Functions wrapped with `filter_value_and_grad`.*positional"
    ):
        filter_value_and_grad(lambda x: jnp.sum(x))()


def test_a_tuple_first_argument_with_nested_modules_and_non_arrays():
    class Inner(Module):
        w: jax.Array
        name: str

    class Outer(Module):
        inner: Inner
        fn: object
        bias: object

    def f(xs, k):
        outer, y, _label, count = xs
        return jnp.sum(outer.fn(outer.inner.w * y)) * k + count

    outer = Outer(Inner(jnp.array([0.5, 1.5]), "in"), jnp.sin, None)
    y = jnp.array([2.0, 3.0])
    (g_outer, g_y, g_label, g_count) = filter_grad(f)((outer, y, "lbl", 4), jnp.array(2.0))
    e_w, e_y = jax.grad(lambda w, y: jnp.sum(jnp.sin(w * y)) * 2.0, argnums=(0, 1))(
        outer.inner.w, y
    )
    np.testing.assert_allclose(g_outer.inner.w, e_w, rtol=1e-6)
    np.testing.assert_allclose(g_y, e_y, rtol=1e-6)
    assert g_outer.inner.name is None and g_outer.fn is None and g_outer.bias is None
    assert g_label is None and g_count is None


def test_gradkwargs_are_passed_to_jax_value_and_grad():
    z = jnp.array(1.0 + 2.0j)
    grad = filter_grad(lambda z: z**2, holomorphic=True)(z)
    assert complex(grad) == complex(jax.grad(lambda z: z**2, holomorphic=True)(z))


def test_jaxpr_equals_that_of_jax_value_and_grad():
    def g(x, y):
        return jnp.sum(jnp.sin(x) * y)

    x = jnp.array([0.5, 1.0])
    ours = jax.make_jaxpr(filter_value_and_grad(g))(x, x)
    assert str(ours) == str(jax.make_jaxpr(jax.value_and_grad(g))(x, x))
