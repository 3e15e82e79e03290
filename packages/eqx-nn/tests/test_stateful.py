"""Tests for `StateIndex`, `State`, `make_with_state` and `delete_init_state`."""

import inspect
import io
import re

import jax
import jax.numpy as jnp
import jax.tree_util as jtu
import numpy as np
import pytest

import eqx_filter
import eqx_nn
import eqx_tree
from eqx_module import Module, field


class Counter(Module):
    index: eqx_nn.StateIndex[jax.Array]

    def __init__(self) -> None:
        self.index = eqx_nn.StateIndex(jnp.array(0))

    def __call__(self, x: jax.Array, state: eqx_nn.State) -> tuple[jax.Array, eqx_nn.State]:
        count = state.get(self.index)
        return x + count, state.set(self.index, count + 1)


class Model(Module):
    linear: eqx_nn.Linear
    norm1: eqx_nn.BatchNorm
    counter: Counter

    def __init__(self, key: jax.Array) -> None:
        self.linear = eqx_nn.Linear(3, 3, key=key)
        self.norm1 = eqx_nn.BatchNorm(3, "batch", mode="ema")
        self.counter = Counter()


def _two_indices() -> tuple[eqx_nn.StateIndex[jax.Array], eqx_nn.StateIndex[jax.Array]]:
    return eqx_nn.StateIndex(jnp.zeros(2)), eqx_nn.StateIndex(jnp.array(1, jnp.int32))


# --- StateIndex -----------------------------------------------------------------------


def test_state_index_fields_are_static_marker_then_init() -> None:
    index = eqx_nn.StateIndex(jnp.zeros(2))
    paths = [jtu.keystr(p) for p, _ in jtu.tree_flatten_with_path(index)[0]]
    assert paths == [".init"]
    assert type(index.marker) is object
    assert [f.name for f in __import__("dataclasses").fields(index)] == ["marker", "init"]


def test_state_index_gets_a_fresh_marker_each_time() -> None:
    a, b = eqx_nn.StateIndex(0), eqx_nn.StateIndex(0)
    assert a.marker is not b.marker


def test_state_index_rejects_a_function_init() -> None:
    with pytest.raises(ValueError, match=r"not a function.*StateIndex\(value\)"):
        eqx_nn.StateIndex(lambda: jnp.zeros(2))


def test_state_index_is_generic() -> None:
    index = eqx_nn.StateIndex[jax.Array](jnp.zeros(1))
    assert isinstance(index, eqx_nn.StateIndex)


# --- State construction, get, set ------------------------------------------------------


def test_state_collects_each_index_with_its_init_as_arrays() -> None:
    a, b = _two_indices()
    state = eqx_nn.State([a, {"x": b}, 3.0])
    assert np.array_equal(state.get(a), np.zeros(2))
    assert state.get(b).dtype == jnp.int32
    python_scalar = eqx_nn.StateIndex(1.5)
    assert isinstance(eqx_nn.State(python_scalar).get(python_scalar), jax.Array)


def test_state_set_returns_new_state_with_value() -> None:
    a, b = _two_indices()
    state = eqx_nn.State((a, b))
    new = state.set(a, jnp.ones(2))
    assert np.array_equal(new.get(a), np.ones(2))
    assert int(new.get(b)) == 1


def test_state_set_accepts_array_likes_and_converts_them() -> None:
    index = eqx_nn.StateIndex(jnp.zeros(2))
    state = eqx_nn.State(index).set(index, np.ones(2, np.float32))
    assert isinstance(state.get(index), jax.Array)


def test_state_get_rejects_non_state_index_keys() -> None:
    a, _ = _two_indices()
    state = eqx_nn.State(a)
    with pytest.raises(ValueError, match=r"Can only use `eqx\.nn\.StateIndex`s as state keys"):
        state.get(a.marker)


def test_state_set_rejects_non_state_index_keys() -> None:
    a, _ = _two_indices()
    state = eqx_nn.State(a)
    with pytest.raises(ValueError, match=r"Can only use `eqx\.nn\.StateIndex`s as state keys"):
        state.set("a", jnp.zeros(2))


