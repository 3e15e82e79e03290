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
