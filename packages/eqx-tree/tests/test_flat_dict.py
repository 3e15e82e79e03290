"""tree_to_flat_dict / tree_from_flat_dict: dotted names, round trips, state-dict interop."""

import dataclasses
import urllib.parse
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from eqx_tree import CheckpointMismatchError, tree_from_flat_dict, tree_to_flat_dict


@jax.tree_util.register_dataclass
@dataclasses.dataclass
class _Linear:
    weight: jax.Array
    bias: jax.Array


@jax.tree_util.register_dataclass
@dataclasses.dataclass
class _Model:
    layers: list[_Linear]
    activation: Any = dataclasses.field(default=jax.nn.relu, metadata={"static": True})


def _model() -> _Model:
    return _Model(
        layers=[
            _Linear(jnp.arange(6.0).reshape(2, 3), jnp.zeros(2)),
            _Linear(jnp.ones((1, 2)), jnp.full((1,), 0.5)),
        ]
    )


def test_names_join_attribute_index_and_dict_keys_with_dots() -> None:
    flat = tree_to_flat_dict({"model": _model(), "step": 3})
    assert list(flat) == [
        "model.layers.0.weight",
        "model.layers.0.bias",
        "model.layers.1.weight",
        "model.layers.1.bias",
        "step",
    ]


def test_leaves_are_returned_unchanged() -> None:
    model = _model()
    flat = tree_to_flat_dict(model)
    assert flat["layers.0.weight"] is model.layers[0].weight


def test_non_array_leaves_and_none_are_left_out() -> None:
    flat = tree_to_flat_dict({"f": jnp.tanh, "name": "mlp", "nothing": None, "x": np.ones(2)})
    assert list(flat) == ["x"]


def test_python_and_numpy_scalars_are_included() -> None:
    flat = tree_to_flat_dict({"a": 1.5, "b": np.float32(2.0), "c": True})
    assert flat == {"a": 1.5, "b": np.float32(2.0), "c": True}


def test_flattened_index_keys_are_named_by_their_index() -> None:
    class Pair:
        def __init__(self, a: Any, b: Any) -> None:
            self.a, self.b = a, b

    jax.tree_util.register_pytree_node(Pair, lambda p: ((p.a, p.b), None), lambda _, c: Pair(*c))
    assert list(tree_to_flat_dict({"p": Pair(np.ones(1), np.zeros(1))})) == ["p.0", "p.1"]


def test_a_custom_separator_is_used_between_parts() -> None:
    assert list(tree_to_flat_dict({"a": [np.ones(1)]}, sep="/")) == ["a/0"]


def test_a_dict_key_containing_the_separator_is_percent_encoded() -> None:
    flat = tree_to_flat_dict({"Model.norm.index": [np.ones(1)], "50%": np.ones(1)})
    assert list(flat) == ["50%25", "Model%2Enorm%2Eindex.0"]


def test_escaped_names_decode_back_to_the_keys() -> None:
    (name,) = tree_to_flat_dict({"a.b%c": np.ones(1)})
    assert urllib.parse.unquote(name) == "a.b%c"


def test_only_the_chosen_separator_is_escaped() -> None:
    assert list(tree_to_flat_dict({"a.b": [np.ones(1)]}, sep="/")) == ["a.b/0"]
    assert list(tree_to_flat_dict({"a/b": np.ones(1)}, sep="/")) == ["a%2Fb"]


def test_escaped_names_round_trip_through_from_flat_dict() -> None:
    like = {"Model.norm.index": (np.zeros(2), np.zeros(1))}
    flat = {name: np.full_like(x, 3.0) for name, x in tree_to_flat_dict(like).items()}
    loaded = tree_from_flat_dict(like, flat)
    np.testing.assert_array_equal(loaded["Model.norm.index"][0], [3.0, 3.0])


def test_rejects_two_leaves_with_the_same_name() -> None:
    class Clash:
        """A node whose two children have different keys that print the same."""

        def __init__(self, a: Any, b: Any) -> None:
            self.a, self.b = a, b

    jax.tree_util.register_pytree_with_keys(
        Clash,
        lambda c: (
            ((jax.tree_util.GetAttrKey("w"), c.a), (jax.tree_util.DictKey("w"), c.b)),
            None,
        ),
        lambda _, children: Clash(*children),
    )
    with pytest.raises(ValueError, match=r"leaves at \.w and \['w'\] would both be named 'w'"):
        tree_to_flat_dict(Clash(np.ones(1), np.zeros(1)))


