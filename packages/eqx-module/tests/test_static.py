"""`Static`."""

import jax
import jax.tree_util as jtu

from eqx_module import Static


def test_static_has_no_leaves_and_rebuilds_value() -> None:
    value = {"name": "relu", "sizes": (1, 2)}
    s = Static(value)
    assert jtu.tree_leaves(s) == []
    assert s.value == value


def test_static_round_trips_through_jit_output() -> None:
    out = jax.jit(lambda: Static(("a", 1)))()
    assert out.value == ("a", 1)


def test_static_treedef_depends_on_value() -> None:
    assert jtu.tree_structure(Static(1)) == jtu.tree_structure(Static(1))
    assert jtu.tree_structure(Static(1)) != jtu.tree_structure(Static(2))
    assert hash(Static((1, 2))) == hash(Static((1, 2)))
