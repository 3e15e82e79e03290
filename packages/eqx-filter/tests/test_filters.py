"""filter / partition / combine and the predicate re-exports."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import eqx_filter
import eqx_tree
from eqx_filter import combine, filter, is_array, partition
from eqx_module import Module


class Pair(Module):
    a: object
    b: object


def test_predicates_are_the_same_objects_as_in_eqx_tree():
    assert eqx_filter.is_array is eqx_tree.is_array
    assert eqx_filter.is_array_like is eqx_tree.is_array_like
    assert eqx_filter.is_inexact_array is eqx_tree.is_inexact_array
    assert eqx_filter.is_inexact_array_like is eqx_tree.is_inexact_array_like


def test_filter_with_a_callable_keeps_matching_leaves_and_replaces_the_rest_with_none():
    x = jnp.array(1.0)
    tree = [1, x, "s", np.array(2)]
    assert filter(tree, is_array) == [None, x, None, tree[3]]


def test_filter_inverse_keeps_the_leaves_judged_false():
    x = jnp.array(1.0)
    assert filter([1, x], is_array, inverse=True) == [1, None]


def test_filter_replace_sets_the_value_of_dropped_leaves():
    x = jnp.array(1.0)
    assert filter([1, x], is_array, replace=0) == [0, x]


def test_filter_with_a_bool_prefix_applies_to_whole_subtrees():
    tree = ([1, 2], {"a": 3})
    assert filter(tree, (True, False)) == ([1, 2], {"a": None})


def test_filter_with_a_mixed_prefix_of_bools_and_callables():
    x = jnp.array(1.0)
    tree = Pair([1, x], "keep")
    spec = Pair(is_array, True)
    out = filter(tree, spec)
    assert out.a == [None, x]
    assert out.b == "keep"


def test_filter_is_leaf_treats_a_subtree_as_one_leaf():
    tree = [Pair(1, 2), 3]
    out = filter(tree, lambda x: isinstance(x, Pair), is_leaf=lambda x: isinstance(x, Pair))
    assert out[0] is tree[0]
    assert out[1] is None


def test_filter_rejects_a_traced_spec_leaf():
    def f(x):
        return filter([x], [x > 0])

    with pytest.raises(ValueError, match="cannot be traced arrays"):
        jax.jit(f)(jnp.array(1.0))


def test_filter_rejects_a_spec_leaf_that_is_neither_bool_nor_callable():
    with pytest.raises(ValueError, match="must consist of booleans and callables only"):
        filter([1, 2], [True, 3])


def test_filter_rejects_a_spec_that_is_not_a_prefix():
    with pytest.raises(ValueError, match="prefix"):
        filter([1, 2], [True, True, True])


def test_partition_returns_both_halves_of_filter():
    x = jnp.array(1.0)
    tree = {"a": x, "b": "s", "c": [2, x]}
    kept, rest = partition(tree, is_array)
    assert kept == filter(tree, is_array)
    assert rest == filter(tree, is_array, inverse=True)


def test_partition_then_combine_round_trips_a_module():
    m = Pair(jnp.arange(3.0), (jax.nn.relu, 3))
    params, static = partition(m, is_array)
    assert params.b == (None, None)
    assert static.a is None
    back = combine(params, static)
    assert back.a is m.a
    assert back.b == m.b


def test_combine_takes_the_first_non_none_value():
    assert combine([None, 1, None], [2, 3, None], [4, 5, 6]) == [2, 1, 6]


def test_combine_accepts_none_where_another_tree_has_a_subtree():
    assert combine([None, 1], [(2, 3), None]) == [(2, 3), 1]


def test_combine_rejects_different_structures():
    with pytest.raises(ValueError, match="same structure"):
        combine([1, 2], [1, 2, 3])


def test_combine_requires_at_least_one_tree():
    with pytest.raises(TypeError, match="at least one"):
        combine()


def test_filter_spec_may_hold_none_where_the_tree_holds_none():
    # A spec made by `tree_map` over a model copies the model's `None` fields; `None`
    # is an empty subtree in both, not a bad spec leaf.
    model = Pair(jnp.ones(2), None)
    spec = jax.tree_util.tree_map(lambda _: True, model)
    assert spec.b is None
    kept = filter(model, spec)
    assert kept.a is model.a and kept.b is None
    params, rest = partition({"w": jnp.ones(1), "b": None}, {"w": True, "b": None})
    assert params["b"] is None and rest == {"w": None, "b": None}


def test_filter_spec_none_over_a_non_none_subtree_is_not_a_prefix():
    with pytest.raises(ValueError, match="prefix"):
        filter([jnp.ones(1), [jnp.ones(1)]], [True, None])


def test_filter_with_non_array_leaves_of_every_kind():
    tree = {"f": jnp.tanh, "s": "str", "i": 3, "n": None, "x": jnp.ones(2), "m": Pair(1.0, 2)}
    kept, rest = partition(tree, is_array)
    assert kept == {
        "f": None,
        "s": None,
        "i": None,
        "n": None,
        "x": tree["x"],
        "m": Pair(None, None),
    }
    assert rest["f"] is jnp.tanh and rest["s"] == "str" and rest["i"] == 3
    assert rest["m"] == Pair(1.0, 2)
    assert combine(kept, rest)["x"] is tree["x"]


def test_combine_is_leaf_is_ored_with_none():
    out = combine([None, (1, 2)], [0, None], is_leaf=lambda x: isinstance(x, tuple))
    assert out == [0, (1, 2)]