def test_rejects_an_empty_separator_or_one_containing_the_escape_character() -> None:
    with pytest.raises(ValueError, match="sep must be a non-empty string without '%'"):
        tree_to_flat_dict({"a": np.ones(1)}, sep="")
    with pytest.raises(ValueError, match="got '%'"):
        tree_to_flat_dict({"a": np.ones(1)}, sep="%")


def test_round_trip_through_a_torch_style_state_dict_of_numpy_arrays() -> None:
    model = _model()
    state_dict = {name: np.asarray(leaf) * 2 for name, leaf in tree_to_flat_dict(model).items()}
    loaded = tree_from_flat_dict(model, state_dict)
    assert isinstance(loaded, _Model)
    assert loaded.activation is jax.nn.relu
    assert isinstance(loaded.layers[0].weight, jax.Array)
    np.testing.assert_array_equal(loaded.layers[0].weight, np.arange(6.0).reshape(2, 3) * 2)
    np.testing.assert_array_equal(loaded.layers[1].bias, [1.0])


def test_from_flat_dict_gives_each_leaf_like_s_kind() -> None:
    like = {"j": jnp.zeros(2), "n": np.zeros(2), "g": np.float32(0), "p": 0, "s": "keep"}
    flat = {"j": np.ones(2, np.float32), "n": np.ones(2), "g": np.float32(3), "p": np.int64(7)}
    out = tree_from_flat_dict(like, flat)
    assert isinstance(out["j"], jax.Array)
    assert type(out["n"]) is np.ndarray
    assert type(out["g"]) is np.float32
    assert out["g"] == 3
    assert type(out["p"]) is int
    assert out["p"] == 7
    assert out["s"] == "keep"


def test_from_flat_dict_accepts_shape_dtype_structs_as_like() -> None:
    like = {"w": jax.ShapeDtypeStruct((2,), jnp.float32)}
    out = tree_from_flat_dict(like, {"w": np.array([1.0, 2.0], np.float32)})
    assert isinstance(out["w"], jax.Array)
    np.testing.assert_array_equal(out["w"], [1.0, 2.0])


def test_from_flat_dict_reports_missing_unexpected_and_mismatched_together() -> None:
    like = {"a": np.zeros((2, 3), np.float32), "b": np.zeros(2, np.float32), "c": np.zeros(1)}
    flat = {"a": np.zeros((3, 2), np.float32), "b": np.zeros(2, np.int32), "extra": np.ones(1)}
    with pytest.raises(CheckpointMismatchError) as info:
        tree_from_flat_dict(like, flat)
    message = str(info.value)
    assert "['a'] (stored as 'a'): shape (3, 2) stored, (2, 3) expected" in message
    assert "['b'] (stored as 'b'): dtype int32 stored, float32 expected" in message
    assert "['c']" in message
    assert "'extra'" in message
    report = info.value.report
    assert report.missing == ("['c']",)
    assert report.unexpected == ("extra",)
    assert [(m.name, m.field) for m in report.mismatched] == [("a", "shape"), ("b", "dtype")]


def test_from_flat_dict_mismatch_is_a_value_error() -> None:
    with pytest.raises(ValueError, match="missing from the source"):
        tree_from_flat_dict({"a": np.zeros(1)}, {})


def test_from_flat_dict_rejects_values_that_are_not_arrays() -> None:
    with pytest.raises(TypeError, match=r"flat\['a'\] is a list"):
        tree_from_flat_dict({"a": np.zeros(1)}, {"a": [0.0]})


def test_from_flat_dict_places_arrays_on_like_s_sharding() -> None:
    mesh = jax.sharding.Mesh(np.array(jax.devices()[:2]), ("x",))
    sharding = jax.sharding.NamedSharding(mesh, jax.sharding.PartitionSpec("x"))
    like = {"w": jax.ShapeDtypeStruct((4,), jnp.float32, sharding=sharding)}
    out = tree_from_flat_dict(like, {"w": np.arange(4, dtype=np.float32)})
    assert out["w"].sharding == sharding
    np.testing.assert_array_equal(out["w"], np.arange(4))
