"""eqx: neural networks in JAX where a model is a PyTree. Meta-package re-exporting eqx-tree, eqx-module, eqx-filter and eqx-nn."""

from ._version import __version__ as __version__
