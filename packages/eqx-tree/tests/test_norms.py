"""`two_norm`, `rms_norm`, `max_norm` over PyTrees."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from eqx_tree import max_norm, rms_norm, two_norm

TREE = {"a": jnp.array([3.0, -1.0]), "b": 4.0, "c": (jnp.arange(2), None)}
FLAT = np.array([3.0, -1.0, 4.0, 0.0, 1.0])  # the same elements, by hand


def test_norms_treat_the_tree_as_one_flat_vector():
    np.testing.assert_allclose(two_norm(TREE), np.sqrt(np.sum(FLAT**2)), rtol=1e-6)
    np.testing.assert_allclose(rms_norm(TREE), np.sqrt(np.mean(FLAT**2)), rtol=1e-6)
    assert float(max_norm(TREE)) == 4.0
    for norm in (two_norm, rms_norm, max_norm):
        out = norm(TREE)
        assert out.shape == () and out.dtype == jnp.float32


def test_gradients_equal_plain_jax_away_from_zero():
    x = {"a": jnp.array([3.0, -4.0]), "b": jnp.array(12.0)}
    flat = lambda x: jnp.concatenate([x["a"], x["b"][None]])
    cases = [
        (two_norm, lambda x: jnp.linalg.norm(flat(x))),
        (rms_norm, lambda x: jnp.sqrt(jnp.mean(flat(x) ** 2))),
        (max_norm, lambda x: jnp.max(jnp.abs(flat(x)))),
    ]
    for norm, plain in cases:
        ours, theirs = jax.grad(norm)(x), jax.grad(plain)(x)
        for key in x:
            np.testing.assert_allclose(ours[key], theirs[key], rtol=1e-6)


@pytest.mark.parametrize("norm", [two_norm, rms_norm, max_norm])
def test_gradient_at_zero_is_zero_not_nan(norm):
    zero = {"a": jnp.zeros(3), "b": jnp.zeros(())}
    assert float(norm(zero)) == 0.0
    grads = jax.grad(norm)(zero)
    np.testing.assert_array_equal(grads["a"], np.zeros(3))
    assert float(grads["b"]) == 0.0
    # Plain JAX gives NaN here, which is what the custom rule avoids.
    assert np.isnan(jax.grad(lambda v: jnp.sqrt(jnp.sum(v**2)))(jnp.zeros(3))).all()


def test_empty_trees_complex_and_mixed_dtypes():
    for norm in (two_norm, rms_norm, max_norm):
        assert float(norm({})) == 0.0 and float(norm([jnp.zeros((0, 2))])) == 0.0
    z = jnp.array([3 + 4j, 0j])
    assert float(two_norm(z)) == pytest.approx(5.0) and two_norm(z).dtype == jnp.float32
    assert float(max_norm(z)) == pytest.approx(5.0)
    mixed = [jnp.ones(2, jnp.float16), jnp.ones(2, jnp.float32)]  # strict promotion is on
    assert float(two_norm(mixed)) == pytest.approx(2.0)


def test_norms_work_under_jit_and_vmap():
    batch = jnp.array([[3.0, 4.0], [6.0, 8.0]])
    np.testing.assert_allclose(jax.vmap(two_norm)(batch), [5.0, 10.0])
    np.testing.assert_allclose(jax.jit(rms_norm)(batch), np.sqrt(np.mean(batch**2)))


@pytest.mark.parametrize("norm", [two_norm, rms_norm, max_norm])
def test_a_non_numeric_leaf_is_a_type_error_naming_its_path(norm):
    with pytest.raises(TypeError, match=rf"`{norm.__name__}` takes a PyTree of arrays.*x\['f'\]"):
        norm({"w": jnp.ones(2), "f": "relu"})
