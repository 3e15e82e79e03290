"""eqx: neural networks in JAX where a model is a PyTree.

This meta-package owns nothing: every name is the very object defined in one of the
four eqx packages (`eqx.X is <package>.X`), gathered into one namespace so that code
written for `import equinox as eqx` keeps working with `import eqx`.

- `eqx_tree`: PyTree manipulation, array predicates, pretty-printing, serialisation.
- `eqx_module`: `Module`, `field`, `AbstractVar`, `Partial`.
- `eqx_filter`: filtering, the filtered transformations, runtime errors, `eqx.debug`.
- `eqx_nn`: the layers, available as `eqx.nn`.

Run `python -m eqx` to print the version of every eqx package (and of JAX) for a bug
report.
"""

# Underscored: this namespace's public names are exactly its API.
import typing as _typing

from eqx_tree.internal import LazyExports as _LazyExports

# eqx_tree
from eqx_tree import EqxDeprecationWarning as EqxDeprecationWarning
from eqx_tree import EqxWarning as EqxWarning
from eqx_tree import TreePathError as TreePathError
from eqx_tree import apply_updates as apply_updates
from eqx_tree import clear_caches as clear_caches
from eqx_tree import default_deserialise_filter_spec as default_deserialise_filter_spec
from eqx_tree import default_serialise_filter_spec as default_serialise_filter_spec
from eqx_tree import is_array as is_array
from eqx_tree import is_array_like as is_array_like
from eqx_tree import is_inexact_array as is_inexact_array
from eqx_tree import is_inexact_array_like as is_inexact_array_like
from eqx_tree import tree_at as tree_at
from eqx_tree import tree_check as tree_check
from eqx_tree import tree_deserialise_leaves as tree_deserialise_leaves
from eqx_tree import tree_equal as tree_equal
from eqx_tree import tree_flatten_one_level as tree_flatten_one_level
from eqx_tree import tree_pformat as tree_pformat
from eqx_tree import tree_pprint as tree_pprint
from eqx_tree import tree_serialise_leaves as tree_serialise_leaves

# eqx_module
from eqx_module import AbstractClassVar as AbstractClassVar
from eqx_module import AbstractVar as AbstractVar
from eqx_module import Module as Module
from eqx_module import Partial as Partial
from eqx_module import StrictConfig as StrictConfig
from eqx_module import field as field
from eqx_module import module_update_wrapper as module_update_wrapper
from eqx_module import static_field as static_field

# Beyond Equinox: self-describing checkpoints.
from eqx_tree import CheckpointError as CheckpointError
from eqx_tree import CheckpointFormatError as CheckpointFormatError
from eqx_tree import CheckpointMismatchError as CheckpointMismatchError
from eqx_tree import LeafMismatch as LeafMismatch
from eqx_tree import LoadReport as LoadReport
from eqx_tree import tree_from_flat_dict as tree_from_flat_dict
from eqx_tree import tree_load as tree_load
from eqx_tree import tree_load_metadata as tree_load_metadata
from eqx_tree import tree_save as tree_save
from eqx_tree import tree_to_flat_dict as tree_to_flat_dict

# Beyond Equinox: freezing, model surgery and sizing.
from eqx_module import BUFFER as BUFFER
from eqx_module import SHARDING as SHARDING
from eqx_module import TRAINABLE as TRAINABLE
from eqx_module import WEIGHT_DECAY as WEIGHT_DECAY
from eqx_module import SummaryRow as SummaryRow
from eqx_module import TreeSummary as TreeSummary
from eqx_module import field_mask as field_mask
from eqx_module import freeze as freeze
from eqx_module import tree_summary as tree_summary
from eqx_tree import TreeSelection as TreeSelection
from eqx_tree import TreeSize as TreeSize
from eqx_tree import tree_select as tree_select
from eqx_tree import tree_size as tree_size

# Beyond Equinox: placing PyTrees on devices and meshes, and shard_map over PyTrees.

# Beyond Equinox: sharded checkpoints through orbax-checkpoint (the `eqx[orbax]` extra).
from eqx_tree import PendingSave as PendingSave
from eqx_tree import checkpoint_from_orbax as checkpoint_from_orbax
from eqx_tree import checkpoint_to_orbax as checkpoint_to_orbax
from eqx_tree import tree_load_orbax as tree_load_orbax
from eqx_tree import tree_load_orbax_metadata as tree_load_orbax_metadata
from eqx_tree import tree_save_orbax as tree_save_orbax

# Beyond Equinox: the warning of the opt-in aliasing checks.
from eqx_tree import EqxAliasingWarning as EqxAliasingWarning

# From Equinox's next release: norms of PyTrees, a jit-safe warning, progress meters.
from eqx_tree import max_norm as max_norm
from eqx_tree import rms_norm as rms_norm
from eqx_tree import two_norm as two_norm

# eqx_filter: imported now, as `import eqx_filter` reads and checks `EQX_ON_ERROR`.
from eqx_filter import branched_error_if as branched_error_if
from eqx_filter import error_if as error_if

