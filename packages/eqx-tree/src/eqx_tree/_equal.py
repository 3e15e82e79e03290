"""`tree_equal`: structural and value equality of PyTrees, jit-safe."""

from __future__ import annotations

from typing import Any

import jax
import jax.numpy as jnp
import numpy as np
from jax.typing import ArrayLike

from ._predicates import is_array

__all__ = ["tree_equal"]


_NUMPY_TYPES = (np.ndarray, np.generic)


def _is_zero(tolerance: ArrayLike) -> bool:
    """Whether a tolerance is a literal zero (then values are compared exactly)."""
    return isinstance(tolerance, (int, float)) and tolerance == 0


def _numpy_equal(a: Any, b: Any, rtol: ArrayLike, atol: ArrayLike) -> bool:
    if a.shape != b.shape or a.dtype != b.dtype:
        return False
    if not (_is_zero(rtol) and _is_zero(atol)) and jnp.issubdtype(a.dtype, jnp.inexact):
        return bool(np.allclose(a, b, rtol=rtol, atol=atol))
    return bool(np.array_equal(a, b))


def _jax_equal(a: Any, b: Any, rtol: ArrayLike, atol: ArrayLike) -> jax.Array:
    if not (_is_zero(rtol) and _is_zero(atol)) and jnp.issubdtype(a.dtype, jnp.inexact):
        return jnp.allclose(a, b, rtol=rtol, atol=atol)
    return jnp.all(jnp.asarray(a) == jnp.asarray(b))


def tree_equal(
    *pytrees: Any, typematch: bool = False, rtol: ArrayLike = 0.0, atol: ArrayLike = 0.0
) -> bool | jax.Array:
    """Whether every PyTree equals the first: same structure, then leaf by leaf.

    Leaves are compared as follows: NumPy against NumPy is decided in NumPy (shape,
    dtype, then values); an array against a non-array is unequal; two arrays at least
    one of which is a JAX array are unequal on a shape or dtype mismatch, else their
    elementwise equality is AND-ed into a JAX boolean; two non-arrays compare with
    `!=`. With a non-zero `rtol`/`atol`, inexact arrays use `allclose` instead.

    Arguments:
        *pytrees: the trees to compare.
        typematch: also require each pair of leaves to have the same `type`.
        rtol, atol: tolerances for inexact arrays (default: exact comparison). Any
            number (`0` or `1e-5`), or a scalar array.

    Returns:
        Python `False` for a mismatch decided without JAX; Python `True` if no JAX
        comparison was needed; otherwise a 0-d JAX bool (a tracer under `jit`). So
        `tree_equal(a, b) is True` asks "equal, and known without running JAX".

    Example:
        >>> tree_equal({"a": np.ones(2)}, {"a": np.ones(2)})
        True
        >>> tree_equal(jnp.ones(2), jnp.ones(2))
        Array(True, dtype=bool)
    """
    leaves, treedef = jax.tree_util.tree_flatten(pytrees[0])
    result: bool | jax.Array = True
    for other in pytrees[1:]:
        other_leaves, other_treedef = jax.tree_util.tree_flatten(other)
        if other_treedef != treedef:  # type: ignore[operator]  # PyTreeDef stubs lack __ne__
            return False
        for a, b in zip(leaves, other_leaves, strict=True):
            if typematch and type(a) is not type(b):
                return False
            if isinstance(a, _NUMPY_TYPES) and isinstance(b, _NUMPY_TYPES):
                if not _numpy_equal(a, b, rtol, atol):
                    return False
            elif is_array(a) or is_array(b):
                if not (is_array(a) and is_array(b)):
                    return False
                if np.shape(a) != np.shape(b) or a.dtype != b.dtype:
                    return False
                result = result & _jax_equal(a, b, rtol, atol)
            elif a != b:
                return False
    return result
