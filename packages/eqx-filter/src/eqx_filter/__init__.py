"""Filtering and filtered JAX transformations (filter_jit, filter_grad, filter_vmap...), runtime errors and debugging tools."""

from ._version import __version__ as __version__
