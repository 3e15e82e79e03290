"""filter_checkpoint (spec §4.4)."""

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
