"""Filtering and filtered JAX transformations, runtime errors and debugging tools.

`eqx_filter` builds on `eqx_tree` and `eqx_module`.

Each public name's module is imported on first use (`eqx_filter.filter_jit`,
`from eqx_filter import filter_jit`), as in `eqx_nn`: creating the filter wrappers'
Module classes is most of what importing every transform costs. `_EXPORTS` says where
each name is defined; the imports under `TYPE_CHECKING` say the same to type checkers
(a test keeps the two equal).
"""

# Underscored: this namespace's public names are exactly its API.
import typing as _typing

from eqx_tree.internal import LazyExports as _LazyExports

from ._version import version as _read_version

# Imported now, not on first use: importing `_error_if` reads and checks `EQX_ON_ERROR`,
# which is documented to happen at import (a bad value fails `import eqx_filter`).
from ._error_if import branched_error_if as branched_error_if
from ._error_if import error_if as error_if

if _typing.TYPE_CHECKING:
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
    from ._vmap import filter_vmap as filter_vmap

    # --- runtime errors, Enumeration; `debug` is the submodule eqx_filter.debug ---
    from . import debug as debug
    from ._enumeration import Enumeration as Enumeration
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

_EXPORTS = _LazyExports(
    __name__,
    {
        # --- filtering and filtered transformations ---
        "is_array": "eqx_tree",
        "is_array_like": "eqx_tree",
        "is_inexact_array": "eqx_tree",
        "is_inexact_array_like": "eqx_tree",
        "filter_hessian": "._ad",
        "filter_jacfwd": "._ad",
        "filter_jacrev": "._ad",
        "filter_jvp": "._ad",
        "filter_vjp": "._ad",
        "if_array": "._axis_spec",
        "filter_pure_callback": "._callback",
        "filter_checkpoint": "._checkpoint",
        "filter_closure_convert": "._closure_convert",
        "filter_custom_jvp": "._custom_jvp",
        "filter_custom_vjp": "._custom_vjp",
        "filter_device_put": "._device_put",
        "filter_eval_shape": "._eval_shape",
        "combine": "._filters",
        "filter": "._filters",
        "partition": "._filters",
        "filter_grad": "._grad",
        "filter_value_and_grad": "._grad",
        "Compiled": "._jit",
        "Lowered": "._jit",
        "filter_jit": "._jit",
        "filter_make_jaxpr": "._make_jaxpr",
        "filter_pmap": "._pmap",
        "filter_shard": "._shard",
        "filter_shard_map": "._shard_map",
        "filter_vmap": "._vmap",
        # --- runtime errors, Enumeration; `debug` is the submodule eqx_filter.debug ---
        "debug": ".debug",
        "Enumeration": "._enumeration",
        "warn_if": "._warn_if",
        # --- progress meters for compiled loops (from Equinox's next release) ---
        "AbstractProgressMeter": "._progress_meter",
        "NoProgressMeter": "._progress_meter",
        "TextProgressMeter": "._progress_meter",
        "TqdmProgressMeter": "._progress_meter",
        "EqxRuntimeError": "._runtime_error",
        "EqxTracetimeError": "._runtime_error",
        "EquinoxRuntimeError": "._runtime_error",
        "EquinoxTracetimeError": "._runtime_error",
    },
    version=_read_version,
)

__version__: str  # resolved on first access by `__getattr__` (reading it costs milliseconds)

if not _typing.TYPE_CHECKING:  # a visible `__getattr__` would let type checkers accept any name
    __getattr__ = _EXPORTS.load
    __dir__ = _EXPORTS.dir
