"""tree_save / tree_load on real eqx models: eqx_nn layers, a stateful BatchNorm, surgery.

These live at the repository root because they use eqx_nn and eqx_filter, which sit
above eqx_tree; eqx_tree's own tests may import only eqx_tree.
"""

import pathlib
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import eqx_filter
import eqx_module
import eqx_nn
import eqx_tree


class _Stateful(eqx_module.Module):
    linear: eqx_nn.Linear
    norm: eqx_nn.BatchNorm

    def __init__(self, key: jax.Array) -> None:
        self.linear = eqx_nn.Linear(3, 4, key=key)
        self.norm = eqx_nn.BatchNorm(4, axis_name="batch", mode="ema")

    def __call__(self, x: jax.Array, state: eqx_nn.State) -> tuple[jax.Array, eqx_nn.State]:
        return self.norm(self.linear(x), state)


def _train_step(model: _Stateful, state: eqx_nn.State, x: jax.Array) -> Any:
    batched = jax.vmap(model, in_axes=(0, None), out_axes=(0, None), axis_name="batch")
    return batched(x, state)


class _WithHead(eqx_module.Module):
    body: eqx_nn.Linear
    head: eqx_nn.Linear

    def __init__(self, key: jax.Array) -> None:
        body_key, head_key = jax.random.split(key)
        self.body = eqx_nn.Linear(2, 3, key=body_key)
        self.head = eqx_nn.Linear(3, 1, key=head_key)


class _BodyOnly(eqx_module.Module):
    body: eqx_nn.Linear

    def __init__(self, key: jax.Array) -> None:
        self.body = eqx_nn.Linear(2, 3, key=key)


def _leaves_equal(a: Any, b: Any) -> bool:
    leaves_a = jax.tree_util.tree_leaves(eqx_filter.filter(a, eqx_filter.is_array))
    leaves_b = jax.tree_util.tree_leaves(eqx_filter.filter(b, eqx_filter.is_array))
    return len(leaves_a) == len(leaves_b) and all(
        bool(jnp.array_equal(x, y)) for x, y in zip(leaves_a, leaves_b, strict=True)
    )


def test_a_stateful_model_round_trips_with_its_batch_norm_state(tmp_path: pathlib.Path) -> None:
    make = eqx_nn.make_with_state(_Stateful)
    model, state = make(jax.random.key(0))
    x = jax.random.normal(jax.random.key(1), (8, 3))
    _, state = _train_step(model, state, x)  # running statistics now differ from init
    path = tmp_path / "stateful.safetensors"
    eqx_tree.tree_save(path, {"model": model, "state": state})

    like_model, like_state = eqx_filter.filter_eval_shape(make, jax.random.key(0))
    loaded = eqx_tree.tree_load(path, {"model": like_model, "state": like_state})

    assert isinstance(loaded["state"], eqx_nn.State)
    assert _leaves_equal(loaded["model"], model)
    assert _leaves_equal(loaded["state"], state)
    expected_out, expected_state = _train_step(model, state, x)
    out, new_state = _train_step(loaded["model"], loaded["state"], x)
    np.testing.assert_array_equal(out, expected_out)
    assert _leaves_equal(new_state, expected_state)


def test_a_stateful_model_round_trips_through_the_eqx_leaf_stream(tmp_path: pathlib.Path) -> None:
    make = eqx_nn.make_with_state(_Stateful)
    model, state = make(jax.random.key(0))
    x = jax.random.normal(jax.random.key(1), (8, 3))
    _, state = _train_step(model, state, x)  # running statistics now differ from init
    path = tmp_path / "stateful"
    eqx_tree.tree_serialise_leaves(path, (model, state))
    assert (tmp_path / "stateful.eqx").exists()

    like = eqx_filter.filter_eval_shape(make, jax.random.key(0))
    loaded_model, loaded_state = eqx_tree.tree_deserialise_leaves(path, like)

    assert isinstance(loaded_state, eqx_nn.State)
    assert _leaves_equal(loaded_model, model)
    assert _leaves_equal(loaded_state, state)
    assert not _leaves_equal(loaded_state, make(jax.random.key(0))[1])  # not the init state
    expected_out, expected_state = _train_step(model, state, x)
    out, new_state = _train_step(loaded_model, loaded_state, x)
    np.testing.assert_array_equal(out, expected_out)
    assert _leaves_equal(new_state, expected_state)


