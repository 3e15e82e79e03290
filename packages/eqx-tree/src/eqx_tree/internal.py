"""The names eqx_tree lends to the other eqx packages, and to nobody else.

eqx_tree is versioned and released separately from the packages that build on it, so
what they import from it must be a surface that eqx_tree promises to keep: its public
API, or this module. Everything else (the `_`-prefixed modules) may change in any
release. Names here are not for users; a change to them is recorded in eqx_tree's
changelog like an API change, because a sibling's released versions depend on them.

- `sentinel`: the one "argument not given" marker of all eqx packages (distinct from
  `None`, which is often a meaningful value). Compare with `is`.
- `warn_at_user_code(message, category=EqxWarning)`: `warnings.warn` attributed to the
  first calling frame outside eqx, JAX and type-checking wrappers.
- `user_frame()`: that first frame outside eqx itself (for `warnings.warn_explicit`).
- `children_with_keys(pytree, is_leaf=None)`: a node's `(key, child)` pairs one level
  down, or `None` for a leaf (what a recursive walk over paths needs).
- `array_size(leaf)`: the `TreeSize` of one array-like leaf, concrete or abstract, or
  `None` for other leaves.
- `find_aliases(pytree, *, arrays, static_nodes=True)`: the nodes (and, with `arrays`,
  array leaves) found at a second path, as `tree_check` reports them; with
  `static_nodes=False` only nodes holding an array.
- `read_choice(name, valid, default, meaning="")`: an `EQX_*` environment variable,
  one of `valid`, or a `ValueError` listing them.
- `LazyExports(package, {name: module})`: a package's public names, each imported
  from its module on first use (the package's `__getattr__` and `__dir__`).

```python
from eqx_tree.internal import sentinel, warn_at_user_code

def f(x=sentinel):
    if x is sentinel:
        warn_at_user_code("`x` not given; using 0")
```
"""

from ._aliases import find_aliases as find_aliases
from ._environment import read_choice as read_choice
from ._lazy_exports import LazyExports as LazyExports
from ._one_level import children_with_keys as children_with_keys
from ._sentinel import sentinel as sentinel
from ._size import array_size as array_size
from ._warnings import user_frame as user_frame
from ._warnings import warn_at_user_code as warn_at_user_code

__all__ = [
    "LazyExports",
    "array_size",
    "children_with_keys",
    "find_aliases",
    "read_choice",
    "sentinel",
    "user_frame",
    "warn_at_user_code",
]
