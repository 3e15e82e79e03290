"""filter_closure_convert."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from eqx_filter import filter_closure_convert, filter_jit


def make_closure(w):
    def f(x, mode):
        return x * w if mode == "mul" else x + w

    return f


def test_closed_over_arrays_become_consts_and_results_match():
    w = jnp.array([2.0, 3.0])
    f = make_closure(w)
    converted = filter_closure_convert(f, jnp.ones(2), "mul")
    assert len(converted.consts) == 1
    assert converted.consts[0] is w
    np.testing.assert_array_equal(converted(jnp.array([1.0, 2.0]), "mul"), jnp.array([2.0, 6.0]))


def test_structs_describe_inputs_and_outputs():
    f = make_closure(jnp.ones(2))
    converted = filter_closure_convert(f, jnp.ones(2), "mul")
    in_args, in_kwargs = converted.in_struct
    assert in_args == (jax.ShapeDtypeStruct((2,), jnp.float32), "mul")
    assert in_kwargs == {}
    assert converted.out_struct == jax.ShapeDtypeStruct((2,), jnp.float32)


def test_tracers_of_an_enclosing_trace_are_consts_too():
    @filter_jit
    def outer(w, x):
        converted = filter_closure_convert(make_closure(w), x, "add")
        assert isinstance(converted.consts[0], jax.core.Tracer)
        return converted(x, "add")

    np.testing.assert_array_equal(outer(jnp.ones(2), jnp.ones(2)), jnp.full(2, 2.0))


def test_weak_types_are_ignored():
    f = make_closure(jnp.ones(()))
    converted = filter_closure_convert(f, jnp.asarray(1.0), "mul")
    assert float(converted(jnp.array(3.0, dtype=jnp.float32), "mul")) == 3.0


CALLS = []


def plain(x):
    CALLS.append(x)
    return x + 1


def test_a_function_without_closure_is_not_traced():
    CALLS.clear()
    converted = filter_closure_convert(plain, jnp.ones(2))
    assert CALLS == []
    assert converted.consts == ()
    np.testing.assert_array_equal(converted(jnp.ones(2)), jnp.full(2, 2.0))


def test_different_dynamic_arguments_raise():
    converted = filter_closure_convert(make_closure(jnp.ones(2)), jnp.ones(2), "mul")
    with pytest.raises(ValueError, match="different dynamic arguments"):
        converted(jnp.ones(3), "mul")


def test_different_static_arguments_raise():
    converted = filter_closure_convert(make_closure(jnp.ones(2)), jnp.ones(2), "mul")
    with pytest.raises(ValueError, match="different static arguments"):
        converted(jnp.ones(2), "add")


_PLAIN_CALLS = [0]


def _plain(x, mode):
    _PLAIN_CALLS[0] += 1  # a global, not a closure
    return x * 2 if mode == "double" else x


def test_a_plain_function_is_not_traced_but_calls_are_still_checked():
    _PLAIN_CALLS[0] = 0
    converted = filter_closure_convert(_plain, jnp.ones(2), "double")
    assert _PLAIN_CALLS[0] == 0
    assert converted.consts == ()
    np.testing.assert_array_equal(converted(jnp.array([1.0, 2.0]), "double"), jnp.array([2.0, 4.0]))
    assert converted.out_struct == jax.ShapeDtypeStruct((2,), jnp.float32)
    with pytest.raises(ValueError, match="different dynamic arguments"):
        converted(jnp.ones(3), "double")
    with pytest.raises(ValueError, match="different static arguments"):
        converted(jnp.ones(2), "identity")


def test_kwargs_and_nested_modules_in_inputs_and_outputs():
    from eqx_module import Module

    class Box(Module):
        value: jax.Array
        tag: str

    w = jnp.array([2.0, 3.0])

    def f(box, *, act, n):
        return Box(act(box.value) * w * n, box.tag + "!"), None

    converted = filter_closure_convert(f, Box(jnp.ones(2), "t"), act=jnp.sin, n=2)
    assert len(converted.consts) == 1 and converted.consts[0] is w
    out, none = converted(Box(jnp.array([0.5, 1.0]), "t"), act=jnp.sin, n=2)
    np.testing.assert_allclose(out.value, jnp.sin(jnp.array([0.5, 1.0])) * w * 2, rtol=1e-6)
    assert out.tag == "t!" and none is None
    assert converted.out_struct[0].value == jax.ShapeDtypeStruct((2,), jnp.float32)
    with pytest.raises(ValueError, match="different static arguments"):
        converted(Box(jnp.ones(2), "t"), act=jnp.cos, n=2)


def test_closed_over_tracers_are_differentiable_through_custom_rules():
    from eqx_filter import filter_custom_jvp, filter_custom_vjp, filter_jvp, filter_vjp

    @filter_custom_jvp
    def call(fn, x):
        return fn(x)

    @call.def_jvp
    def call_jvp(primals, tangents):
        return filter_jvp(lambda f, x: f(x), primals, tangents)

    @filter_custom_vjp
    def call_v(fn_and_x):
        fn, x = fn_and_x
        return fn(x)

    call_v.def_fwd(lambda perturbed, fn_and_x: (call_v(fn_and_x), None))
    call_v.def_bwd(
        lambda residuals, grad, perturbed, fn_and_x: filter_vjp(lambda fx: fx[0](fx[1]), fn_and_x)[
            1
        ](grad)[0]
    )

    def loss(w, x, caller):
        f = filter_closure_convert(lambda y: jnp.sin(w * y), x)  # `w` is a tracer here
        return jnp.sum(caller(f, x) if caller is call else caller((f, x)))

    w, x = jnp.array(2.0), jnp.array([0.5, 1.0])
    expected = jax.grad(lambda w, x: jnp.sum(jnp.sin(w * x)), argnums=(0, 1))(w, x)
    for caller in (call, call_v):
        grads = jax.jit(jax.grad(loss, argnums=(0, 1)), static_argnums=2)(w, x, caller)
        np.testing.assert_allclose(grads[0], expected[0], rtol=1e-6)
        np.testing.assert_allclose(grads[1], expected[1], rtol=1e-6)
