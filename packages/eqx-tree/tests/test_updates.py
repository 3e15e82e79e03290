import jax.numpy as jnp
import pytest

from eqx_tree import apply_updates


def test_adds_updates_leafwise():
    model = {"w": jnp.array([1.0, 2.0]), "b": jnp.array(0.5)}
    out = apply_updates(model, {"w": jnp.array([0.1, 0.2]), "b": jnp.array(-0.5)})
    assert jnp.allclose(out["w"], jnp.array([1.1, 2.2]))
    assert float(out["b"]) == 0.0


def test_none_update_keeps_the_subtree():
    act = object()
    model = {"w": jnp.ones(2), "fn": act, "frozen": [jnp.ones(1)]}
    out = apply_updates(model, {"w": jnp.ones(2), "fn": None, "frozen": None})
    assert out["fn"] is act
    assert out["frozen"] is model["frozen"]
    assert jnp.array_equal(out["w"], 2 * jnp.ones(2))


def test_a_failing_add_raises_its_own_error():
    with pytest.raises(TypeError):
        apply_updates([object()], [0])


def test_the_failing_add_error_is_the_operands_own():
    with pytest.raises(TypeError, match="unsupported operand"):
        apply_updates({"w": object()}, {"w": 0})


def test_matches_a_hand_computation_on_a_nested_prefix():
    model = {"a": [jnp.array(1.0), jnp.array(2.0)], "b": jnp.array(3.0)}
    out = apply_updates(model, {"a": [jnp.array(0.5), None], "b": jnp.array(-1.0)})
    assert [float(x) for x in out["a"]] == [1.5, 2.0]
    assert float(out["b"]) == 2.0
