"""`eqx.debug`: the debugging tools of `eqx_filter.debug`, re-exported unchanged.

The seven Equinox names, plus `explain_retraces` (why did it retrace?), and the NaN
locators `find_nans` (eager) and `check_finite` (inside compiled code).
"""

from eqx_filter.debug import announce_transform as announce_transform
from eqx_filter.debug import assert_max_traces as assert_max_traces
from eqx_filter.debug import backward_nan as backward_nan
from eqx_filter.debug import breakpoint_if as breakpoint_if
from eqx_filter.debug import check_finite as check_finite
from eqx_filter.debug import explain_retraces as explain_retraces
from eqx_filter.debug import find_nans as find_nans
from eqx_filter.debug import get_num_traces as get_num_traces
from eqx_filter.debug import inspect_dce as inspect_dce
from eqx_filter.debug import store_dce as store_dce
