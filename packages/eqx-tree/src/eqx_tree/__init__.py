"""PyTree utilities: tree_at, tree_equal, pretty-printing, array predicates and serialisation.

`eqx_tree` needs only JAX. It is the bottom layer of eqx: every other eqx package
builds on it, and it imports none of them.
"""

from ._version import version as _read_version

# --- tree utilities, predicates, warnings, caches, leaf-stream serialisation ---
from ._at import tree_at as tree_at
from ._caches import clear_caches as clear_caches
from ._check import tree_check as tree_check
from ._caches import register_cache_clearer as register_cache_clearer
from ._equal import tree_equal as tree_equal
from ._errors import TreePathError as TreePathError
from ._one_level import tree_flatten_one_level as tree_flatten_one_level
from ._predicates import is_array as is_array
from ._predicates import is_array_like as is_array_like
from ._predicates import is_inexact_array as is_inexact_array
from ._predicates import is_inexact_array_like as is_inexact_array_like
from ._pformat import tree_pformat as tree_pformat
from ._serialise import default_deserialise_filter_spec as default_deserialise_filter_spec
from ._serialise import default_serialise_filter_spec as default_serialise_filter_spec
from ._serialise import tree_deserialise_leaves as tree_deserialise_leaves
from ._serialise import tree_serialise_leaves as tree_serialise_leaves
from ._pformat import tree_pprint as tree_pprint
from ._updates import apply_updates as apply_updates
from ._warnings import EqxAliasingWarning as EqxAliasingWarning
from ._warnings import EqxDeprecationWarning as EqxDeprecationWarning
from ._warnings import EqxWarning as EqxWarning

# --- norms of whole PyTrees (from Equinox's next release) ---
from ._norms import max_norm as max_norm
from ._norms import rms_norm as rms_norm
from ._norms import two_norm as two_norm

# --- self-describing checkpoints: tree_save / tree_load / flat dicts ---
from ._checkpoint import tree_load as tree_load
from ._checkpoint import tree_load_metadata as tree_load_metadata
from ._checkpoint import tree_save as tree_save
from ._checkpoint_report import CheckpointError as CheckpointError
from ._checkpoint_report import CheckpointFormatError as CheckpointFormatError
from ._checkpoint_report import CheckpointMismatchError as CheckpointMismatchError
from ._checkpoint_report import LeafMismatch as LeafMismatch
from ._checkpoint_report import LoadReport as LoadReport
from ._flat_dict import tree_from_flat_dict as tree_from_flat_dict
from ._flat_dict import tree_to_flat_dict as tree_to_flat_dict

# --- model surgery and sizing: selections, parameter counts ---
from ._select import TreeSelection as TreeSelection
from ._select import tree_select as tree_select
from ._size import TreeSize as TreeSize
from ._size import tree_size as tree_size

# --- sharded checkpoints through orbax-checkpoint (an optional extra, imported lazily) ---
from ._orbax import PendingSave as PendingSave
from ._orbax import tree_load_orbax as tree_load_orbax
from ._orbax import tree_load_orbax_metadata as tree_load_orbax_metadata
from ._orbax import tree_save_orbax as tree_save_orbax
from ._orbax_convert import checkpoint_from_orbax as checkpoint_from_orbax
from ._orbax_convert import checkpoint_to_orbax as checkpoint_to_orbax

__version__: str  # resolved on first access by `__getattr__` (reading it costs milliseconds)


def __getattr__(name: str) -> str:
    if name == "__version__":
        return _read_version()
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
