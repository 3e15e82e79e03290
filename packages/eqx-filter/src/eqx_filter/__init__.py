"""Filtering and filtered JAX transformations, runtime errors and debugging tools.

`eqx_filter` builds on `eqx_tree` and `eqx_module`.
"""

# --- filtering and filtered transformations ---
from eqx_tree import is_array as is_array
from eqx_tree import is_array_like as is_array_like
from eqx_tree import is_inexact_array as is_inexact_array
from eqx_tree import is_inexact_array_like as is_inexact_array_like

from ._ad import filter_hessian as filter_hessian
from ._ad import filter_jacfwd as filter_jacfwd
from ._ad import filter_jacrev as filter_jacrev
from ._ad import filter_jvp as filter_jvp
from ._ad import filter_vjp as filter_vjp
from ._axis_spec import if_array as if_array
from ._callback import filter_pure_callback as filter_pure_callback
from ._checkpoint import filter_checkpoint as filter_checkpoint
from ._closure_convert import filter_closure_convert as filter_closure_convert
from ._custom_jvp import filter_custom_jvp as filter_custom_jvp
from ._custom_vjp import filter_custom_vjp as filter_custom_vjp
from ._device_put import filter_device_put as filter_device_put
from ._eval_shape import filter_eval_shape as filter_eval_shape
from ._filters import combine as combine
from ._filters import filter as filter
from ._filters import partition as partition
from ._grad import filter_grad as filter_grad
from ._grad import filter_value_and_grad as filter_value_and_grad
from ._jit import Compiled as Compiled
from ._jit import Lowered as Lowered
from ._jit import filter_jit as filter_jit
from ._make_jaxpr import filter_make_jaxpr as filter_make_jaxpr
from ._pmap import filter_pmap as filter_pmap
from ._shard import filter_shard as filter_shard
from ._shard_map import filter_shard_map as filter_shard_map
from ._version import version as _read_version
from ._vmap import filter_vmap as filter_vmap

# --- runtime errors, Enumeration; `debug` is the submodule eqx_filter.debug ---
from . import debug as debug
from ._enumeration import Enumeration as Enumeration
from ._error_if import branched_error_if as branched_error_if
from ._error_if import error_if as error_if
from ._warn_if import warn_if as warn_if

# --- progress meters for compiled loops (from Equinox's next release) ---
from ._progress_meter import AbstractProgressMeter as AbstractProgressMeter
from ._progress_meter import NoProgressMeter as NoProgressMeter
from ._progress_meter import TextProgressMeter as TextProgressMeter
from ._progress_meter import TqdmProgressMeter as TqdmProgressMeter
from ._runtime_error import EqxRuntimeError as EqxRuntimeError
from ._runtime_error import EqxTracetimeError as EqxTracetimeError
from ._runtime_error import EquinoxRuntimeError as EquinoxRuntimeError
from ._runtime_error import EquinoxTracetimeError as EquinoxTracetimeError

__version__: str  # resolved on first access by `__getattr__` (reading it costs milliseconds)


def __getattr__(name: str) -> str:
    if name == "__version__":
        return _read_version()
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
