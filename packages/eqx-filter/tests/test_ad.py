"""filter_jvp, filter_vjp, filter_jacfwd, filter_jacrev, filter_hessian."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from eqx_filter import (
    filter_hessian,
    filter_jacfwd,
    filter_jacrev,
    filter_jit,
    filter_jvp,
    filter_vjp,
)


def f(x, mode, n):
    out = jnp.sin(x) * n if mode == "sin" else x * n
    return {"out": out, "mode": mode, "count": jnp.arange(2)}


def test_jvp_matches_jax_jvp_with_non_array_primals():
    x, t = jnp.array([0.1, 0.2]), jnp.array([1.0, 0.5])
    out, t_out = filter_jvp(f, (x, "sin", 3), (t, None, None))
    expected, expected_t = jax.jvp(lambda x: jnp.sin(x) * 3, (x,), (t,))
    np.testing.assert_allclose(out["out"], expected, rtol=1e-6)
    np.testing.assert_allclose(t_out["out"], expected_t, rtol=1e-6)
    assert out["mode"] == "sin"
    assert t_out["mode"] is None
    assert t_out["count"] is None  # integer output: not differentiable


def test_jvp_none_tangent_is_a_symbolic_zero_for_float_primals():
    out, t_out = filter_jvp(
        lambda x, y: x * y, (jnp.array(2.0), jnp.array(3.0)), (None, jnp.array(1.0))
    )
    assert float(out) == 6.0
    assert float(t_out) == 2.0


def test_jvp_kwargs_are_not_differentiated():
    _out, t_out = filter_jvp(
        lambda x, *, y: x * y, (jnp.array(2.0),), (jnp.array(1.0),), y=jnp.array(5.0)
    )
    assert float(t_out) == 5.0


def test_jvp_works_under_jit():
    @filter_jit
    def run(x, t):
        return filter_jvp(lambda x: x**2, (x,), (t,))

    _out, t_out = run(jnp.array(3.0), jnp.array(1.0))
    assert float(t_out) == 6.0


def test_jvp_rejects_mismatched_structures():
    with pytest.raises(
        ValueError, match="primals and tangents must have the same pytree structure"
    ):
        filter_jvp(lambda x, y: x, (jnp.ones(2), 1.0), (jnp.ones(2),))


def test_jvp_rejects_an_int_tangent_for_a_float_primal():
    with pytest.raises(TypeError, match="dtype int32"):
        filter_jvp(lambda x: x, (jnp.ones(2),), (jnp.ones(2, dtype=jnp.int32),))


def test_jvp_rejects_a_tangent_that_is_not_a_float():
    for tangent in ("a", 1):
        with pytest.raises(TypeError, match=r"tangent at `primals\[0\]` must be a floating"):
            filter_jvp(lambda x: x, (jnp.ones(()),), (tangent,))


def test_jvp_rejects_a_tangent_of_another_shape_naming_its_path():
    with pytest.raises(
        ValueError, match=r"`primals\[1\]` has shape \(\), but the primal has shape \(2,\)"
    ):
        filter_jvp(lambda x, y: y, (None, jnp.ones(2)), (None, 1.0))


def test_jvp_takes_python_float_primals_and_tangents_as_jax_jvp_does():
    out, t_out = filter_jvp(lambda x: 2 * x + 1, (1.0,), (1.0,))
    expected, expected_t = jax.jvp(lambda x: 2 * x + 1, (1.0,), (1.0,))
    assert isinstance(out, jax.Array) and isinstance(t_out, jax.Array)
    assert (float(out), float(t_out)) == (float(expected), float(expected_t)) == (3.0, 2.0)
    assert (out.dtype, t_out.dtype) == (expected.dtype, expected_t.dtype)
    # A Python float tangent for an array primal, and an array tangent for a float.
    out, t_out = filter_jvp(lambda x, y: x * y, (jnp.array(3.0), 2.0), (1.0, jnp.array(0.5)))
    assert (float(out), float(t_out)) == (6.0, 2.0 + 1.5)
    # A Python float primal without a tangent stays a Python float.
    out, t_out = filter_jvp(lambda x, y: (x * y, y), (jnp.array(3.0), 2.0), (1.0, None))
    assert out[1] == 2.0 and type(out[1]) is float and t_out[1] is None
    assert float(t_out[0]) == 2.0


def test_jvp_of_python_floats_inside_filter_jit_and_inside_another_filter_jvp():
    @filter_jit
    def run(x):  # `x` is a Python float: static under filter_jit
        return filter_jvp(lambda y: y**2, (x,), (1.0,))

    out, t_out = run(3.0)
    assert (float(out), float(t_out)) == (9.0, 6.0)

    # d/dy [d/dx (x**2 * y) at x=1] = d/dy [2y] = 2, at y=3.0 (value 6).
    def inner(y):
        return filter_jvp(lambda x: x**2 * y, (1.0,), (1.0,))[1]

    out, t_out = filter_jvp(inner, (3.0,), (1.0,))
    expected, expected_t = jax.jvp(
        lambda y: jax.jvp(lambda x: x**2 * y, (1.0,), (1.0,))[1], (3.0,), (1.0,)
    )
    assert (float(out), float(t_out)) == (float(expected), float(expected_t)) == (6.0, 2.0)


def test_jvp_rejects_a_tangent_on_an_int_primal():
    with pytest.raises(TypeError, match="not a floating-point array"):
        filter_jvp(lambda x: x, (jnp.ones(2, dtype=jnp.int32),), (jnp.ones(2),))


def test_vjp_matches_jax_vjp_and_skips_non_differentiable_primals():
    x = jnp.array([0.1, 0.2])
    out, vjp_fn = filter_vjp(f, x, "sin", 3)
    ct = {"out": jnp.array([1.0, 2.0]), "mode": None, "count": None}
    grads = vjp_fn(ct)
    _, jax_vjp = jax.vjp(lambda x: jnp.sin(x) * 3, x)
    np.testing.assert_allclose(grads[0], jax_vjp(ct["out"])[0], rtol=1e-6)
    assert grads[1:] == (None, None)
    assert out["mode"] == "sin"


def test_vjp_with_aux_returns_it_third():
    _out, vjp_fn, aux = filter_vjp(lambda x: (x * 2, "aux"), jnp.ones(2), has_aux=True)
    assert aux == "aux"
    np.testing.assert_array_equal(vjp_fn(jnp.ones(2))[0], jnp.full(2, 2.0))


def test_jacfwd_and_jacrev_match_jax_on_the_inexact_leaves():
    def g(pair, n):
        x, k = pair
        return jnp.sin(x) * n + k

    pair = (jnp.array([0.1, 0.2, 0.3]), jnp.array(1))
    expected = jax.jacfwd(lambda x: jnp.sin(x) * 2 + 1)(pair[0])
    fwd = filter_jacfwd(g)(pair, 2)
    rev = filter_jacrev(g)(pair, 2)
    np.testing.assert_allclose(fwd[0], expected, rtol=1e-6)
    np.testing.assert_allclose(rev[0], expected, rtol=1e-6)
    assert fwd[1] is None
    assert rev[1] is None


def test_jacobians_with_aux():
    jac, aux = filter_jacrev(lambda x: (x**2, "aux"), has_aux=True)(jnp.array([1.0, 2.0]))
    np.testing.assert_allclose(jac, jnp.diag(jnp.array([2.0, 4.0])))
    assert aux == "aux"


def test_hessian_matches_jax_hessian():
    def g(x):
        return jnp.sum(x**3)

    x = jnp.array([1.0, 2.0])
    np.testing.assert_allclose(filter_hessian(g)(x), jax.hessian(g)(x), rtol=1e-6)


def test_jvp_output_tangent_is_none_where_it_is_symbolically_zero():
    x, y = jnp.array([1.0, 2.0]), jnp.array(3.0)

    def g(x, y):
        return x * y, y, jnp.ones(2), jax.lax.stop_gradient(x)

    out, t_out = filter_jvp(g, (x, y), (jnp.ones(2), None))
    np.testing.assert_array_equal(t_out[0], jnp.full(2, 3.0))
    assert t_out[1] is None  # unperturbed input returned as is
    assert t_out[2] is None  # constant
    assert t_out[3] is None  # stop_gradient
    np.testing.assert_array_equal(out[1], y)


def test_jvp_with_nothing_perturbed_gives_none_tangents():
    out, t_out = filter_jvp(lambda x: {"a": x * 2, "b": "s"}, (jnp.ones(2),), (None,))
    np.testing.assert_array_equal(out["a"], jnp.full(2, 2.0))
    assert out["b"] == "s"
    assert t_out == {"a": None, "b": None}


def test_jvp_jaxpr_equals_jax_jvp():
    x = jnp.array([0.5, 1.0])

    def g(x):
        return jnp.sin(x) * 2.0, x**2

    ours = jax.make_jaxpr(lambda x, t: filter_jvp(g, (x,), (t,)))(x, x)
    plain = jax.make_jaxpr(lambda x, t: jax.jvp(g, (x,), (t,)))(x, x)
    assert str(ours) == str(plain)


def test_jvp_symbolic_zeros_inside_an_outer_transform():
    y = jnp.array(3.0)

    def inner_tangent(x):
        _, t_out = filter_jvp(lambda a: (a * y, y), (x,), (jnp.ones(2),))
        assert t_out[1] is None
        return t_out[0]

    x = jnp.array([1.0, 2.0])
    np.testing.assert_array_equal(jax.vmap(inner_tangent)(jnp.stack([x, x])), jnp.full((2, 2), 3.0))
    np.testing.assert_array_equal(jax.grad(lambda x: jnp.sum(inner_tangent(x)))(x), jnp.zeros(2))


def test_jvp_and_vjp_with_modules_functions_strings_and_none():
    from eqx_module import Module

    class Affine(Module):
        w: jax.Array
        act: object
        name: str
        bias: object

    def run(m, x):
        return {"y": m.act(m.w * x), "name": m.name, "bias": m.bias, "act": m.act}

    m = Affine(jnp.array([0.5, 1.5]), jnp.tanh, "aff", None)
    x = jnp.array([1.0, 2.0])
    tm = Affine(jnp.array([1.0, 0.0]), None, None, None)
    out, t_out = filter_jvp(run, (m, x), (tm, None))
    _, expected_t = jax.jvp(lambda w: jnp.tanh(w * x), (m.w,), (tm.w,))
    np.testing.assert_allclose(t_out["y"], expected_t, rtol=1e-6)
    assert out["act"] is jnp.tanh and out["name"] == "aff" and out["bias"] is None
    assert t_out["name"] is None and t_out["act"] is None

    out, vjp_fn = filter_vjp(run, m, x)
    grad_m, grad_x = vjp_fn({"y": jnp.ones(2), "name": None, "bias": None, "act": None})
    expected_w, expected_x = jax.vjp(lambda w, x: jnp.tanh(w * x), m.w, x)[1](jnp.ones(2))
    np.testing.assert_allclose(grad_m.w, expected_w, rtol=1e-6)
    np.testing.assert_allclose(grad_x, expected_x, rtol=1e-6)
    assert grad_m.act is None and grad_m.name is None


def test_jaxprs_equal_those_of_the_jax_transforms():
    def f(x):
        return jnp.sin(x) * 2.0

    def g(x, y):
        return jnp.sum(jnp.sin(x) * y)

    x = jnp.array([0.5, 1.0])

    def same(ours, theirs, *args):
        assert str(jax.make_jaxpr(ours)(*args)) == str(jax.make_jaxpr(theirs)(*args))

    same(filter_jacfwd(f), jax.jacfwd(f), x)
    same(filter_jacrev(f), jax.jacrev(f), x)
    same(filter_hessian(g), jax.hessian(g), x, x)
    same(lambda x: filter_vjp(f, x)[1](x), lambda x: jax.vjp(f, x)[1](x), x)


def test_jacobians_of_a_module_with_kwargs_and_non_arrays():
    from eqx_module import Module

    class Poly(Module):
        coeffs: jax.Array
        power: int
        act: object

    def g(p, x, *, shift):
        return p.act(p.coeffs * x**p.power + shift)

    p = Poly(jnp.array([1.0, 2.0]), 2, jnp.tanh)
    x = jnp.array([0.5, 1.5])
    expected = jax.jacrev(lambda c: jnp.tanh(c * x**2 + 0.5))(p.coeffs)
    for jac in (filter_jacfwd, filter_jacrev):
        out = jac(g)(p, x, shift=0.5)
        assert isinstance(out, Poly)
        np.testing.assert_allclose(out.coeffs, expected, rtol=1e-6)
        assert out.power is None and out.act is None
