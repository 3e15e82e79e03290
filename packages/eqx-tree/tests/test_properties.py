"""Property tests over random nested trees of lists, tuples, dicts, None and arrays."""

import io

import hypothesis.strategies as st
import jax.numpy as jnp
import jax.tree_util as jtu
import numpy as np
from hypothesis import HealthCheck, given, settings

from eqx_tree import tree_at, tree_deserialise_leaves, tree_equal, tree_serialise_leaves

_arrays = st.builds(
    lambda shape, dtype, seed: jnp.asarray(
        np.random.default_rng(seed).normal(size=shape).astype(dtype)
    ),
    st.lists(st.integers(0, 3), max_size=2).map(tuple),
    st.sampled_from([np.float32, np.int32, np.float16]),
    st.integers(0, 2**16),
)
_leaves = st.one_of(st.none(), _arrays, st.integers(-5, 5))
_trees = st.recursive(
    _leaves,
    lambda children: st.one_of(
        st.lists(children, max_size=3),
        st.lists(children, max_size=3).map(tuple),
        st.dictionaries(st.sampled_from("abcd"), children, max_size=3),
    ),
    max_leaves=12,
)

# A loaded CI machine can trip the "too slow" data-generation health check, which says
# nothing about the code under test.
_settings = settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])


def _is_true(result):
    return result is True or bool(result)


@_settings
@given(_trees)
def test_tree_at_identity_replace_fn_returns_an_equal_tree(tree):
    out = tree_at(lambda t: t, tree, replace_fn=lambda x: x)
    assert _is_true(tree_equal(out, tree))


@_settings
@given(_trees, _trees)
def test_tree_equal_is_reflexive_and_symmetric(a, b):
    assert _is_true(tree_equal(a, a))
    ab, ba = tree_equal(a, b), tree_equal(b, a)
    assert bool(ab) == bool(ba)


@_settings
@given(_trees)
def test_serialise_then_deserialise_returns_an_equal_tree(tree):
    f = io.BytesIO()
    tree_serialise_leaves(f, tree)
    f.seek(0)
    assert _is_true(tree_equal(tree_deserialise_leaves(f, tree), tree))


def _getter(path):
    """`where` that walks a key path (SequenceKey / DictKey) on any tree of that shape."""

    def where(tree):
        for key in path:
            tree = tree[key.idx] if hasattr(key, "idx") else tree[key.key]
        return tree

    return where


@_settings
@given(_trees, st.data())
def test_tree_at_on_one_leaf_matches_plain_flatten_replace_unflatten(tree, data):
    leaves_with_paths, treedef = jtu.tree_flatten_with_path(tree)
    if not leaves_with_paths:
        return
    index = data.draw(st.integers(0, len(leaves_with_paths) - 1))
    path, _ = leaves_with_paths[index]
    marker = object()
    out = tree_at(_getter(path), tree, marker)
    leaves = [leaf for _, leaf in leaves_with_paths]
    leaves[index] = marker
    expected = jtu.tree_unflatten(treedef, leaves)
    assert jtu.tree_structure(out) == jtu.tree_structure(expected)
    for x, y in zip(jtu.tree_leaves(out), jtu.tree_leaves(expected), strict=True):
        assert x is y
