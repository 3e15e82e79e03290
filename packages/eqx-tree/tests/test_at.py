import collections
import threading

import jax
import jax.numpy as jnp
import jax.tree_util as jtu
import pytest

from eqx_tree import tree_at


class _Node:
    """A node whose unflatten bypasses __init__ (as eqx Modules do)."""

    inits = 0

    def __init__(self, weight, children):
        _Node.inits += 1
        self.weight, self.children = weight, children


def _unflatten_node(aux, children):
    node = object.__new__(_Node)
    node.weight, node.children = children
    return node


jax.tree_util.register_pytree_node(_Node, lambda n: ((n.weight, n.children), None), _unflatten_node)


def test_replaces_a_leaf_and_leaves_the_input_untouched():
    tree = {"a": 1, "b": [2, 3]}
    out = tree_at(lambda t: t["b"][0], tree, 20)
    assert out == {"a": 1, "b": [20, 3]}
    assert tree == {"a": 1, "b": [2, 3]}


def test_arrays_are_not_copied():
    w = jnp.ones(3)
    tree = {"w": w, "b": jnp.zeros(2)}
    out = tree_at(lambda t: t["b"], tree, jnp.ones(2))
    assert out["w"] is w


def test_returned_node_counts_as_one_node_and_tuple_selects_each():
    tree = {"layers": [1, 2]}
    assert tree_at(lambda t: t["layers"], tree, "whole") == {"layers": "whole"}
    assert tree_at(lambda t: tuple(t["layers"]), tree, ("a", "b")) == {"layers": ["a", "b"]}


def test_replace_fn_receives_the_original_node():
    tree = [jnp.array(1.0), jnp.array(2.0)]
    out = tree_at(lambda t: t[1], tree, replace_fn=lambda x: x * 10)
    assert float(out[1]) == 20.0


def test_replace_fn_over_several_nodes():
    assert tree_at(lambda t: (t[0], t[2]), [1, 2, 3], replace_fn=lambda x: -x) == [-1, 2, -3]


def test_structure_may_change():
    out = tree_at(lambda t: t[0], [1, 2], {"new": (5, 6)})
    assert out == [{"new": (5, 6)}, 2]


def test_rebuild_runs_no_init():
    node = _Node(jnp.ones(2), [1])
    before = _Node.inits
    out = tree_at(lambda n: n.weight, node, jnp.zeros(2))
    assert _Node.inits == before
    assert float(out.weight.sum()) == 0.0 and out.children == [1]


def test_shared_leaf_values_are_told_apart_by_position():
    assert tree_at(lambda t: t[1], [1, 1, 1], 9) == [1, 9, 1]
    assert tree_at(lambda t: t[0], [(1,), (1,)], "x") == ["x", (1,)]


def test_interned_empty_tuples_can_be_selected():
    assert tree_at(lambda t: t[1], [(), ()], 5) == [(), 5]


def test_empty_namedtuples_can_be_selected():
    Empty = collections.namedtuple("Empty", [])
    assert tree_at(lambda t: t[0], [Empty(), Empty()], 1) == [1, Empty()]


def test_root_can_be_replaced():
    assert tree_at(lambda t: t, [1, 2], "root") == "root"


def test_none_with_is_leaf_is_selectable():
    out = tree_at(lambda t: t[0], (None, None, 0), True, is_leaf=lambda x: x is None)
    assert out == (True, None, 0)


def test_rejects_both_replace_and_replace_fn():
    with pytest.raises(ValueError, match="Precisely one of `replace` and `replace_fn` must be"):
        tree_at(lambda t: t[0], [1], 2, replace_fn=lambda x: x)


def test_rejects_neither_replace_nor_replace_fn():
    with pytest.raises(ValueError, match="Precisely one of `replace` and `replace_fn` must be"):
        tree_at(lambda t: t[0], [1])


def test_rejects_where_that_reads_leaf_values():
    with pytest.raises(ValueError, match="`where` must use just the PyTree structure of `pytree`"):
        tree_at(lambda t: t[0] if t[1] > 0 else t[2], [1, 2, 3], 0)


def test_rejects_where_whose_choice_depends_on_leaf_values_without_failing():
    # On the wrapped copy `t[1] == 2` is False, on the raw tree True: selections differ.
    with pytest.raises(ValueError, match="`where` must use just the PyTree structure of `pytree`"):
        tree_at(lambda t: t[0] if t[1] == 2 else t[2], [1, 2, 3], 0)


def test_rejects_a_node_that_is_not_in_the_tree():
    with pytest.raises(ValueError, match="`where` does not specify an element"):
        tree_at(lambda t: [5], [1, 2], (3,))


def test_rejects_a_non_node_non_sequence_selection():
    with pytest.raises(ValueError, match="`where` does not specify an element"):
        tree_at(lambda t: 5, [1, 2], 3)


def test_rejects_none_matched_twice_and_shows_the_is_leaf_fix():
    with pytest.raises(ValueError, match="`where` does not uniquely identify") as info:
        tree_at(lambda t: t[0], (None, None, 0), True)
    assert "is_leaf=lambda x: x is None" in str(info.value)


