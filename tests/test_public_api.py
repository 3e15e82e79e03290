"""Each package's public names are exactly the documented API.

Each package's public API is its share of Equinox's names plus the extras it
documents. A name missing is a broken promise; a public name the docs do not list is
an accidental API (a stray `import jax` in an `__init__.py`, a helper without its
underscore), which users would start to depend on.
"""

import importlib
import types

import pytest

TREE = {
    # Equinox's names
    "tree_at",
    "tree_equal",
    "tree_flatten_one_level",
    "tree_check",
    "tree_pformat",
    "tree_pprint",
    "apply_updates",
    "clear_caches",
    "is_array",
    "is_array_like",
    "is_inexact_array",
    "is_inexact_array_like",
    "tree_serialise_leaves",
    "tree_deserialise_leaves",
    "default_serialise_filter_spec",
    "default_deserialise_filter_spec",
    # extras
    "register_cache_clearer",
    "EqxWarning",
    "EqxDeprecationWarning",
    "TreePathError",
    # the warning of the opt-in aliasing checks
    "EqxAliasingWarning",
    # self-describing checkpoints
    "tree_save",
    "tree_load",
    "tree_load_metadata",
    "tree_to_flat_dict",
    "tree_from_flat_dict",
    "CheckpointError",
    "CheckpointFormatError",
    "CheckpointMismatchError",
    "LeafMismatch",
    "LoadReport",
    # model surgery and sizing
    "tree_select",
    "TreeSelection",
    "tree_size",
    "TreeSize",
    # Equinox's next release: norms of whole PyTrees
    "two_norm",
    "rms_norm",
    "max_norm",
    # sharded checkpoints through orbax-checkpoint
    "tree_save_orbax",
    "tree_load_orbax",
    "tree_load_orbax_metadata",
    "PendingSave",
    "checkpoint_to_orbax",
    "checkpoint_from_orbax",
}
MODULE = {
    # Equinox's names
    "Module",
    "field",
    "static_field",
    "AbstractVar",
    "AbstractClassVar",
    "StrictConfig",
    "module_update_wrapper",
    "Partial",
    # extras (semi-public)
    "Static",
    "BoundMethod",
    # per-field metadata and freezing, model summary
    "TRAINABLE",
    "WEIGHT_DECAY",
    "BUFFER",
    "SHARDING",
    "field_mask",
    "freeze",
    "tree_summary",
    "TreeSummary",
    "SummaryRow",
}
FILTER = {
    # Equinox's names
    "filter",
    "partition",
    "combine",
    "if_array",
    "filter_jit",
    "filter_grad",
    "filter_value_and_grad",
    "filter_jvp",
    "filter_vjp",
    "filter_jacfwd",
    "filter_jacrev",
    "filter_hessian",
    "filter_custom_jvp",
    "filter_custom_vjp",
    "filter_closure_convert",
    "filter_checkpoint",
    "filter_vmap",
    "filter_pmap",
    "filter_eval_shape",
    "filter_make_jaxpr",
    "filter_pure_callback",
    "filter_shard",
    # sharding beyond filter_shard
    "filter_device_put",
    "filter_shard_map",
    "error_if",
    "branched_error_if",
    "EquinoxRuntimeError",
    "EquinoxTracetimeError",
    "Enumeration",
    # extras
    "EqxRuntimeError",
    "EqxTracetimeError",
    "Lowered",
    "Compiled",
    "debug",
    "is_array",
    "is_array_like",
    "is_inexact_array",
    "is_inexact_array_like",
    # Equinox's next release: a jit-safe warning and progress meters
    "warn_if",
    "AbstractProgressMeter",
    "NoProgressMeter",
    "TextProgressMeter",
    "TqdmProgressMeter",
}
NN = {
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
    # low-rank adaptation
    "LoRALinear",
    "apply_lora",
    "merge_lora",
}
DEBUG = {
    "announce_transform",
    "backward_nan",
    "breakpoint_if",
    "store_dce",
    "inspect_dce",
    "assert_max_traces",
    "get_num_traces",
    # an eqx_filter extra: `eqx.debug` keeps only the seven names above
    "explain_retraces",
    # the NaN locators
    "find_nans",
    "check_finite",
}

EXPECTED = {
    "eqx_tree": TREE,
    "eqx_module": MODULE,
    "eqx_filter": FILTER,
    "eqx_filter.debug": DEBUG,
    "eqx_nn": NN,
}


def public_names(module: types.ModuleType) -> set[str]:
    # jaxtyping's import hook adds `import jaxtyping` to every module it
    # instruments; that name is the hook's, not ours. `internal` is the submodule a
    # package lends its siblings (not user API); it appears once a sibling imports it.
    return {
        name
        for name in dir(module)
        if not name.startswith("_")
        and not (name in ("jaxtyping", "internal") and _is_module(module, name))
    }


def _is_module(module: object, name: str) -> bool:
    return isinstance(getattr(module, name), types.ModuleType)


def test_equinox_name_counts() -> None:
    assert len(NN) == 47 + 3  # Equinox's, plus the three LoRA names
    assert len(DEBUG - {"explain_retraces", "find_nans", "check_finite"}) == 7


@pytest.mark.parametrize("module_name", sorted(EXPECTED))
def test_package_has_every_documented_name(module_name: str) -> None:
    module = importlib.import_module(module_name)
    assert sorted(EXPECTED[module_name] - public_names(module)) == []


@pytest.mark.parametrize("module_name", sorted(EXPECTED))
def test_package_has_no_undocumented_public_name(module_name: str) -> None:
    module = importlib.import_module(module_name)
    assert sorted(public_names(module) - EXPECTED[module_name]) == []


@pytest.mark.parametrize("module_name", ["eqx_tree", "eqx_module", "eqx_filter", "eqx_nn"])
def test_package_version_is_its_distribution_version(module_name: str) -> None:
    import importlib.metadata

    module = importlib.import_module(module_name)
    distribution = module_name.replace("_", "-")
    assert module.__version__ == importlib.metadata.version(distribution)


def test_filter_predicates_are_the_tree_predicates() -> None:
    import eqx_filter
    import eqx_tree

    for name in ("is_array", "is_array_like", "is_inexact_array", "is_inexact_array_like"):
        assert getattr(eqx_filter, name) is getattr(eqx_tree, name)


def test_error_aliases_are_the_same_classes() -> None:
    import eqx_filter

    assert eqx_filter.EquinoxRuntimeError is eqx_filter.EqxRuntimeError
    assert eqx_filter.EquinoxTracetimeError is eqx_filter.EqxTracetimeError
    assert issubclass(eqx_filter.EqxRuntimeError, RuntimeError)


def test_attention_module_provides_the_two_functions() -> None:
    attention = importlib.import_module("eqx_nn._attention")
    assert callable(attention.dot_product_attention)
    assert callable(attention.dot_product_attention_weights)


def test_meta_test_public_names_ignore_private_and_catch_stray_imports() -> None:
    fake = types.ModuleType("fake")
    fake._private = 1  # type: ignore[attr-defined]
    fake.jax = types.ModuleType("jax")  # type: ignore[attr-defined]
    assert public_names(fake) == {"jax"}
