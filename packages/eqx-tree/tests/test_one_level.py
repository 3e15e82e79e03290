import dataclasses

import jax
import jax.tree_util as jtu
import pytest

from eqx_tree import tree_flatten_one_level


@jax.tree_util.register_dataclass
@dataclasses.dataclass
class _Empty:
    pass


def test_children_are_kept_whole():
    children, treedef = tree_flatten_one_level([None, None, _Empty(), 1, 2])
    assert children[:2] == [None, None]
    assert isinstance(children[2], _Empty)
    assert children[3:] == [1, 2]
    assert treedef == jtu.tree_structure([0] * 5)


def test_nested_children_are_not_flattened():
    children, treedef = tree_flatten_one_level({"a": [1, 2], "b": (3,)})
    assert children == [[1, 2], (3,)]
    assert jtu.tree_unflatten(treedef, children) == {"a": [1, 2], "b": (3,)}


def test_a_leaf_flattens_to_itself():
    children, treedef = tree_flatten_one_level(5)
    assert children == [5]
    assert treedef == jtu.tree_structure(0)


def test_immediately_self_referential_node_is_an_error():
    x: list = []
    x.append(x)
    with pytest.raises(ValueError, match="immediately self-referential"):
        tree_flatten_one_level(x)
