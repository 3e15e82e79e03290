"""filter_checkpoint."""

import jax
import jax.numpy as jnp
import numpy as np

from eqx_filter import filter_checkpoint, filter_grad
from eqx_module import Module


def block(x, activation, label):
    return {"y": activation(x) * 2.0, "label": label}


def test_values_and_non_array_outputs_match_the_plain_call():
    x = jnp.array([0.5, -1.0])
    out = filter_checkpoint(block)(x, jnp.tanh, "lbl")
    np.testing.assert_allclose(out["y"], jnp.tanh(x) * 2.0)
    assert out["label"] == "lbl"


def test_gradients_match_jax_checkpoint():
    x = jnp.array([0.5, -1.0])
    ours = filter_grad(lambda x: jnp.sum(filter_checkpoint(block)(x, jnp.tanh, "l")["y"]))(x)
    theirs = jax.grad(lambda x: jnp.sum(jax.checkpoint(lambda x: jnp.tanh(x) * 2.0)(x)))(x)
    np.testing.assert_allclose(ours, theirs, rtol=1e-6)


def test_the_jaxpr_contains_a_remat():
    jaxpr = jax.make_jaxpr(lambda x: filter_checkpoint(block)(x, jnp.tanh, "l")["y"])(jnp.ones(2))
    assert "remat" in str(jaxpr) or "checkpoint" in str(jaxpr)


def test_decorator_with_options_and_method_binding():
    class Layer(Module):
        w: jax.Array

        @filter_checkpoint(prevent_cse=False)
        def __call__(self, x):
            return self.w * x

    np.testing.assert_array_equal(Layer(jnp.array(3.0))(jnp.ones(2)), jnp.full(2, 3.0))


def test_jaxpr_equals_that_of_jax_checkpoint():
    def f(x):
        return jnp.sin(x) * 2.0

    x = jnp.array([0.5, 1.0])
    assert str(jax.make_jaxpr(filter_checkpoint(f))(x)) == str(jax.make_jaxpr(jax.checkpoint(f))(x))
    ours = jax.make_jaxpr(jax.grad(lambda x: jnp.sum(filter_checkpoint(f)(x))))(x)
    theirs = jax.make_jaxpr(jax.grad(lambda x: jnp.sum(jax.checkpoint(f)(x))))(x)
    assert str(ours) == str(theirs)


def test_nested_modules_kwargs_and_non_array_outputs():
    class Inner(Module):
        w: jax.Array

    class Outer(Module):
        inner: Inner
        name: str

    @filter_checkpoint
    def run(model, x, *, scale, fn):
        return {"y": fn(model.inner.w * x) * scale, "name": model.name, "fn": fn, "n": None}

    model = Outer(Inner(jnp.array([1.0, 2.0])), "outer")
    x = jnp.array([0.5, 0.25])
    out = run(model, x, scale=3, fn=jnp.sin)
    np.testing.assert_allclose(out["y"], jnp.sin(model.inner.w * x) * 3, rtol=1e-6)
    assert out["name"] == "outer" and out["fn"] is jnp.sin and out["n"] is None
    grads = filter_grad(lambda m: jnp.sum(run(m, x, scale=3, fn=jnp.sin)["y"]))(model)
    expected = jax.grad(lambda w: jnp.sum(jnp.sin(w * x) * 3))(model.inner.w)
    np.testing.assert_allclose(grads.inner.w, expected, rtol=1e-6)
