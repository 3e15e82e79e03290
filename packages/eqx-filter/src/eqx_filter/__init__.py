"""Filtering and filtered JAX transformations, runtime errors and debugging tools.

`eqx_filter` builds on `eqx_tree` and `eqx_module`.
"""

from ._version import __version__ as __version__

# --- filtering and filtered transformations (issue 4) ---

# --- runtime errors, Enumeration (issue 5); `debug` is the submodule eqx_filter.debug ---
