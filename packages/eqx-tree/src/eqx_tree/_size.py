"""`tree_size`: how many array elements (parameters) and bytes a PyTree holds.

Counts every array-like leaf: a JAX or NumPy array, a NumPy scalar, or an abstract
`jax.ShapeDtypeStruct` (what `filter_eval_shape` returns), so a model can be sized
before it is allocated. Python scalars, functions and other leaves are not parameters
and count zero.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any, NamedTuple

import jax.tree_util as jtu
import numpy as np

__all__ = ["TreeSize", "array_size", "tree_size"]


class TreeSize(NamedTuple):
    """The size of a PyTree: `params` array elements taking `nbytes` bytes."""

    params: int
    nbytes: int


def array_size(leaf: Any) -> TreeSize | None:
    """The size of one array-like leaf (concrete or abstract), or `None` for other leaves."""
    if isinstance(leaf, type):
        return None
    shape = getattr(leaf, "shape", None)
    dtype = getattr(leaf, "dtype", None)
    if shape is None or dtype is None:
        return None
    count = math.prod(shape)
    itemsize = getattr(dtype, "itemsize", None)
    if itemsize is None:  # a dtype-like that is not a dtype object, e.g. a scalar type
        itemsize = np.dtype(dtype).itemsize
    return TreeSize(count, count * int(itemsize))


def tree_size(tree: Any, *, is_leaf: Callable[[Any], bool] | None = None) -> TreeSize:
    """The number of array elements and bytes of every array-like leaf of `tree`.

    Arguments:
        tree: any PyTree; its arrays may be concrete or `jax.ShapeDtypeStruct`s.
        is_leaf: as for `jax.tree_util`.

    Returns:
        `TreeSize(params, nbytes)`. Non-array leaves count zero.

    Example:
        >>> tree_size({"w": jnp.zeros((3, 2)), "b": jnp.zeros(3, jnp.float16), "act": max})
        TreeSize(params=9, nbytes=30)
    """
    count = nbytes = 0
    for leaf in jtu.tree_leaves(tree, is_leaf=is_leaf):
        size = array_size(leaf)
        if size is not None:
            count += size.params
            nbytes += size.nbytes
    return TreeSize(count, nbytes)
