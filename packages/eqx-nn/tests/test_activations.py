import dataclasses
import inspect

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from eqx_nn import PReLU


def test_prelu_signature_and_field():
    assert list(inspect.signature(PReLU).parameters) == ["init_alpha"]
    assert inspect.signature(PReLU).parameters["init_alpha"].default == 0.25
    assert [f.name for f in dataclasses.fields(PReLU)] == ["negative_slope"]
    np.testing.assert_array_equal(PReLU(0.1).negative_slope, jnp.asarray(0.1))


def test_prelu_matches_definition():
    x = jnp.array([-2.0, -0.5, 0.0, 3.0])
    np.testing.assert_allclose(PReLU(0.1)(x), [-0.2, -0.05, 0.0, 3.0], rtol=1e-6)


def test_prelu_per_channel_slopes_broadcast():
    layer = PReLU(jnp.array([[0.1], [0.5]]))
    out = layer(-jnp.ones((2, 3)))
    np.testing.assert_allclose(out, [[-0.1] * 3, [-0.5] * 3], rtol=1e-6)


def test_prelu_accepts_key_none_for_sequential():
    assert PReLU()(jnp.array(-4.0), key=None) == -1.0


@pytest.mark.parametrize("dtype", [jnp.float16, jnp.bfloat16, jnp.float32])
def test_prelu_default_slope_keeps_input_dtype(dtype):
    assert PReLU()(jnp.ones(3, dtype)).dtype == dtype


def test_prelu_slope_is_learnt():
    grad = jax.grad(lambda m: jnp.sum(m(jnp.array([-2.0, 1.0]))))(PReLU())
    np.testing.assert_allclose(grad.negative_slope, -2.0)
    out = jax.jit(jax.vmap(PReLU()))(jnp.array([[-4.0], [4.0]]))
    np.testing.assert_allclose(out, [[-1.0], [4.0]])
