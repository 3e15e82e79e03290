"""Aliasing reports on real layers: a layer stored twice warns, `Shared` does not."""

import warnings
from typing import Any

import jax
import jax.random as jr
import pytest

import eqx_nn
from eqx_module import Module
from eqx_tree import EqxAliasingWarning, tree_check


class TwoHeads(Module, check_aliasing=True):
    first: Any
    second: Any


class TiedModel(Module, check_aliasing=True):
    """Two square layers whose weights are tied through `Shared`."""

    shared: eqx_nn.Shared


def tied_model(key: jax.Array) -> TiedModel:
    first, second = (eqx_nn.Linear(3, 3, key=k) for k in jr.split(key))
    tie = eqx_nn.Shared((first, second), lambda p: p[1].weight, lambda p: p[0].weight)
    return TiedModel(tie)


def test_the_same_linear_in_two_fields_warns_naming_both_fields() -> None:
    linear = eqx_nn.Linear(2, 2, key=jr.key(0))
    with pytest.warns(EqxAliasingWarning) as record:
        TwoHeads(linear, linear)
    assert len(record) == 1
    message = str(record[0].message)
    assert "`TwoHeads` stores 1 object(s) twice" in message
    assert "A Linear appears in the PyTree multiple times, at .first and at .second" in message
    # The repeated Linear is one report, not one per weight and bias inside it.
    assert "array" not in message


def test_the_same_weight_array_in_two_layers_warns_naming_both_weights() -> None:
    a = eqx_nn.Linear(2, 2, key=jr.key(0))
    b = eqx_nn.Linear(2, 2, key=jr.key(1))
    b_tied = eqx_nn.Linear(2, 2, key=jr.key(1))
    object.__setattr__(b_tied, "weight", a.weight)  # a hand-made "tie": the same array object
    with pytest.warns(
        EqxAliasingWarning, match=r"array float32\[2,2\].*\.first\.weight and at \.second\.weight"
    ):
        TwoHeads(a, b_tied)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        TwoHeads(a, b)


def test_shared_is_legitimate_sharing_and_does_not_warn() -> None:
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        model = tied_model(jr.key(0))
    tree_check(model, arrays=True)
    first, second = model.shared()
    assert second.weight is first.weight  # the tie holds when called


def test_tree_check_on_a_sequential_using_one_layer_twice() -> None:
    linear = eqx_nn.Linear(2, 2, key=jr.key(0))
    with pytest.raises(
        ValueError, match=r"A Linear appears .* at \.layers\[0\] and at \.layers\[1\]"
    ):
        tree_check(eqx_nn.Sequential([linear, linear]), arrays=True)
