"""PyTree utilities: tree_at, tree_equal, pretty-printing, array predicates and serialisation. Needs only JAX."""

from ._version import __version__ as __version__
