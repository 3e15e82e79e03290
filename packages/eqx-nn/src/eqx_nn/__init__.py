"""Neural-network layers for eqx.

Layers take unbatched inputs; batch them with `jax.vmap` / `eqx_filter.filter_vmap`.
"""

from ._version import __version__ as __version__

# --- layers (issue 6) ---

# --- state, containers, wrappers, inference mode (issue 7) ---
