"""filter_custom_vjp."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from eqx_filter import filter_custom_vjp
from eqx_tree import EqxDeprecationWarning


def make(record):
    @filter_custom_vjp
    def f(pair, scale, name):
        x, k = pair
        return {"out": x * scale, "name": name, "k": k}

    @f.def_fwd
    def f_fwd(perturbed, pair, scale, name):
        record.append(("fwd", perturbed))
        return f(pair, scale, name), scale

    @f.def_bwd
    def f_bwd(residuals, grad_out, perturbed, pair, scale, name):
        record.append(("bwd", grad_out["name"], grad_out["k"]))
        return (grad_out["out"] * residuals * 10.0, None)

    return f


def test_primal_call_returns_non_array_outputs():
    f = make([])
    out = f((jnp.array(2.0), jnp.array(1)), jnp.array(3.0), "n")
    assert float(out["out"]) == 6.0
    assert out["name"] == "n"


def test_gradient_comes_from_the_backward_rule():
    record = []
    f = make(record)
    grad = jax.grad(lambda x: f((x, jnp.array(1)), jnp.array(3.0), "n")["out"])(jnp.array(2.0))
    assert float(grad) == 30.0
    fwd = next(r for r in record if r[0] == "fwd")
    assert fwd[1] == (True, False)  # one bool per leaf of vjp_arg
    assert ("bwd", None, None) in record


def test_differentiating_another_argument_raises():
    f = make([])
    with pytest.raises(RuntimeError, match=r"`\*args` and `\*\*kwargs` to `filter_custom_vjp`"):
        jax.grad(lambda s: f((jnp.array(2.0), jnp.array(1)), s, "n")["out"])(jnp.array(3.0))


def test_backward_rule_with_the_wrong_structure_raises():
    @filter_custom_vjp
    def g(x):
        return x * 2

    g.def_fwd(lambda perturbed, x: (g(x), None))
    g.def_bwd(lambda res, ct, perturbed, x: (ct, ct))
    with pytest.raises(RuntimeError, match="must have the same structure"):
        jax.grad(g)(jnp.array(1.0))


def test_rules_may_be_defined_in_either_order():
    @filter_custom_vjp
    def g(x):
        return x * 2

    g.def_bwd(lambda res, ct, perturbed, x: ct * 5)
    g.def_fwd(lambda perturbed, x: (g(x), None))
    assert float(jax.grad(g)(jnp.array(1.0))) == 5.0


def test_calling_before_the_rules_exist_raises_naming_the_function():
    @filter_custom_vjp
    def unfinished(x):
        return x

    unfinished.def_fwd(lambda perturbed, x: (x, None))
    with pytest.raises(RuntimeError, match="unfinished"):
        unfinished(jnp.array(1.0))


def test_legacy_defvjp_warns_and_works():
    @filter_custom_vjp
    def g(x, y):
        return x * y

    with pytest.warns(EqxDeprecationWarning, match="def_fwd"):
        g.defvjp(lambda x, y: (g(x, y), y), lambda res, ct, x, y: ct * res)
    np.testing.assert_allclose(jax.grad(lambda x: g(x, jnp.array(4.0)))(jnp.array(1.0)), 4.0)


def test_none_inside_vjp_arg_keeps_gradients_aligned():
    @filter_custom_vjp
    def f(v, y):
        a, _, b = v
        return a * b * y

    @f.def_fwd
    def f_fwd(perturbed, v, y):
        return f(v, y), None

    @f.def_bwd
    def f_bwd(residuals, grad_out, perturbed, v, y):
        a, _, b = v
        return (grad_out * b * y, None, grad_out * a * y)

    x, y = jnp.array(2.0), jnp.array(3.0)
    grads = jax.grad(lambda v: f(v, y))((x, None, y))
    expected = jax.grad(lambda v: v[0] * v[2] * y)((x, None, y))
    assert grads[1] is None
    np.testing.assert_allclose(grads[0], expected[0])
    np.testing.assert_allclose(grads[2], expected[2])  # 6.0, not the zero of a shifted leaf


def test_missing_rules_message_names_each_missing_method():
    f = filter_custom_vjp(lambda x: x)
    with pytest.raises(RuntimeError, match=r"`\.def_fwd\(\.\.\.\)` and `\.def_bwd\(\.\.\.\)`"):
        f(jnp.array(1.0))


def test_nested_module_vjp_arg_with_keyword_arrays_under_jit_and_vmap():
    from eqx_module import Module

    class Inner(Module):
        w: jax.Array
        name: str

    class Outer(Module):
        inner: Inner
        count: int

    @filter_custom_vjp
    def f(model, x, *, bias):
        return {"y": jnp.sum(model.inner.w * x) + bias, "name": model.inner.name}

    @f.def_fwd
    def f_fwd(perturbed, model, x, *, bias):
        assert perturbed == Outer(Inner(True, False), False)
        return f(model, x, bias=bias), x

    @f.def_bwd
    def f_bwd(residuals, grad_out, perturbed, model, x, *, bias):
        assert grad_out["name"] is None
        return Outer(Inner(grad_out["y"] * residuals, None), None)

    model = Outer(Inner(jnp.array([1.0, 2.0]), "inner"), 3)
    x = jnp.array([0.5, 4.0])
    bias = jnp.array(1.0)

    def loss(m):
        return f(m, x, bias=bias)["y"]

    grads = jax.grad(lambda w: loss(Outer(Inner(w, "inner"), 3)))(model.inner.w)
    np.testing.assert_allclose(grads, x)
    jitted = jax.jit(jax.grad(lambda w: loss(Outer(Inner(w, "inner"), 3))))(model.inner.w)
    np.testing.assert_allclose(jitted, x)
    batched = jax.vmap(jax.grad(lambda w: loss(Outer(Inner(w, "inner"), 3))))(jnp.ones((3, 2)))
    np.testing.assert_allclose(batched, jnp.broadcast_to(x, (3, 2)))
    out = f(model, x, bias=bias)
    assert out["name"] == "inner"
    np.testing.assert_allclose(out["y"], jnp.sum(model.inner.w * x) + bias)


def test_python_float_arguments_under_jax_grad():
    # JAX hands rules the values of Python scalars given to `jax.grad` as Python floats
    # (0.4.38) or as float-subclassing literal arrays (0.10): both still count as floats.
    @filter_custom_vjp
    def g(x, y):
        return x * y

    g.def_fwd(lambda perturbed, x, y: (g(x, y), y))
    g.def_bwd(lambda residuals, grad_out, perturbed, x, y: grad_out * residuals * 10.0)
    assert float(jax.grad(g)(2.0, 3.0)) == 30.0
    with pytest.raises(RuntimeError, match=r"`\*args` and `\*\*kwargs` to `filter_custom_vjp`"):
        jax.grad(lambda y: g(jnp.array(2.0), y))(3.0)