# The submodule `eqx.nn` and the one name the meta-package defines.
from . import nn as nn
from ._tree_inference import tree_inference as tree_inference
from ._version import version as _read_version

# `eqx_filter`'s names and `eqx.debug` are read on first use, as `eqx_filter` reads its
# own: importing every filtered transformation costs more than all of the above.
if _typing.TYPE_CHECKING:
    # eqx_filter
    from eqx_filter import Enumeration as Enumeration
    from eqx_filter import EqxRuntimeError as EqxRuntimeError
    from eqx_filter import EqxTracetimeError as EqxTracetimeError
    from eqx_filter import EquinoxRuntimeError as EquinoxRuntimeError
    from eqx_filter import EquinoxTracetimeError as EquinoxTracetimeError
    from eqx_filter import combine as combine
    from eqx_filter import filter as filter  # Equinox's name; shadows the builtin here only
    from eqx_filter import filter_checkpoint as filter_checkpoint
    from eqx_filter import filter_closure_convert as filter_closure_convert
    from eqx_filter import filter_custom_jvp as filter_custom_jvp
    from eqx_filter import filter_custom_vjp as filter_custom_vjp
    from eqx_filter import filter_eval_shape as filter_eval_shape
    from eqx_filter import filter_grad as filter_grad
    from eqx_filter import filter_hessian as filter_hessian
    from eqx_filter import filter_jacfwd as filter_jacfwd
    from eqx_filter import filter_jacrev as filter_jacrev
    from eqx_filter import filter_jit as filter_jit
    from eqx_filter import filter_jvp as filter_jvp
    from eqx_filter import filter_make_jaxpr as filter_make_jaxpr
    from eqx_filter import filter_pmap as filter_pmap
    from eqx_filter import filter_pure_callback as filter_pure_callback
    from eqx_filter import filter_shard as filter_shard
    from eqx_filter import filter_value_and_grad as filter_value_and_grad
    from eqx_filter import filter_vjp as filter_vjp
    from eqx_filter import filter_vmap as filter_vmap
    from eqx_filter import if_array as if_array
    from eqx_filter import partition as partition

    # Beyond Equinox: placing PyTrees on devices and meshes, and shard_map over PyTrees.
    from eqx_filter import filter_device_put as filter_device_put
    from eqx_filter import filter_shard_map as filter_shard_map

    # From Equinox's next release: norms of PyTrees, a jit-safe warning, progress meters.
    from eqx_filter import AbstractProgressMeter as AbstractProgressMeter
    from eqx_filter import NoProgressMeter as NoProgressMeter
    from eqx_filter import TextProgressMeter as TextProgressMeter
    from eqx_filter import TqdmProgressMeter as TqdmProgressMeter
    from eqx_filter import warn_if as warn_if

    from . import debug as debug

_EXPORTS = _LazyExports(
    __name__,
    {
        # eqx_filter
        "Enumeration": "eqx_filter",
        "EqxRuntimeError": "eqx_filter",
        "EqxTracetimeError": "eqx_filter",
        "EquinoxRuntimeError": "eqx_filter",
        "EquinoxTracetimeError": "eqx_filter",
        "combine": "eqx_filter",
        "filter": "eqx_filter",
        "filter_checkpoint": "eqx_filter",
        "filter_closure_convert": "eqx_filter",
        "filter_custom_jvp": "eqx_filter",
        "filter_custom_vjp": "eqx_filter",
        "filter_eval_shape": "eqx_filter",
        "filter_grad": "eqx_filter",
        "filter_hessian": "eqx_filter",
        "filter_jacfwd": "eqx_filter",
        "filter_jacrev": "eqx_filter",
        "filter_jit": "eqx_filter",
        "filter_jvp": "eqx_filter",
        "filter_make_jaxpr": "eqx_filter",
        "filter_pmap": "eqx_filter",
        "filter_pure_callback": "eqx_filter",
        "filter_shard": "eqx_filter",
        "filter_value_and_grad": "eqx_filter",
        "filter_vjp": "eqx_filter",
        "filter_vmap": "eqx_filter",
        "if_array": "eqx_filter",
        "partition": "eqx_filter",
        # Beyond Equinox: placing PyTrees on devices and meshes, and shard_map over PyTrees.
        "filter_device_put": "eqx_filter",
        "filter_shard_map": "eqx_filter",
        # From Equinox's next release: norms of PyTrees, a jit-safe warning, progress meters.
        "AbstractProgressMeter": "eqx_filter",
        "NoProgressMeter": "eqx_filter",
        "TextProgressMeter": "eqx_filter",
        "TqdmProgressMeter": "eqx_filter",
        "warn_if": "eqx_filter",
        "debug": ".debug",
    },
    version=_read_version,
)

__version__: str  # resolved on first access by `__getattr__` (reading it costs milliseconds)


if not _typing.TYPE_CHECKING:  # a visible `__getattr__` would let type checkers accept any name
    __getattr__ = _EXPORTS.load
    __dir__ = _EXPORTS.dir
