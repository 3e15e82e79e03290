import jax
import jax.numpy as jnp
import ml_dtypes
import numpy as np

import eqx_tree
from eqx_tree import tree_equal


def test_numpy_against_numpy_is_decided_without_jax():
    assert tree_equal(np.ones(3), np.ones(3)) is True
    assert tree_equal(np.ones(3), np.zeros(3)) is False


def test_numpy_against_jax_gives_a_jax_bool():
    out = tree_equal(np.ones(3, np.float32), jnp.ones(3))
    assert isinstance(out, jax.Array)
    assert out.shape == ()
    assert bool(out)


def test_equal_concrete_jax_arrays_still_give_a_jax_bool():
    out = tree_equal(jnp.ones(2), jnp.ones(2))
    assert isinstance(out, jax.Array)
    assert bool(out)
    assert not bool(tree_equal(jnp.ones(2), jnp.zeros(2)))


def test_typematch_distinguishes_numpy_from_jax():
    assert tree_equal(np.ones(3, np.float32), jnp.ones(3), typematch=True) is False
    assert tree_equal(1, 1.0) is True
    assert tree_equal(1, 1.0, typematch=True) is False


def test_numpy_scalar_equals_zero_d_numpy_array():
    assert tree_equal(np.float32(1), np.array(1, np.float32)) is True


def test_dtype_or_shape_mismatch_is_false():
    assert tree_equal(jnp.ones(2, jnp.float16), jnp.ones(2, jnp.float32)) is False
    assert tree_equal(jnp.ones(2), jnp.ones(3)) is False
    assert tree_equal(np.ones(2, np.float32), np.ones(2, np.float64)) is False


def test_bfloat16_numpy_scalars_compare_by_value():
    one = np.array(1, ml_dtypes.bfloat16)[()]
    two = np.array(2, ml_dtypes.bfloat16)[()]
    assert tree_equal(one, np.array(1, ml_dtypes.bfloat16)[()]) is True
    assert tree_equal(one, two) is False


def test_array_against_non_array_is_false():
    assert tree_equal(jnp.ones(()), 1.0) is False
    assert tree_equal(1.0, np.float32(1.0)) is False


def test_different_structure_is_false():
    assert tree_equal([1, 2], (1, 2)) is False
    assert tree_equal({"a": 1}, {"b": 1}) is False


def test_non_arrays_compare_with_ne():
    assert tree_equal(["a", None, 3], ["a", None, 3]) is True
    assert tree_equal(["a"], ["b"]) is False


def test_every_tree_is_compared_with_the_first():
    assert tree_equal(1, 1, 1) is True
    assert tree_equal(1, 1, 2) is False


def test_tolerances_use_allclose_for_inexact_arrays():
    a, b = np.array([1.0, 2.0]), np.array([1.0, 2.0 + 1e-6])
    assert tree_equal(a, b) is False
    assert tree_equal(a, b, atol=1e-5) is True
    assert bool(tree_equal(jnp.asarray(a), jnp.asarray(b), rtol=1e-5))


def test_inside_jit_a_closed_over_array_against_zero_is_false():
    x = jnp.ones(3)
    results = []
    jax.jit(lambda: results.append(tree_equal(x, 0)))()
    assert results == [False]


def test_inside_jit_tracers_give_a_traced_bool():
    out = jax.jit(lambda a, b: tree_equal(a, b))(jnp.ones(2), jnp.ones(2))
    assert bool(out)


def test_exported_from_package():
    assert eqx_tree.tree_equal is tree_equal


def test_integer_zero_tolerances_compare_exactly_and_array_tolerances_are_accepted():
    x, y = jnp.array([1.0, 2.0]), jnp.array([1.0, 2.001])
    assert not bool(tree_equal(x, y, rtol=0, atol=0))
    assert bool(tree_equal(x, y, atol=jnp.asarray(0.01)))
    assert bool(tree_equal(np.asarray(x), np.asarray(y), rtol=np.float32(0.01)))