def test_rejects_a_length_mismatch():
    with pytest.raises(ValueError, match="selected 2 nodes but `replace` has 3 values"):
        tree_at(lambda t: (t[0], t[1]), [1, 2], (1, 2, 3))


def test_rejects_a_non_sequence_replace_for_several_nodes():
    with pytest.raises(TypeError, match="`replace` must be a sequence of 2 values"):
        tree_at(lambda t: (t[0], t[1]), [1, 2], 3)


def test_rejects_selecting_the_same_node_twice():
    with pytest.raises(ValueError, match="same node is selected more than once"):
        tree_at(lambda t: (t[0], t[0]), [[1], 2], (1, 2))


def test_agrees_with_plain_tree_util_for_a_leaf_update():
    tree = {"a": [jnp.ones(2), jnp.zeros(3)], "b": (jnp.arange(2.0),)}
    out = tree_at(lambda t: t["a"][1], tree, jnp.full(3, 7.0))
    leaves, treedef = jtu.tree_flatten(tree)
    leaves[1] = jnp.full(3, 7.0)
    expected = jtu.tree_unflatten(treedef, leaves)
    assert jtu.tree_structure(out) == jtu.tree_structure(expected)
    for x, y in zip(jtu.tree_leaves(out), jtu.tree_leaves(expected), strict=True):
        assert (x == y).all()


def test_an_error_inside_where_itself_propagates_unchanged():
    with pytest.raises(AttributeError, match="no attribute 'missing'"):
        tree_at(lambda t: t.missing, [1, 2], 0)


def test_a_container_returned_whole_counts_as_one_node_even_if_it_holds_only_leaves():
    tree = {"pair": (1, 2), "other": 3}
    assert tree_at(lambda t: t["pair"], tree, "new") == {"pair": "new", "other": 3}


def test_a_fresh_sequence_of_leaves_selects_each_leaf():
    tree = {"pair": (1, 2), "other": 3}
    out = tree_at(lambda t: list(t["pair"]), tree, replace_fn=lambda x: x * 10)
    assert out == {"pair": (10, 20), "other": 3}


def test_a_namedtuple_of_leaves_returned_whole_is_one_node():
    Point = collections.namedtuple("Point", ["x", "y"])
    tree = [Point(1, 2), 3]
    assert tree_at(lambda t: t[0], tree, None) == [None, 3]


def test_leaf_selection_with_is_leaf_replaces_a_none():
    out = tree_at(lambda t: (t[0], t[2]), [None, 1, None], (5, 6), is_leaf=lambda x: x is None)
    assert out == [5, 1, 6]


def test_a_mixed_selection_of_a_subtree_and_a_leaf_replaces_both():
    tree = [[1, 2], 3]
    out = tree_at(lambda t: (t[0], t[1]), tree, ("a", "b"))
    assert out == ["a", "b"]


def test_large_trees_take_the_same_results_as_plain_tree_util():
    tree = {f"k{i:03d}": [float(i), (i, str(i))] for i in range(300)}
    out = tree_at(lambda t: (t["k007"][0], t["k299"][1][1]), tree, ("x", "y"))
    leaves, treedef = jtu.tree_flatten(tree)
    leaves[7 * 3] = "x"
    leaves[299 * 3 + 2] = "y"
    assert out == jtu.tree_unflatten(treedef, leaves)


def test_clear_caches_between_calls_does_not_change_results():
    from eqx_tree import clear_caches

    tree = [1, [2, 3]]
    first = tree_at(lambda t: t[1][0], tree, 20)
    clear_caches()
    assert tree_at(lambda t: t[1][0], tree, 20) == first == [1, [20, 3]]


class _Typed:
    """A node with a property whose return type a runtime type checker enforces."""

    def __init__(self, rate, flag):
        self.rate, self.flag = rate, flag

    @property
    def checked_flag(self) -> bool | jax.Array:
        return self.flag


jax.tree_util.register_pytree_node(
    _Typed, lambda t: ((t.rate, t.flag), None), lambda _, c: _Typed(*c)
)


def test_where_through_a_type_checked_property_matches_the_selection_by_identity():
    beartype = pytest.importorskip("beartype")
    checked = property(beartype.beartype(_Typed.checked_flag.fget))
    Checked = type("Checked", (_Typed,), {"checked_flag": checked})
    jax.tree_util.register_pytree_node(
        Checked, lambda t: ((t.rate, t.flag), None), lambda _, c: Checked(*c)
    )
    # Placeholders fail the property's return check; each selected node occurs once in
    # the tree, so the selection made on the real tree identifies it.
    flag = jnp.array(True)
    tree = {"layer": Checked(0.5, flag), "other": jnp.array(False)}
    out = tree_at(lambda t: t["layer"].checked_flag, tree, jnp.array(False))
    assert out["layer"].flag.item() is False and out["layer"].rate == 0.5
    assert tree["layer"].flag is flag  # the input is untouched
    out = tree_at(lambda t: (t["layer"].checked_flag, t["other"]), tree, replace_fn=lambda x: ~x)
    assert (out["layer"].flag.item(), out["other"].item()) == (False, True)
    # A selected value occurring twice (the interned `False`) cannot be told apart:
    # the placeholder error is raised, naming the type check that failed.
    twice = [Checked(0.5, False), False]
    with pytest.raises(ValueError, match=r"must use just the PyTree structure.*checked_flag"):
        tree_at(lambda t: t[0].checked_flag, twice, True)