def test_a_stateful_model_loaded_from_the_leaf_stream_into_a_wider_like_names_the_leaf(
    tmp_path: pathlib.Path,
) -> None:
    path = tmp_path / "stateful.eqx"
    eqx_tree.tree_serialise_leaves(path, eqx_nn.make_with_state(_Stateful)(jax.random.key(0)))

    class _Wider(_Stateful):
        def __init__(self, key: jax.Array) -> None:
            self.linear = eqx_nn.Linear(3, 5, key=key)
            self.norm = eqx_nn.BatchNorm(5, axis_name="batch", mode="ema")

    like = eqx_nn.make_with_state(_Wider)(jax.random.key(0))
    with pytest.raises(
        RuntimeError, match=r"Deserialised leaf at path .*has changed shape"
    ) as info:
        eqx_tree.tree_deserialise_leaves(path, like)
    assert "[0].linear.weight" in str(info.value)
    assert "(5, 3)" in str(info.value) and "(4, 3)" in str(info.value)


def test_state_markers_are_escaped_in_the_stored_names() -> None:
    model, state = eqx_nn.make_with_state(_Stateful)(jax.random.key(0))
    names = list(eqx_tree.tree_to_flat_dict({"model": model, "state": state}))
    # The markers are "_Stateful.norm.<field>": their dots become %2E, one name part each.
    assert names == [
        "model.linear.weight",
        "model.linear.bias",
        "model.norm.weight",
        "model.norm.bias",
        "model.norm.inference",
        "state._Stateful%2Enorm%2Eema_first_time_index",
        "state._Stateful%2Enorm%2Eema_state_index.0",
        "state._Stateful%2Enorm%2Eema_state_index.1",
    ]


def test_an_mlp_stores_leaves_under_attribute_names(tmp_path: pathlib.Path) -> None:
    mlp = eqx_nn.MLP(2, 1, width_size=4, depth=1, key=jax.random.key(0))
    path = tmp_path / "mlp.safetensors"
    eqx_tree.tree_save(path, mlp)
    safetensors_numpy = pytest.importorskip("safetensors.numpy")
    stored = safetensors_numpy.load_file(str(path))
    assert set(stored) >= {"layers.0.weight", "layers.0.bias", "layers.1.weight", "layers.1.bias"}
    np.testing.assert_array_equal(stored["layers.1.weight"], mlp.layers[1].weight)
    like = eqx_filter.filter_eval_shape(
        eqx_nn.MLP, 2, 1, width_size=4, depth=1, key=jax.random.key(0)
    )
    loaded = eqx_tree.tree_load(path, like)
    x = jnp.array([0.5, -1.0])
    np.testing.assert_array_equal(loaded(x), mlp(x))


def test_a_changed_layer_size_is_reported_by_path(tmp_path: pathlib.Path) -> None:
    path = tmp_path / "mlp.safetensors"
    eqx_tree.tree_save(path, eqx_nn.MLP(2, 1, width_size=4, depth=1, key=jax.random.key(0)))
    wider = eqx_nn.MLP(2, 1, width_size=8, depth=1, key=jax.random.key(0))
    with pytest.raises(eqx_tree.CheckpointMismatchError) as info:
        eqx_tree.tree_load(path, wider, strict=False)
    message = str(info.value)
    assert ".layers[0].weight (stored as 'layers.0.weight'): shape (4, 2) stored, (8, 2)" in message
    assert ".layers[1].weight (stored as 'layers.1.weight'): shape (1, 4) stored, (1, 8)" in message


def test_a_new_head_loads_the_pretrained_body_non_strictly(tmp_path: pathlib.Path) -> None:
    path = tmp_path / "body.safetensors"
    pretrained = _BodyOnly(jax.random.key(0))
    eqx_tree.tree_save(path, pretrained)
    fresh = _WithHead(jax.random.key(1))
    model, report = eqx_tree.tree_load(path, fresh, strict=False)
    assert report.missing == (".head.weight", ".head.bias")
    assert report.unexpected == ()
    np.testing.assert_array_equal(model.body.weight, pretrained.body.weight)
    assert model.head.weight is fresh.head.weight
    with pytest.raises(eqx_tree.CheckpointMismatchError, match="strict=False"):
        eqx_tree.tree_load(path, fresh)


def test_weights_come_in_from_a_torch_style_state_dict() -> None:
    linear = eqx_nn.Linear(3, 2, key=jax.random.key(0))
    state_dict = {
        "weight": np.arange(6, dtype=np.float32).reshape(2, 3),
        "bias": np.array([1.0, -1.0], np.float32),
    }
    loaded = eqx_tree.tree_from_flat_dict(linear, state_dict)
    # Row sums of the weight (3 and 12) plus the bias.
    np.testing.assert_array_equal(loaded(jnp.ones(3)), [4.0, 11.0])