def test_state_method_signatures_are_the_specified_ones() -> None:
    def names(method: object) -> list[str]:
        return list(inspect.signature(method).parameters)  # type: ignore[arg-type]

    assert names(eqx_nn.State.get) == ["self", "i"]
    assert names(eqx_nn.State.set) == ["self", "i", "v"]
    assert names(eqx_nn.State.substate) == ["self", "pytree"]
    assert names(eqx_nn.State.update) == ["self", "sub"]


def test_state_keys_must_be_exactly_state_index_not_a_subclass() -> None:
    class MyIndex(eqx_nn.StateIndex[jax.Array]):
        pass

    index = MyIndex(jnp.zeros(2))
    state = eqx_nn.State(index)
    with pytest.raises(ValueError, match=r"Can only use `eqx\.nn\.StateIndex`s.*MyIndex"):
        state.get(index)


def test_state_set_stores_a_weakly_typed_scalar_with_the_old_strong_dtype() -> None:
    index = eqx_nn.StateIndex(jnp.array(0.0))
    state = eqx_nn.State(index).set(index, 2.5)
    value = state.get(index)
    assert value.dtype == jnp.float32
    assert not value.weak_type
    assert float(value) == 2.5


@pytest.mark.usefixtures("not_under_import_hook")
def test_stateful_layers_called_without_a_state_raise_pointing_to_make_with_state() -> None:
    bn, _ = eqx_nn.make_with_state(eqx_nn.BatchNorm)(3, "batch", mode="batch")
    with pytest.raises(
        ValueError, match=r"`BatchNorm` is a stateful layer.*got dict.*make_with_state"
    ):
        bn(jnp.zeros(3), {})
    linear = eqx_nn.Linear(3, 3, key=jax.random.key(0))
    spectral, _ = eqx_nn.make_with_state(eqx_nn.SpectralNorm)(
        linear, "weight", key=jax.random.key(1)
    )
    with pytest.raises(ValueError, match=r"`SpectralNorm` is a stateful layer.*got no state"):
        spectral(jnp.zeros(3), None)


def test_state_get_of_foreign_index_names_the_marker() -> None:
    a, b = _two_indices()
    with pytest.raises(KeyError, match="not part of this `State`"):
        eqx_nn.State(a).get(b)


@pytest.mark.parametrize(
    ("new_value", "shown"),
    [
        (jnp.zeros(3), r"float32\[3\].*float32\[2\]"),
        (jnp.zeros(2, jnp.int32), r"int32\[2\].*float32\[2\]"),
        ((jnp.zeros(2), jnp.zeros(2)), r"PyTreeDef\(\(\*, \*\)\).*PyTreeDef\(\*\)"),
    ],
    ids=["shape", "dtype", "structure"],
)
def test_state_set_rejects_changed_structure_shape_or_dtype_showing_both(
    new_value: object, shown: str
) -> None:
    index = eqx_nn.StateIndex(jnp.zeros(2))
    state = eqx_nn.State(index)
    with pytest.raises(ValueError, match=shown):
        state.set(index, new_value)
    # A rejected set leaves the state usable.
    assert np.array_equal(state.get(index), np.zeros(2))


# --- invalidation -----------------------------------------------------------------------


def test_old_state_raises_on_get_set_substate_update_and_flatten() -> None:
    a, b = _two_indices()
    old = eqx_nn.State((a, b))
    new = old.set(a, jnp.ones(2))
    match = "Attempted to use old state"
    with pytest.raises(ValueError, match=match):
        old.get(a)
    with pytest.raises(ValueError, match=match):
        old.set(a, jnp.ones(2))
    with pytest.raises(ValueError, match=match):
        old.substate(a)
    with pytest.raises(ValueError, match=match):
        old.update(new.substate(a))
    with pytest.raises(ValueError, match=match):
        jtu.tree_leaves(old)
    with pytest.raises(ValueError, match=match):
        new.update(old)


def test_old_state_message_explains_cloning_by_flatten_and_unflatten() -> None:
    a, _ = _two_indices()
    old = eqx_nn.State(a)
    old.set(a, jnp.ones(2))
    with pytest.raises(ValueError, match=r"tree_flatten.*tree_unflatten"):
        old.get(a)


def test_cloning_by_flatten_and_unflatten_survives_invalidation() -> None:
    a, _ = _two_indices()
    state = eqx_nn.State(a)
    leaves, treedef = jtu.tree_flatten(state)
    clone = jtu.tree_unflatten(treedef, leaves)
    state.set(a, jnp.ones(2))
    assert np.array_equal(clone.get(a), np.zeros(2))


