"""unvmap_any / unvmap_max: reductions over every enclosing vmap axis (private helpers)."""

import jax
import jax.numpy as jnp

from eqx_filter._unvmap import unvmap_any, unvmap_max


def test_outside_vmap_they_reduce_the_array_only():
    assert bool(unvmap_any(jnp.array([False, True])))
    assert not bool(unvmap_any(jnp.array([False, False])))
    assert int(unvmap_max(jnp.array([3, 7, 5]))) == 7
    assert bool(unvmap_any(True))


def test_inside_vmap_every_batch_element_sees_the_whole_batch():
    flags = jnp.array([False, False, True, False])
    out = jax.vmap(unvmap_any)(flags)
    assert out.shape == (4,) and bool(jnp.all(out))
    values = jnp.array([1, 9, 4])
    assert jax.vmap(unvmap_max)(values).tolist() == [9, 9, 9]


def test_nested_vmap_and_jit_reduce_over_all_axes():
    values = jnp.arange(6).reshape(2, 3)
    out = jax.jit(jax.vmap(jax.vmap(unvmap_max)))(values)
    assert out.tolist() == [[5, 5, 5], [5, 5, 5]]
    flags = jnp.zeros((2, 3), dtype=bool).at[1, 2].set(True)
    assert bool(jnp.all(jax.vmap(jax.vmap(unvmap_any))(flags)))
    assert not bool(jnp.any(jax.vmap(jax.vmap(unvmap_any))(jnp.zeros((2, 3), dtype=bool))))


def test_an_unbatched_value_inside_vmap_is_left_as_is():
    def f(x):
        return x + unvmap_max(jnp.array(4))

    assert jax.vmap(f)(jnp.array([1, 2])).tolist() == [5, 6]