# Behaviour the single-leaf and leaf-sequence fast paths must keep.


class _Named:
    """A node whose `name` is static (aux data), like a Module's static field."""

    def __init__(self, weight, bias, name):
        self.weight, self.bias, self.name = weight, bias, name


jax.tree_util.register_pytree_node(
    _Named, lambda n: ((n.weight, n.bias), n.name), lambda name, c: _Named(*c, name)
)


def test_a_list_of_leaves_selects_each_leaf_in_the_order_given():
    out = tree_at(lambda t: [t["b"], t["a"]], {"a": 1, "b": 2, "c": 3}, ("B", "A"))
    assert out == {"a": "A", "b": "B", "c": 3}


def test_rejects_selecting_the_same_leaf_twice():
    with pytest.raises(ValueError, match=r"same node is selected more than once\. Select each"):
        tree_at(lambda t: (t[1], t[1]), [1, 2, 3], (8, 9))


def test_rejects_a_single_object_that_is_not_in_the_tree():
    foreign = jnp.ones(2)
    with pytest.raises(ValueError, match="`where` does not specify an element") as info:
        tree_at(lambda t: foreign, {"w": jnp.ones(2)}, jnp.zeros(2))
    assert "Return a node" in str(info.value)


def test_rejects_a_sequence_with_one_object_not_in_the_tree_naming_its_position():
    foreign = jnp.ones(2)
    with pytest.raises(ValueError, match=r"\(item 1 of the selection\).*not a node of the tree"):
        tree_at(lambda t: (t["w"], foreign), {"w": jnp.ones(2)}, (1, 2))


def test_rejects_a_sequence_of_leaves_chosen_by_leaf_values():
    # On the stand-in tree `t[2] == 3` is False, on the raw tree True: the leaves differ.
    def where(t):
        return (t[0], t[1]) if t[2] == 3 else (t[1], t[0])

    with pytest.raises(ValueError, match="`where` must use just the PyTree structure of `pytree`"):
        tree_at(where, [1, 2, 3], (8, 9))


def test_a_root_that_is_a_leaf_is_replaced():
    assert tree_at(lambda t: t, 5, 6) == 6
    assert tree_at(lambda t: t, 5, replace_fn=lambda x: x + 1) == 6


def test_leaves_between_none_subtrees_are_replaced_and_a_leaf_can_become_none():
    assert tree_at(lambda t: t[1], [None, 1, None], 5) == [None, 5, None]
    assert tree_at(lambda t: t[0], [1, 2], None) == [None, 2]


def test_is_leaf_makes_a_subtree_one_selectable_leaf():
    tree = [(1, 2), 3]
    seen = []
    out = tree_at(
        lambda t: t[0],
        tree,
        replace_fn=lambda x: seen.append(x) or "pair",
        is_leaf=lambda x: isinstance(x, tuple),
    )
    assert out == ["pair", 3]
    assert seen == [(1, 2)]


def test_custom_node_keeps_its_static_data_and_matches_plain_tree_util():
    tree = [_Named(jnp.ones(2), jnp.zeros(2), "first"), _Named(jnp.ones(3), 0.5, "second")]
    out = tree_at(lambda t: t[1].weight, tree, jnp.full(3, 7.0))
    leaves, treedef = jtu.tree_flatten(tree)
    leaves[2] = jnp.full(3, 7.0)
    expected = jtu.tree_unflatten(treedef, leaves)
    assert jtu.tree_structure(out) == jtu.tree_structure(expected)
    assert [n.name for n in out] == ["first", "second"]
    assert out[1].weight.tolist() == [7.0, 7.0, 7.0] and out[1].bias == 0.5
    assert out[0].weight is tree[0].weight


def test_rejects_selecting_static_data_which_is_not_a_node():
    tree = _Named(jnp.ones(2), jnp.zeros(2), "layer")
    with pytest.raises(ValueError, match="`where` does not specify an element") as info:
        tree_at(lambda t: t.name, tree, "renamed")
    assert "'layer'" in str(info.value)


def test_concurrent_calls_of_many_sizes_with_cache_clearing_agree_with_plain_tree_util():
    from eqx_tree import clear_caches

    sizes = [3, 40, 7, 200, 1, 90]
    errors = []

    def edit_last_leaves():
        for _ in range(30):
            for size in sizes:
                out = tree_at(lambda t: t[-1], list(range(size)), "last")
                if out != [*range(size - 1), "last"]:
                    errors.append((size, out))

    def clear_repeatedly():
        for _ in range(200):
            clear_caches()

    threads = [threading.Thread(target=edit_last_leaves) for _ in range(3)]
    threads.append(threading.Thread(target=clear_repeatedly))
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []
