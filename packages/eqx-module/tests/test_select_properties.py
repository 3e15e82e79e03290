"""Property tests of `tree_select` over random nested Modules, against a hand-written walk."""

import dataclasses
from typing import Any

import hypothesis.strategies as st
import jax.numpy as jnp
import jax.tree_util as jtu
from hypothesis import HealthCheck, given, settings

from eqx_module import Module, field
from eqx_tree import tree_at, tree_equal, tree_select


class Leafy(Module):
    x: Any
    y: Any


class SubLeafy(Leafy):
    pass


class Holder(Module):
    items: Any
    tag: str = field(static=True, default="holder")


class Marked(Module):
    node: Any


_leaves = st.one_of(
    st.integers(-3, 3), st.builds(lambda n: jnp.arange(float(n)), st.integers(0, 3))
)


def _extend(children: st.SearchStrategy[Any]) -> st.SearchStrategy[Any]:
    return st.one_of(
        st.builds(Leafy, children, children),
        st.builds(SubLeafy, children, children),
        st.builds(Holder, st.lists(children, max_size=3)),
        st.lists(children, max_size=3),
        st.dictionaries(st.sampled_from("ab"), children, max_size=2),
    )


_trees = st.recursive(_leaves, _extend, max_leaves=10)
_settings = settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])


def _manual_walk(node: Any, cls: type, exact: bool, path: str = "") -> list[tuple[str, Any]]:
    """Outermost instances of `cls`, found without JAX's flattening."""
    if (type(node) is cls) if exact else isinstance(node, cls):
        return [(path, node)]
    if isinstance(node, Module):
        return [
            hit
            for f in dataclasses.fields(node)
            if not f.metadata.get("static", False)
            for hit in _manual_walk(getattr(node, f.name), cls, exact, f"{path}.{f.name}")
        ]
    if isinstance(node, list):
        return [h for i, c in enumerate(node) for h in _manual_walk(c, cls, exact, f"{path}[{i}]")]
    if isinstance(node, dict):
        return [
            h for k in sorted(node) for h in _manual_walk(node[k], cls, exact, f"{path}[{k!r}]")
        ]
    return []


def _navigate(tree: Any, path: tuple[Any, ...]) -> Any:
    for key in path:
        if isinstance(key, jtu.GetAttrKey):
            tree = getattr(tree, key.name)
        elif isinstance(key, jtu.SequenceKey):
            tree = tree[key.idx]
        else:
            tree = tree[key.key]
    return tree


@_settings
@given(_trees, st.sampled_from([Leafy, SubLeafy, Holder]), st.booleans())
def test_selecting_by_type_finds_what_a_manual_walk_finds(
    tree: Any, cls: type, exact: bool
) -> None:
    expected = _manual_walk(tree, cls, exact)
    selection = tree_select(tree).at_instances_of(cls, exact=exact, allow_empty=True)
    assert [jtu.keystr(p) for p in selection.paths()] == [p for p, _ in expected]
    assert all(a is b for a, (_, b) in zip(selection.get(), expected, strict=True))


@_settings
@given(_trees, st.sampled_from([Leafy, Holder]))
def test_apply_changes_exactly_the_selection_and_round_trips(tree: Any, cls: type) -> None:
    selection = tree_select(tree).at_instances_of(cls, allow_empty=True)
    new = selection.apply(Marked)
    # Exactly the selected nodes were wrapped, and nothing else changed ...
    marked = tree_select(new).at_instances_of(Marked, allow_empty=True)
    assert marked.paths() == selection.paths()
    assert all(m.node is n for m, n in zip(marked.get(), selection.get(), strict=True))
    # ... which is what tree_at does with the same positions ...
    paths = selection.paths()
    by_tree_at = tree_at(lambda t: tuple(_navigate(t, p) for p in paths), tree, replace_fn=Marked)
    if paths != ((),):
        assert tree_equal(new, by_tree_at)
    # ... and undoing it gives back the original tree.
    assert tree_equal(marked.apply(lambda m: m.node), tree)


@_settings
@given(_trees)
def test_set_replaces_each_selected_node_by_the_value(tree: Any) -> None:
    selection = tree_select(tree).at_instances_of(Leafy, allow_empty=True)
    new = selection.set("replaced")
    assert all(_navigate(new, p) == "replaced" for p in selection.paths())
    by_predicate = tree_select(tree).where(
        lambda path, node: isinstance(node, Leafy), allow_empty=True
    )
    assert by_predicate.paths() == selection.paths()
    assert len(jtu.tree_leaves(new)) == len(jtu.tree_leaves(tree)) - sum(
        len(jtu.tree_leaves(n)) for n in selection.get()
    ) + len(selection)
