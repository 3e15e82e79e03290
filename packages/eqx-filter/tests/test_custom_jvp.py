"""filter_custom_jvp."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from eqx_filter import filter_custom_jvp, filter_jit
from eqx_tree import EqxDeprecationWarning


def make(record):
    @filter_custom_jvp
    def f(x, y, label, *, power=2):
        return x**power * y

    @f.def_jvp
    def f_jvp(primals, tangents, *, power=2):
        x, y, label = primals
        tx, ty, tlabel = tangents
        record.append((tx is None, ty is None, tlabel))
        out = f(x, y, label, power=power)
        t_out = 0.0
        if tx is not None:
            t_out = t_out + 100.0 * tx  # a deliberately "custom" derivative
        if ty is not None:
            t_out = t_out + x**power * ty
        return out, t_out

    return f


def test_primal_call_runs_the_function():
    f = make([])
    assert float(f(jnp.array(2.0), jnp.array(3.0), "l")) == 12.0


def test_rule_receives_none_for_unperturbed_and_non_array_tangents():
    record = []
    f = make(record)
    grad = jax.grad(lambda x: f(x, jnp.array(3.0), "label"))(jnp.array(2.0))
    assert float(grad) == 100.0
    assert record[-1] == (False, True, None)


def test_rule_uses_custom_tangents_for_the_other_argument_too():
    f = make([])
    grad = jax.grad(lambda y: f(jnp.array(2.0), y, "l", power=3))(jnp.array(3.0))
    assert float(grad) == 8.0


def test_none_output_tangent_means_zero():
    @filter_custom_jvp
    def g(x):
        return x * 2

    g.def_jvp(lambda primals, tangents: (g(*primals), None))
    assert float(jax.grad(g)(jnp.array(1.0))) == 0.0


def test_integer_arguments_get_none_tangents():
    seen = []

    @filter_custom_jvp
    def g(x, n):
        return x * n

    @g.def_jvp
    def g_jvp(primals, tangents):
        seen.append(tangents[1])
        return g(*primals), tangents[0] * primals[1]

    _out, t_out = jax.jvp(lambda x: g(x, jnp.array(3)), (jnp.array(1.0),), (jnp.array(1.0),))
    assert float(t_out) == 3.0
    assert seen == [None]


def test_perturbed_keyword_argument_raises():
    @filter_custom_jvp
    def g(x, *, y):
        return x * y

    g.def_jvp(lambda p, t, *, y: (g(*p, y=y), t[0]))
    with pytest.raises(ValueError, match="Received keyword tangent"):
        jax.grad(lambda y: g(jnp.array(1.0), y=y))(jnp.array(2.0))


def test_calling_before_a_rule_exists_raises():
    @filter_custom_jvp
    def lonely(x):
        return x

    with pytest.raises(RuntimeError, match="lonely"):
        lonely(jnp.array(1.0))


def test_legacy_defjvp_warns_and_materialises_zeros():
    @filter_custom_jvp
    def g(x, y):
        return x * y

    seen = []

    def rule(primals, tangents):
        seen.append(tangents)
        return g(*primals), tangents[0] * primals[1] + tangents[1] * primals[0]

    with pytest.warns(EqxDeprecationWarning, match="def_jvp"):
        g.defjvp(rule)
    grad = jax.grad(lambda x: g(x, jnp.array(3.0)))(jnp.array(2.0))
    assert float(grad) == 3.0
    np.testing.assert_array_equal(seen[-1][1], 0.0)


def test_defjvps_is_not_implemented():
    g = filter_custom_jvp(lambda x: x)
    with pytest.raises(NotImplementedError):
        g.defjvps(None)


def test_nested_modules_kwargs_arrays_and_jit_vmap_composition():
    from eqx_module import Module

    class Inner(Module):
        w: jax.Array
        steps: jax.Array  # an integer array: its tangent is None

    class Outer(Module):
        inner: Inner
        act: object

    seen = []

    @filter_custom_jvp
    def f(model, x, *, bias):
        return model.act(model.inner.w * x) + bias

    @f.def_jvp
    def f_jvp(primals, tangents, *, bias):
        model, x = primals
        t_model, t_x = tangents
        seen.append((t_model.inner.steps, t_model.act, t_x))
        out = f(model, x, bias=bias)
        slope = 1 - jnp.tanh(model.inner.w * x) ** 2  # d tanh
        return out, slope * t_model.inner.w * x

    model = Outer(Inner(jnp.array([0.5, 1.0]), jnp.array([1, 2])), jnp.tanh)
    x = jnp.array([2.0, 3.0])
    bias = jnp.array(0.1)  # a keyword array, not differentiated, not perturbed

    def loss(w):
        m = Outer(Inner(w, model.inner.steps), jnp.tanh)
        return jnp.sum(f(m, x, bias=bias))

    expected = jax.grad(lambda w: jnp.sum(jnp.tanh(w * x) + bias))(model.inner.w)
    np.testing.assert_allclose(jax.grad(loss)(model.inner.w), expected, rtol=1e-5)
    np.testing.assert_allclose(jax.jit(jax.grad(loss))(model.inner.w), expected, rtol=1e-5)
    ws = jnp.stack([model.inner.w, 2 * model.inner.w])
    batched = jax.vmap(jax.grad(loss))(ws)
    np.testing.assert_allclose(batched[1], jax.grad(loss)(ws[1]), rtol=1e-6)
    assert all(steps is None and act is None and t_x is None for steps, act, t_x in seen)


def test_python_float_primals_and_a_none_output_tangent():
    # On newer JAX a rule may receive literal arrays that are `float` subclasses, and
    # arithmetic on them gives Python floats; the zero tangent must still be a float.
    @filter_custom_jvp
    def g(x, y):
        return x * y

    @g.def_jvp
    def g_jvp(primals, tangents):
        x, y = primals
        tx, ty = tangents
        return g(x, y), (0.0 if tx is None else tx * y) + (0.0 if ty is None else ty * x)

    assert float(jax.grad(g)(2.0, 3.0)) == 3.0
    assert float(jax.grad(g, argnums=1)(2.0, 3.0)) == 2.0

    @filter_custom_jvp
    def h(x):
        return x * 2

    h.def_jvp(lambda primals, tangents: (h(*primals), None))
    assert float(jax.grad(h)(1.0)) == 0.0


def _make_call(seen):
    @filter_custom_jvp
    def call(x, y, fn):
        return fn(x, y)

    @call.def_jvp
    def call_jvp(primals, tangents, **kwargs):
        seen.append((primals, tangents, kwargs))
        x, y, *rest = primals
        tx = tangents[0]
        return call(x, y, *rest, **kwargs), (None if tx is None else 10.0 * tx)

    return call


def _add(x, y):
    return x + y


@pytest.mark.parametrize("by_keyword", [True, False], ids=["fn=kwarg", "fn positional"])
def test_python_scalars_are_static_in_and_out(by_keyword):
    seen = []
    call = _make_call(seen)

    def run(x, y):
        return call(x, y, fn=_add) if by_keyword else call(x, y, _add)

    # Static in, static out: exactly what `fn` returns, eagerly and under filter_jit.
    out = run(1.0, 2.0)
    assert type(out) is float and out == 3.0
    traced = filter_jit(run)(1.0, 2.0)
    assert type(traced) is float and traced == 3.0
    # An array argument makes an array output; the Python int stays an int for `fn`.
    out = run(jnp.array(1.0), 2)
    assert isinstance(out, jax.Array) and out.dtype == jnp.float32 and float(out) == 3.0
    # The rule is used for the array argument, and sees the scalar as it was given.
    _, t_out = jax.jvp(lambda x: run(x, 2), (jnp.array(1.0),), (jnp.array(1.0),))
    assert float(t_out) == 10.0
    primals, tangents, _ = seen[-1]
    assert type(primals[1]) is int and tangents[1] is None


def test_non_array_outputs_are_returned_as_they_are():
    @filter_custom_jvp
    def labelled(x, label):
        return {"value": x * 2, "label": label, "n": 3}

    @labelled.def_jvp
    def labelled_jvp(primals, tangents):
        out = labelled(*primals)
        return out, {"value": 2 * tangents[0], "label": None, "n": None}

    out = labelled(jnp.array(1.0), "a")
    assert out["label"] == "a" and out["n"] == 3 and type(out["n"]) is int
    out, t_out = jax.jvp(lambda x: labelled(x, "a")["value"], (jnp.array(1.0),), (jnp.array(1.0),))
    assert (float(out), float(t_out)) == (2.0, 2.0)
    out = filter_jit(labelled)(jnp.array(1.0), "b")
    assert out["label"] == "b" and type(out["n"]) is int
