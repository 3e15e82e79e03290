import pytest

from eqx_tree import tree_check


def test_repeated_leaves_and_empty_nodes_are_fine():
    tree_check([1, 1, "a", "a", [], [], None, None, (), ()])


def test_a_subtree_stored_twice_is_an_error_naming_both_paths():
    shared = [1]
    with pytest.raises(ValueError, match="appears in the PyTree multiple times") as info:
        tree_check({"a": shared, "b": shared})
    assert "['a']" in str(info.value) and "['b']" in str(info.value)
    assert "list" in str(info.value)


def test_a_cycle_is_an_error():
    x: list = [1]
    x.append(x)
    with pytest.raises(ValueError, match="self-referential"):
        tree_check({"x": x})


def test_distinct_equal_subtrees_are_fine():
    tree_check([[1], [1]])


def test_the_cycle_message_names_the_type_and_the_paths():
    inner: list = [1]
    inner.append(inner)
    with pytest.raises(ValueError, match="self-referential") as info:
        tree_check({"x": inner})
    message = str(info.value)
    assert "list" in message
    assert "['x']" in message
    assert "['x'][1]" in message


def test_a_shared_node_without_leaves_is_fine():
    empty: list = []
    tree_check({"a": empty, "b": empty, "c": [None], "d": [None]})


def test_the_same_array_twice_is_fine_by_default_and_an_error_with_arrays_true():
    import jax.numpy as jnp

    w = jnp.ones((2, 3))
    tree = {"a": [w, w], "b": jnp.ones((2, 3))}
    tree_check(tree)  # repeated leaves are fine unless asked
    with pytest.raises(ValueError, match="appears in the PyTree multiple times") as info:
        tree_check(tree, arrays=True)
    message = str(info.value)
    assert "The same array float32[2,3]" in message
    assert "at ['a'][0] and at ['a'][1]" in message
    assert "eqx.nn.Shared" in message


def test_arrays_true_compares_identity_not_value():
    import jax.numpy as jnp
    import numpy as np

    tree_check([jnp.ones(3), jnp.ones(3), np.ones(2), np.ones(2)], arrays=True)
    # NumPy scalars are immutable values, some of them singletons: never flagged.
    tree_check([np.True_, np.True_, np.float32(1)], arrays=True)
    x = np.zeros(2)
    with pytest.raises(ValueError, match=r"at \[0\] and at \[2\]"):
        tree_check([x, 1, x], arrays=True)


def test_a_node_stored_twice_is_reported_once_not_once_per_array_inside():
    import jax.numpy as jnp

    from eqx_tree._aliases import Alias, find_aliases

    inner = {"w": jnp.ones(2), "b": jnp.zeros(2)}
    aliases = find_aliases({"x": inner, "y": inner}, arrays=True)
    assert aliases == [Alias("dict", "['x']", "['y']")]


def test_find_aliases_lists_every_repeat_in_flatten_order():
    import jax.numpy as jnp

    from eqx_tree._aliases import Alias, find_aliases

    w = jnp.ones(2)
    node = [jnp.zeros(1)]
    aliases = find_aliases({"a": w, "b": node, "c": (w, node)}, arrays=True)
    assert aliases == [
        Alias("array float32[2]", "['a']", "['c'][0]"),
        Alias("list", "['b']", "['c'][1]"),
    ]


def test_a_repeated_root_array_is_named_the_root():
    import jax.numpy as jnp

    from eqx_tree._aliases import Alias

    assert "at the root and at [0]" in Alias("list", "", "[0]").describe()
    w = jnp.ones(1)
    tree_check(w, arrays=True)  # once is fine


def test_find_aliases_can_leave_out_nodes_of_python_values_only():
    import jax.numpy as jnp

    from eqx_tree._aliases import Alias, find_aliases

    axes = (0, None)  # Python shares equal tuple literals: harmless, nothing to untie
    node = [jnp.ones(1), "relu"]
    tree = {"in": axes, "out": axes, "a": node, "b": node}
    assert find_aliases(tree, arrays=True, static_nodes=False) == [Alias("list", "['a']", "['b']")]
    assert find_aliases(tree, arrays=True) == [
        Alias("list", "['a']", "['b']"),
        Alias("tuple", "['in']", "['out']"),
    ]
