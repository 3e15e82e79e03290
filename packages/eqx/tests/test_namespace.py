"""The `eqx` namespace is exactly Equinox's: every listed name, each the sub-package's object."""

import importlib
import types
from collections.abc import Callable

import pytest

import eqx
import eqx_filter
import eqx_module
import eqx_tree

# The 52 top-level Equinox names, by the package that defines them.
TREE_NAMES = (
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
)
MODULE_NAMES = (
    "Module",
    "field",
    "static_field",
    "AbstractVar",
    "AbstractClassVar",
    "StrictConfig",
    "module_update_wrapper",
    "Partial",
)
FILTER_NAMES = (
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
    "error_if",
    "branched_error_if",
    "EquinoxRuntimeError",
    "EquinoxTracetimeError",
    "Enumeration",
)
META_NAMES = ("tree_inference",)
# The only names eqx adds to Equinox's namespace, with the package that defines each.
ADDITIONS = {
    "EqxRuntimeError": eqx_filter,
    "EqxTracetimeError": eqx_filter,
    "EqxWarning": eqx_tree,
    "EqxDeprecationWarning": eqx_tree,
    "TreePathError": eqx_tree,
}
# Beyond Equinox: the checkpoint API of eqx_tree, and the types a
# caller needs to catch its errors or read its report.
CHECKPOINT_NAMES = (
    "tree_save",
    "tree_load",
    "tree_load_metadata",
    "tree_to_flat_dict",
    "tree_from_flat_dict",
    "LoadReport",
    "LeafMismatch",
    "CheckpointError",
    "CheckpointFormatError",
    "CheckpointMismatchError",
)
# Beyond Equinox: freezing, model surgery and sizing.
SURGERY_TREE_NAMES = ("tree_select", "TreeSelection", "tree_size", "TreeSize")
SURGERY_MODULE_NAMES = (
    "TRAINABLE",
    "WEIGHT_DECAY",
    "BUFFER",
    "SHARDING",
    "field_mask",
    "freeze",
    "tree_summary",
    "TreeSummary",
    "SummaryRow",
)
# Beyond Equinox: placing PyTrees on devices and meshes, and shard_map over PyTrees.
SCALING_NAMES = ("filter_device_put", "filter_shard_map")
# Beyond Equinox: sharded checkpoints through orbax-checkpoint.
ORBAX_NAMES = (
    "tree_save_orbax",
    "tree_load_orbax",
    "tree_load_orbax_metadata",
    "PendingSave",
    "checkpoint_to_orbax",
    "checkpoint_from_orbax",
)
# Beyond Equinox: the opt-in aliasing checks warn with this class (eqx_tree defines it).
ALIASING_NAMES = ("EqxAliasingWarning",)
# From Equinox's next release: norms (eqx_tree), a jit-safe warning and progress meters
# (eqx_filter).
NEXT_RELEASE_TREE_NAMES = ("two_norm", "rms_norm", "max_norm")
NEXT_RELEASE_FILTER_NAMES = (
    "warn_if",
    "AbstractProgressMeter",
    "NoProgressMeter",
    "TextProgressMeter",
    "TqdmProgressMeter",
)
SUBMODULES = ("nn", "debug")

REEXPORTED = (
    [(name, eqx_tree) for name in TREE_NAMES]
    + [(name, eqx_module) for name in MODULE_NAMES]
    + [(name, eqx_filter) for name in FILTER_NAMES]
    + list(ADDITIONS.items())
    + [(name, eqx_tree) for name in CHECKPOINT_NAMES]
    + [(name, eqx_tree) for name in SURGERY_TREE_NAMES]
    + [(name, eqx_module) for name in SURGERY_MODULE_NAMES]
    + [(name, eqx_filter) for name in SCALING_NAMES]
    + [(name, eqx_tree) for name in ORBAX_NAMES]
    + [(name, eqx_tree) for name in ALIASING_NAMES]
    + [(name, eqx_tree) for name in NEXT_RELEASE_TREE_NAMES]
    + [(name, eqx_filter) for name in NEXT_RELEASE_FILTER_NAMES]
)


def test_spec_lists_hold_the_52_equinox_names_without_repeats() -> None:
    names = TREE_NAMES + MODULE_NAMES + FILTER_NAMES + META_NAMES
    assert (len(TREE_NAMES), len(MODULE_NAMES), len(FILTER_NAMES)) == (16, 8, 27)
    assert len(set(names)) == len(names) == 52


def test_public_names_of_eqx_are_exactly_the_spec_lists(
    public_names: Callable[[types.ModuleType], set[str]],
) -> None:
    expected = {
        *TREE_NAMES,
        *MODULE_NAMES,
        *FILTER_NAMES,
        *META_NAMES,
        *ADDITIONS,
        *CHECKPOINT_NAMES,
        *SURGERY_TREE_NAMES,
        *SURGERY_MODULE_NAMES,
        *SCALING_NAMES,
        *ORBAX_NAMES,
        *ALIASING_NAMES,
        *NEXT_RELEASE_TREE_NAMES,
        *NEXT_RELEASE_FILTER_NAMES,
        *SUBMODULES,
    }
    actual = public_names(eqx)
    assert sorted(expected - actual) == [], "listed names eqx lacks"
    assert sorted(actual - expected) == [], "public names eqx has that are not listed here"


@pytest.mark.parametrize(("name", "package"), REEXPORTED, ids=[n for n, _ in REEXPORTED])
def test_each_name_is_the_very_object_of_its_package(name: str, package: object) -> None:
    assert getattr(eqx, name) is getattr(package, name)


def test_version_is_the_eqx_distribution_version() -> None:
    import importlib.metadata

    assert eqx.__version__ == importlib.metadata.version("eqx")
    # ... and not a sub-package's, even when their numbers happen to agree.
    assert eqx.__version__ is not eqx_tree.__version__


def test_equinox_error_aliases_are_the_eqx_error_classes() -> None:
    assert eqx.EquinoxRuntimeError is eqx.EqxRuntimeError
    assert eqx.EquinoxTracetimeError is eqx.EqxTracetimeError


def test_warning_classes_are_user_warnings_so_they_show_by_default() -> None:
    assert issubclass(eqx.EqxDeprecationWarning, eqx.EqxWarning)
    assert issubclass(eqx.EqxWarning, UserWarning)
    assert issubclass(eqx.EqxAliasingWarning, eqx.EqxWarning)


def test_nn_and_debug_are_real_submodules() -> None:
    assert importlib.import_module("eqx.nn") is eqx.nn
    assert importlib.import_module("eqx.debug") is eqx.debug
    assert eqx.nn.__name__ == "eqx.nn"
    assert eqx.debug.__name__ == "eqx.debug"


def test_eqx_internal_does_not_exist() -> None:
    with pytest.raises(AttributeError, match="internal"):
        eqx.internal
    with pytest.raises(ModuleNotFoundError, match=r"eqx\.internal"):
        importlib.import_module("eqx.internal")
