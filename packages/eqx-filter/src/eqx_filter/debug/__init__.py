"""Debugging tools (exposed as `eqx.debug`): breakpoints, NaN hunting, DCE and traces.

`explain_retraces` and the NaN locators `find_nans` and `check_finite` are
eqx extras beyond Equinox's seven names.
"""

from ._announce import announce_transform as announce_transform
from ._backward_nan import backward_nan as backward_nan
from ._breakpoints import breakpoint_if as breakpoint_if
from ._check_finite import check_finite as check_finite
from ._dce import inspect_dce as inspect_dce
from ._dce import store_dce as store_dce
from ._explain import explain_retraces as explain_retraces
from ._find_nans import find_nans as find_nans
from ._max_traces import assert_max_traces as assert_max_traces
from ._max_traces import get_num_traces as get_num_traces
