"""Debugging tools (exposed as `eqx.debug`): breakpoints, NaN hunting, DCE and traces.

`explain_retraces` is an `eqx_filter` extra, not part of `eqx.debug`'s
seven Equinox names.
"""

from ._announce import announce_transform as announce_transform
from ._backward_nan import backward_nan as backward_nan
from ._breakpoints import breakpoint_if as breakpoint_if
from ._dce import inspect_dce as inspect_dce
from ._dce import store_dce as store_dce
from ._explain import explain_retraces as explain_retraces
from ._max_traces import assert_max_traces as assert_max_traces
from ._max_traces import get_num_traces as get_num_traces
