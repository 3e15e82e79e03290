"""Tests for `StatefulLayer`, `Sequential` and `Lambda`."""

import dataclasses
from typing import Any

import jax
import jax.numpy as jnp
import jax.random as jr
import jax.tree_util as jtu
import numpy as np
import pytest

import eqx_nn
from eqx_module import Module


class RecordKey(Module):
    """Returns the key it was called with (so tests can see the key splitting)."""

    def __call__(self, x: Any, *, key: Any = None) -> Any:
        return key


class AddOne(Module):
    def __call__(self, x: jax.Array, *, key: Any = None) -> jax.Array:
        return x + 1


class CountCalls(eqx_nn.StatefulLayer):
    index: eqx_nn.StateIndex[jax.Array]

    def __init__(self) -> None:
        self.index = eqx_nn.StateIndex(jnp.array(0))

    def __call__(
        self, x: jax.Array, state: eqx_nn.State, *, key: Any = None
    ) -> tuple[jax.Array, eqx_nn.State]:
        count = state.get(self.index)
        return x * 2, state.set(self.index, count + 1)


class SometimesStateful(eqx_nn.StatefulLayer):
    stateful: bool

    def __call__(self, x: jax.Array, state: Any = None, *, key: Any = None) -> Any:
        return (x - 1, state) if self.stateful else x - 1

    def is_stateful(self) -> bool:
        return self.stateful


def test_stateful_layer_is_abstract_and_stateful_by_default() -> None:
    with pytest.raises(TypeError, match="abstract"):
        eqx_nn.StatefulLayer()
    assert CountCalls().is_stateful() is True


def test_sequential_stores_layers_as_a_tuple_field() -> None:
    seq = eqx_nn.Sequential([AddOne(), AddOne()])
    assert isinstance(seq.layers, tuple)
    assert [f.name for f in dataclasses.fields(seq)] == ["layers"]


def test_sequential_applies_layers_in_order() -> None:
    seq = eqx_nn.Sequential([eqx_nn.Lambda(lambda x: x * 3), AddOne()])
    assert int(seq(jnp.array(2))) == 7


def test_sequential_splits_the_key_once_per_layer() -> None:
    key = jr.key(0)
    seq = eqx_nn.Sequential([RecordKey(), RecordKey()])
    out = seq(jnp.zeros(()), key=key)
    expected = jr.split(key, 2)[1]
    assert np.array_equal(jr.key_data(out), jr.key_data(expected))
    first = eqx_nn.Sequential([RecordKey()])(jnp.zeros(()), key=key)
    assert np.array_equal(jr.key_data(first), jr.key_data(jr.split(key, 1)[0]))


def test_sequential_without_key_gives_every_layer_none() -> None:
    seq = eqx_nn.Sequential([RecordKey()])
    assert seq(jnp.zeros(())) is None


def test_sequential_threads_state_through_stateful_layers() -> None:
    seq, state = eqx_nn.make_with_state(eqx_nn.Sequential)([CountCalls(), AddOne(), CountCalls()])
    out, state = seq(jnp.array(1), state)
    assert int(out) == 6  # ((1 * 2) + 1) * 2
    first, second = seq.layers[0], seq.layers[2]
    assert int(state.get(first.index)) == 1
    assert int(state.get(second.index)) == 1


def test_sequential_respects_is_stateful_false() -> None:
    seq = eqx_nn.Sequential([SometimesStateful(False), SometimesStateful(True)])
    out, state = seq(jnp.array(5), "state")
    assert int(out) == 3
    assert state == "state"


def test_sequential_without_state_returns_just_output() -> None:
    out = eqx_nn.Sequential([AddOne()])(jnp.array(1))
    assert isinstance(out, jax.Array)


def test_sequential_is_stateful_iff_a_child_is() -> None:
    assert eqx_nn.Sequential([AddOne(), CountCalls()]).is_stateful()
    assert not eqx_nn.Sequential([AddOne(), SometimesStateful(False)]).is_stateful()
    assert not eqx_nn.Sequential([]).is_stateful()


