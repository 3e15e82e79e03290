"""PyTree utilities: tree_at, tree_equal, pretty-printing, array predicates and serialisation.

`eqx_tree` needs only JAX. It is the bottom layer of eqx: every other eqx package
builds on it, and it imports none of them.
"""

from ._version import __version__ as __version__

# --- tree utilities, predicates, warnings, caches, leaf-stream serialisation (issue 2) ---

# --- self-describing checkpoints: tree_save / tree_load / flat dicts (issue 9) ---