def test_reusing_a_state_after_a_layer_call_raises() -> None:
    counter, state = eqx_nn.make_with_state(Counter)()
    _, new_state = counter(jnp.array(0), state)
    assert int(new_state.get(counter.index)) == 1
    with pytest.raises(ValueError, match="Attempted to use old state"):
        counter(jnp.array(0), state)


# --- substate / update ------------------------------------------------------------------


def test_substate_keeps_only_markers_in_pytree_and_does_not_invalidate() -> None:
    a, b = _two_indices()
    state = eqx_nn.State((a, b))
    sub = state.substate({"only": b})
    assert jtu.tree_structure(sub) == jtu.tree_structure(eqx_nn.State(b).substate(b))
    assert len(jtu.tree_leaves(sub)) == 1
    assert int(sub.get(b)) == 1
    with pytest.raises(KeyError):
        sub.get(a)
    assert np.array_equal(state.get(a), np.zeros(2))  # still valid


def test_update_writes_substate_in_and_invalidates_receiver() -> None:
    a, b = _two_indices()
    state = eqx_nn.State((a, b))
    sub = state.substate(b).set(b, jnp.array(7, jnp.int32))
    new = state.update(sub)
    assert int(new.get(b)) == 7
    assert np.array_equal(new.get(a), np.zeros(2))
    with pytest.raises(ValueError, match="Attempted to use old state"):
        state.get(a)


def test_update_rejects_entries_the_receiver_lacks() -> None:
    a, b = _two_indices()
    with pytest.raises(ValueError, match="unless `state2` is a substate of `state1`"):
        eqx_nn.State(a).update(eqx_nn.State(b))


def test_update_rejects_non_state() -> None:
    a, _ = _two_indices()
    with pytest.raises(ValueError, match="unless `state2` is a substate of `state1`"):
        eqx_nn.State(a).update({"a": 1})


# --- PyTree layout and repr -------------------------------------------------------------


def test_state_pytree_children_are_values_in_order_and_aux_is_markers() -> None:
    a, b = _two_indices()
    state = eqx_nn.State((a, b))
    leaves, treedef = jtu.tree_flatten(state)
    assert len(leaves) == 2
    assert np.array_equal(leaves[0], np.zeros(2))
    assert int(leaves[1]) == 1
    node_data = treedef.node_data()
    assert node_data is not None
    assert node_data[0] is eqx_nn.State
    assert node_data[1] == (a.marker, b.marker)


def test_state_unflattens_from_arbitrary_leaves() -> None:
    a, b = _two_indices()
    treedef = jtu.tree_structure(eqx_nn.State((a, b)))
    state = jtu.tree_unflatten(treedef, [None, object()])
    assert state.get(a) is None


def test_state_repr_shows_markers_and_values() -> None:
    _model, state = eqx_nn.make_with_state(Counter)()
    assert repr(state) == "State(Counter.index=weak_i32[])" or repr(state) == (
        "State(Counter.index=i32[])"
    )


def test_state_repr_works_with_object_markers_and_when_old() -> None:
    a, _ = _two_indices()
    state = eqx_nn.State(a)
    text = repr(state)
    assert re.fullmatch(r"State\(<object object at 0x[0-9a-f]+>=f32\[2\]\)", text), text
    state.set(a, jnp.ones(2))
    assert repr(state) == "State(~old~)"


# --- make_with_state / delete_init_state -------------------------------------------------


def test_make_with_state_names_markers_by_class_and_path() -> None:
    model, state = eqx_nn.make_with_state(Model)(jax.random.key(0))
    assert model.norm1.ema_state_index is not None
    assert model.norm1.ema_state_index.marker == "Model.norm1.ema_state_index"
    assert model.counter.index.marker == "Model.counter.index"
    markers = jtu.tree_structure(state).node_data()[1]
    assert markers == (
        "Model.norm1.ema_first_time_index",
        "Model.norm1.ema_state_index",
        "Model.counter.index",
    )


def test_make_with_state_deletes_init_and_state_holds_it() -> None:
    model, state = eqx_nn.make_with_state(Model)(jax.random.key(0))
    assert model.norm1.ema_first_time_index is not None
    assert bool(state.get(model.norm1.ema_first_time_index))
    assert model.counter.index.init is not jnp.array(0)
    assert jtu.tree_leaves(model.counter.index) == []


