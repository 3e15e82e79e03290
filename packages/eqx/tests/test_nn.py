"""`eqx.nn` is exactly Equinox's `eqx.nn`: the 47 `eqx_nn` names plus `_attention`."""

import importlib
import types
from collections.abc import Callable

import pytest

import eqx
import eqx_nn

# The 47 public names of eqx_nn (all Modules except State and three functions).
NN_NAMES = (
    "Linear",
    "Identity",
    "MLP",
    "Conv",
    "Conv1d",
    "Conv2d",
    "Conv3d",
    "ConvTranspose",
    "ConvTranspose1d",
    "ConvTranspose2d",
    "ConvTranspose3d",
    "Pool",
    "AvgPool1d",
    "AvgPool2d",
    "AvgPool3d",
    "MaxPool1d",
    "MaxPool2d",
    "MaxPool3d",
    "AdaptivePool",
    "AdaptiveAvgPool1d",
    "AdaptiveAvgPool2d",
    "AdaptiveAvgPool3d",
    "AdaptiveMaxPool1d",
    "AdaptiveMaxPool2d",
    "AdaptiveMaxPool3d",
    "Dropout",
    "Embedding",
    "RotaryPositionalEmbedding",
    "MultiheadAttention",
    "GRUCell",
    "LSTMCell",
    "PReLU",
    "LayerNorm",
    "RMSNorm",
    "GroupNorm",
    "BatchNorm",
    "SpectralNorm",
    "WeightNorm",
    "StatefulLayer",
    "Sequential",
    "Lambda",
    "Shared",
    "StateIndex",
    "State",
    "make_with_state",
    "delete_init_state",
    "inference_mode",
)
# Beyond Equinox: low-rank adaptation.
LORA_NAMES = ("LoRALinear", "apply_lora", "merge_lora")
ATTENTION_NAMES = ("dot_product_attention", "dot_product_attention_weights")


def test_spec_list_holds_47_distinct_names() -> None:
    assert len(set(NN_NAMES)) == len(NN_NAMES) == 47


def test_public_names_of_eqx_nn_are_exactly_the_spec_list(
    public_names: Callable[[types.ModuleType], set[str]],
) -> None:
    actual = public_names(eqx.nn)
    expected = set(NN_NAMES) | set(LORA_NAMES)
    assert sorted(expected - actual) == [], "listed names eqx.nn lacks"
    assert sorted(actual - expected) == [], "public names not listed here"


@pytest.mark.parametrize("name", NN_NAMES + LORA_NAMES)
def test_each_nn_name_is_the_very_object_of_eqx_nn(name: str) -> None:
    assert getattr(eqx.nn, name) is getattr(eqx_nn, name)


def test_from_eqx_nn_import_linear_works() -> None:
    from eqx.nn import Linear

    assert Linear is eqx_nn.Linear


def test_attention_functions_import_from_the_private_submodule() -> None:
    from eqx.nn._attention import dot_product_attention, dot_product_attention_weights

    reference = importlib.import_module("eqx_nn._attention")
    assert dot_product_attention is reference.dot_product_attention
    assert dot_product_attention_weights is reference.dot_product_attention_weights
    assert eqx.nn._attention is importlib.import_module("eqx.nn._attention")


def test_attention_submodule_exports_only_the_two_functions(
    public_names: Callable[[types.ModuleType], set[str]],
) -> None:
    actual = public_names(eqx.nn._attention)
    assert actual == set(ATTENTION_NAMES)