def test_sequential_indexing_by_int_and_slice() -> None:
    a, b, c = AddOne(), eqx_nn.Lambda(jnp.negative), CountCalls()
    seq = eqx_nn.Sequential([a, b, c])
    assert seq[1] is b
    assert seq[-1] is c
    sliced = seq[1:]
    assert isinstance(sliced, eqx_nn.Sequential)
    assert sliced.layers == (b, c)


def test_sequential_rejects_other_indices() -> None:
    seq = eqx_nn.Sequential([AddOne()])
    with pytest.raises(TypeError, match="int or a slice, not by str"):
        seq["0"]  # type: ignore[call-overload]


def test_sequential_iter_and_len() -> None:
    layers = [AddOne(), AddOne(), AddOne()]
    seq = eqx_nn.Sequential(layers)
    assert len(seq) == 3
    assert list(seq) == layers


def test_sequential_of_linears_matches_hand_composition() -> None:
    k1, k2 = jr.split(jr.key(0))
    l1, l2 = eqx_nn.Linear(2, 3, key=k1), eqx_nn.Linear(3, 1, key=k2)
    seq = eqx_nn.Sequential([l1, eqx_nn.Lambda(jax.nn.relu), l2])
    x = jnp.array([0.5, -1.0])
    expected = l2.weight @ jax.nn.relu(l1.weight @ x + l1.bias) + l2.bias
    assert np.allclose(seq(x), expected)


def test_lambda_calls_fn_and_ignores_key() -> None:
    lam = eqx_nn.Lambda(jnp.square)
    assert int(lam(jnp.array(3), key=jr.key(0))) == 9


def test_lambda_fn_is_a_pytree_child() -> None:
    inner = eqx_nn.Linear(2, 2, key=jr.key(0))
    lam = eqx_nn.Lambda(inner)
    paths = [jtu.keystr(p) for p, _ in jtu.tree_flatten_with_path(lam)[0]]
    assert paths == [".fn.weight", ".fn.bias"]


class AcceptsNoState(eqx_nn.StatefulLayer):
    """A stateful layer that can also run without a state (it gets the sentinel)."""

    def __call__(self, x: jax.Array, state: Any, *, key: Any = None) -> Any:
        return x + 1, state


def test_sequential_without_state_passes_the_sentinel_on_to_stateful_layers() -> None:
    seq = eqx_nn.Sequential([AddOne(), AcceptsNoState()])
    out = seq(jnp.array(1))
    assert int(out) == 3  # just `x`: no state was given, so none is returned


@pytest.mark.usefixtures("not_under_import_hook")
def test_sequential_with_batch_norm_but_no_state_raises_pointing_to_make_with_state() -> None:
    bn, _ = eqx_nn.make_with_state(eqx_nn.BatchNorm)(2, "batch", mode="batch")
    seq = eqx_nn.Sequential([AddOne(), bn])
    with pytest.raises(
        ValueError, match=r"`BatchNorm` is a stateful layer.*got no state.*make_with_state"
    ):
        jax.vmap(seq, axis_name="batch")(jnp.ones((3, 2)))


def test_sequential_threads_state_through_nested_sequentials_and_batch_norm() -> None:
    def make() -> eqx_nn.Sequential:
        return eqx_nn.Sequential(
            [
                eqx_nn.Sequential([CountCalls(), eqx_nn.BatchNorm(1, "batch", mode="batch")]),
                AddOne(),
            ]
        )

    seq, state = eqx_nn.make_with_state(make)()
    assert seq.is_stateful()
    inner = seq[0]
    assert isinstance(inner, eqx_nn.Sequential)
    x = jnp.array([[1.0], [3.0]])
    out, state = jax.vmap(seq, axis_name="batch", in_axes=(0, None), out_axes=(0, None))(x, state)
    # CountCalls doubles, BatchNorm normalises the batch [2, 6] to [-1, 1], AddOne adds 1.
    assert np.allclose(out[:, 0], [0.0, 2.0], atol=1e-4)
    counter = inner[0]
    assert isinstance(counter, CountCalls)
    assert int(state.get(counter.index)) == 1
    batch_norm = inner[1]
    assert isinstance(batch_norm, eqx_nn.BatchNorm)
    assert batch_norm.batch_counter is not None
    assert int(state.get(batch_norm.batch_counter)) == 1
