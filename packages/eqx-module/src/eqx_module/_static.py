"""`Static`: carries any value through JAX as treedef-only data."""

from __future__ import annotations

from typing import Any

import jax.tree_util as jtu

from ._field import field
from ._module import Module

__all__ = ["Static"]


class Static(Module):
    """A Module with only static fields: the leaves of `value` and its treedef.

    Transforms use it to return non-array outputs through JAX: it has no leaves, so
    the whole value travels in the treedef. The leaves must be hashable to be used
    as a `jit` cache key.

    Arguments:
        value: any PyTree.

    Example:
        ```python
        s = Static({"name": "relu", "sizes": (1, 2)})
        assert jax.tree_util.tree_leaves(s) == []
        assert s.value == {"name": "relu", "sizes": (1, 2)}
        ```
    """

    _leaves: tuple[Any, ...] = field(static=True)
    _treedef: Any = field(static=True)  # a `jax.tree_util.PyTreeDef`

    def __init__(self, value: Any) -> None:
        leaves, treedef = jtu.tree_flatten(value)
        self._leaves = tuple(leaves)
        self._treedef = treedef

    @property
    def value(self) -> Any:
        """The wrapped value, rebuilt from its leaves and treedef."""
        return jtu.tree_unflatten(self._treedef, self._leaves)
