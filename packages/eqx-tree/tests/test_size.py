"""`tree_size`: element and byte counts of concrete and abstract array leaves."""

import jax
import jax.numpy as jnp
import numpy as np

from eqx_tree import TreeSize, tree_size


def test_counts_arrays_of_every_kind_and_skips_other_leaves() -> None:
    tree = {
        "w": jnp.zeros((3, 4)),  # 12 x 4 bytes
        "h": np.zeros(5, np.float16),  # 5 x 2
        "s": jax.ShapeDtypeStruct((2, 2), jnp.int8),  # 4 x 1
        "n": np.float64(1.0),  # 1 x 8
        "skip": [1.0, 2, "text", max, None],
    }
    assert tree_size(tree) == TreeSize(params=12 + 5 + 4 + 1, nbytes=48 + 10 + 4 + 8)


def test_abstract_and_concrete_agree() -> None:
    def make() -> list[jax.Array]:
        return [jnp.ones((7, 3), jnp.bfloat16), jnp.arange(4)]

    assert tree_size(jax.eval_shape(make)) == tree_size(make()) == TreeSize(25, 7 * 3 * 2 + 4 * 4)


def test_prng_keys_count_by_their_storage() -> None:
    keys = jax.random.split(jax.random.key(0), 3)
    assert tree_size(keys) == TreeSize(3, 3 * keys.dtype.itemsize)
