"""`tree_select`: narrowing by type, predicate and `where`, reading, and editing via `tree_at`."""

import dataclasses
from typing import Any

import jax
import jax.numpy as jnp
import jax.tree_util as jtu
import numpy as np
import pytest

from eqx_tree import tree_at, tree_equal, tree_select


@jax.tree_util.register_dataclass
@dataclasses.dataclass
class Dense:
    weight: Any
    bias: Any


@jax.tree_util.register_dataclass
@dataclasses.dataclass
class SubDense(Dense):
    pass


@jax.tree_util.register_dataclass
@dataclasses.dataclass
class Block:
    first: Any
    second: Any


def _model() -> list[Any]:
    return [
        Dense(jnp.ones((2, 3)), jnp.zeros(2)),
        {"sub": SubDense(jnp.full((3, 3), 2.0), None), "block": Block(Dense(1.0, 2.0), 3)},
    ]


def test_at_instances_of_includes_subclasses_and_exact_opts_out() -> None:
    model = _model()
    paths = [jtu.keystr(p) for p in tree_select(model).at_instances_of(Dense).paths()]
    assert paths == ["[0]", "[1]['block'].first", "[1]['sub']"]
    exact = tree_select(model).at_instances_of(Dense, exact=True)
    assert [jtu.keystr(p) for p in exact.paths()] == ["[0]", "[1]['block'].first"]
    assert exact.get() == (model[0], model[1]["block"].first)


def test_type_matches_are_outermost_and_chaining_looks_inside() -> None:
    model = _model()
    blocks = tree_select(model).at_instances_of(Block)
    assert [jtu.keystr(p) for p in blocks.paths()] == ["[1]['block']"]
    inner = blocks.at_instances_of(Dense)
    assert [jtu.keystr(p) for p in inner.paths()] == ["[1]['block'].first"]
    assert inner.get() == (model[1]["block"].first,)


def test_where_sees_paths_from_the_root() -> None:
    model = _model()
    seen = []

    def is_bias(path: tuple[Any, ...], node: Any) -> bool:
        seen.append(jtu.keystr(path))
        return bool(path) and path[-1] == jtu.GetAttrKey("bias")

    biases = tree_select(model).at_instances_of(Dense).where(is_bias)
    # `None` is an empty subtree, not a node: the bias of `sub` is not selected.
    assert [jtu.keystr(p) for p in biases.paths()] == ["[0].bias", "[1]['block'].first.bias"]
    assert "[1]['sub'].weight" in seen


def test_filter_keeps_selected_nodes_without_looking_inside() -> None:
    model = _model()
    dense = tree_select(model).at_instances_of(Dense)
    kept = dense.filter(lambda path, d: jnp.ndim(d.weight) == 2)
    assert [jtu.keystr(p) for p in kept.paths()] == ["[0]", "[1]['sub']"]
    with pytest.raises(ValueError, match=r"at_instances_of\(Dense\)\.filter\(.*selected nothing"):
        dense.filter(lambda path, d: False)
    assert len(dense.filter(lambda path, d: False, allow_empty=True)) == 0


def test_set_and_apply_change_exactly_the_selection_and_leave_the_input_alone() -> None:
    model = _model()
    selection = tree_select(model).at_instances_of(Dense).at(lambda d: d.weight)
    new = selection.apply(lambda w: w * 10)
    assert tree_equal(new[0].weight, jnp.full((2, 3), 10.0))
    assert tree_equal(new[1]["sub"].weight, jnp.full((3, 3), 20.0))
    assert new[1]["block"].first.weight == 10.0
    assert new[0].bias is model[0].bias and new[1]["block"].second == 3
    assert tree_equal(model, _model())  # unchanged
    assert selection.set(0)[1]["block"].first == Dense(0, 2.0)


def test_set_agrees_with_tree_at() -> None:
    model = _model()
    by_select = tree_select(model).at_instances_of(Dense, exact=True).set("X")
    by_tree_at = tree_at(lambda m: (m[0], m[1]["block"].first), model, ("X", "X"))
    assert tree_equal(by_select, by_tree_at)


def test_root_selection_and_empty_selection_edits() -> None:
    model = Dense(1.0, 2.0)
    assert tree_select(model).at_instances_of(Dense).set(5) == 5
    empty = tree_select(model).at_instances_of(Block, allow_empty=True)
    assert len(empty) == 0 and empty.get() == () and empty.apply(lambda n: 1 / 0) is model


def test_mask_marks_the_leaves_inside_selected_nodes() -> None:
    model = _model()
    mask = tree_select(model).at_instances_of(Dense, exact=True).at(lambda d: d.bias).mask()
    assert jtu.tree_structure(mask) == jtu.tree_structure(model)
    assert jtu.tree_leaves(mask) == [False, True, False, True, False, False]


def test_selecting_nothing_names_the_selection_and_shows_the_structure() -> None:
    with pytest.raises(
        ValueError, match=r"tree_select\(list\)\.at_instances_of\(Dense\)\.at_instances_of\(Block\)"
    ) as info:
        tree_select(_model()).at_instances_of(Dense).at_instances_of(Block)
    message = str(info.value)
    assert "[1]['sub'].weight: float32[3, 3]" in message
    assert "allow_empty=True" in message


def test_where_fn_errors_name_the_selection_and_path() -> None:
    selection = tree_select(_model()).at_instances_of(Dense)
    with pytest.raises(AttributeError, match="nope") as info:
        selection.at(lambda d: d.nope)
    assert "at_instances_of(Dense).at(" in "".join(info.value.__notes__)
    assert "node at [0]" in "".join(info.value.__notes__)
    with pytest.raises(ValueError, match="neither a node of the tree") as value_info:
        selection.at(lambda d: jnp.zeros(2))
    assert ".weight: float32[2, 3]" in "".join(value_info.value.__notes__)


def test_overlapping_at_selection_is_rejected() -> None:
    with pytest.raises(
        ValueError, match=r"selects both \[1\]\['block'\] and \[1\]\['block'\]\.first"
    ):
        tree_select(_model()).at(lambda m: (m[1]["block"], m[1]["block"].first))


@pytest.mark.usefixtures("not_under_import_hook")
def test_bad_type_argument() -> None:
    with pytest.raises(TypeError, match="type or a tuple of types, got 'Dense'"):
        tree_select(_model()).at_instances_of("Dense")  # type: ignore[arg-type]


def test_selection_is_immutable_and_shares_structure() -> None:
    base = tree_select(_model())
    narrowed = base.at_instances_of(Dense)
    assert len(base) == 1 and base.paths() == ((),)
    assert len(narrowed) == 3
    assert np.array_equal(next(iter(narrowed)).weight, np.ones((2, 3)))
    assert "3 node(s)" in repr(narrowed)


def test_none_is_an_empty_subtree_unless_is_leaf_makes_it_a_node() -> None:
    tree = [None, 1, (None,)]
    assert tree_select(tree).where(lambda p, n: n is None, allow_empty=True).paths() == ()
    nones = tree_select(tree, is_leaf=lambda x: x is None).where(lambda p, n: n is None)
    assert [jtu.keystr(p) for p in nones.paths()] == ["[0]", "[2][0]"]
    assert nones.set(5) == [5, 1, (5,)]
    assert nones.mask() == [True, False, (True,)]
