"""`eqx.tree_inference`: the deprecated alias of `eqx.nn.inference_mode` warns, then delegates."""

import jax
import pytest

import eqx


def make_model() -> eqx.nn.Sequential:
    return eqx.nn.Sequential(
        [eqx.nn.Linear(2, 2, key=jax.random.key(0)), eqx.nn.Dropout(0.5, inference=False)]
    )


def test_tree_inference_warns_with_the_eqx_deprecation_warning_naming_the_replacement() -> None:
    with pytest.warns(eqx.EqxDeprecationWarning, match=r"eqx\.nn\.inference_mode"):
        eqx.tree_inference(make_model(), True)


def test_tree_inference_warning_points_at_the_caller() -> None:
    with pytest.warns(eqx.EqxDeprecationWarning) as record:
        eqx.tree_inference(make_model(), True)
    assert record[0].filename == __file__


def test_tree_inference_gives_the_same_tree_as_inference_mode() -> None:
    model = make_model()
    with pytest.warns(eqx.EqxDeprecationWarning):
        via_alias = eqx.tree_inference(model, True)
    assert bool(eqx.tree_equal(via_alias, eqx.nn.inference_mode(model, True)))
    assert via_alias.layers[1].inference is True
    assert model.layers[1].inference is False  # the input is untouched


def test_tree_inference_value_defaults_to_true_and_false_switches_back() -> None:
    with pytest.warns(eqx.EqxDeprecationWarning):
        inferring = eqx.tree_inference(make_model())
    assert inferring.layers[1].inference is True
    with pytest.warns(eqx.EqxDeprecationWarning):
        training = eqx.tree_inference(inferring, value=False)
    assert training.layers[1].inference is False