def test_delete_init_state_removes_three_array_leaves_from_ema_batch_norm() -> None:
    with pytest.warns(eqx_tree.EqxWarning):
        bn = eqx_nn.BatchNorm(4, "batch")
    before = [x for x in jtu.tree_leaves(bn) if eqx_tree.is_array(x)]
    after = [x for x in jtu.tree_leaves(eqx_nn.delete_init_state(bn)) if eqx_tree.is_array(x)]
    assert len(before) - len(after) == 3


def test_state_of_a_deleted_model_raises_pointing_to_make_with_state() -> None:
    model, _ = eqx_nn.make_with_state(Counter)()
    with pytest.raises(ValueError, match=r"Do not call `eqx.nn.State\(model\)` directly"):
        eqx_nn.State(model)


def test_make_with_state_passes_arguments_through() -> None:
    class Scaled(Module):
        index: eqx_nn.StateIndex[jax.Array]
        scale: float = field(static=True)

        def __init__(self, scale: float, *, start: int) -> None:
            self.scale = scale
            self.index = eqx_nn.StateIndex(jnp.array(start))

    model, state = eqx_nn.make_with_state(Scaled)(2.0, start=5)
    assert model.scale == 2.0
    assert int(state.get(model.index)) == 5


def test_make_with_state_works_under_jit() -> None:
    @jax.jit
    def make(start: jax.Array) -> eqx_nn.State:
        model, state = eqx_nn.make_with_state(Counter)()
        return state.set(model.index, start)

    counter, _ = eqx_nn.make_with_state(Counter)()
    state = make(jnp.array(4))
    assert int(state.get(counter.index)) == 4

    model, state = eqx_filter.filter_jit(eqx_nn.make_with_state(Model))(jax.random.key(0))
    out, state = model.counter(jnp.array(1), state)
    assert int(out) == 1


def test_make_with_state_output_crosses_plain_jax_jit() -> None:
    # The deleted init is a leafless node, so a model of arrays stays a valid jit output.
    model, state = jax.jit(eqx_nn.make_with_state(Counter))()
    assert model.index.marker == "Counter.index"
    assert int(state.get(model.index)) == 0


def test_make_with_state_works_with_filter_vmap() -> None:
    keys = jax.random.split(jax.random.key(0), 3)
    make = eqx_filter.filter_vmap(eqx_nn.make_with_state(Model))
    models, states = make(keys)
    assert models.linear.weight.shape == (3, 3, 3)
    assert models.norm1.ema_state_index is not None
    mean, _var = states.get(models.norm1.ema_state_index)
    assert mean.shape == (3, 3)


def test_model_and_state_round_trip_through_serialisation() -> None:
    model, state = eqx_nn.make_with_state(Model)(jax.random.key(0))
    assert model.norm1.ema_state_index is not None
    x = jax.random.normal(jax.random.key(1), (5, 3))

    def step(xs: jax.Array, st: eqx_nn.State) -> tuple[jax.Array, eqx_nn.State]:
        return jax.vmap(model.norm1, axis_name="batch", in_axes=(0, None), out_axes=(0, None))(
            xs, st
        )

    _, state = step(x, state)
    state = state.set(model.counter.index, jnp.array(3))
    buffer = io.BytesIO()
    eqx_tree.tree_serialise_leaves(buffer, (model, state))
    buffer.seek(0)
    like = eqx_nn.make_with_state(Model)(jax.random.key(9))
    loaded_model, loaded_state = eqx_tree.tree_deserialise_leaves(buffer, like)
    assert eqx_tree.tree_equal(loaded_model, model) is not False
    assert bool(eqx_tree.tree_equal(loaded_model, model))
    assert int(loaded_state.get(model.counter.index)) == 3
    assert np.allclose(
        loaded_state.get(model.norm1.ema_state_index)[0],
        state.get(model.norm1.ema_state_index)[0],
    )
    assert not bool(loaded_state.get(model.norm1.ema_first_time_index))


def test_serialising_an_old_state_raises() -> None:
    counter, state = eqx_nn.make_with_state(Counter)()
    state.set(counter.index, jnp.array(1))
    with pytest.raises(ValueError, match="Attempted to use old state"):
        eqx_tree.tree_serialise_leaves(io.BytesIO(), state)
