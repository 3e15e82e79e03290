"""What counts as an array: the four predicates used by filtering and serialisation.

For `[1, 2.0, [2.0], True, object(), jnp.array([1]), jnp.array(1.0), np.array(1.0),
np.array(1), Linear]`:

| predicate               | result     |
|-------------------------|------------|
| `is_array`              | FFFFFTTTTF |
| `is_array_like`         | TTFTFTTTTF |
| `is_inexact_array`      | FFFFFFTTFF |
| `is_inexact_array_like` | FTFFFFTTFF |

None of them ever raises.
"""

from __future__ import annotations

from typing import Any

import jax
import jax.numpy as jnp
import numpy as np

from ._compat import LITERAL_ARRAY_TYPES

__all__ = ["is_array", "is_array_like", "is_inexact_array", "is_inexact_array_like"]

_ARRAY_TYPES: tuple[type, ...] = (jax.Array, np.ndarray, np.generic, *LITERAL_ARRAY_TYPES)
_PYTHON_SCALARS = (bool, int, float, complex)


def is_array(element: Any) -> bool:
    """`True` for a JAX array, a NumPy array or a NumPy scalar. Python scalars are not arrays.

    Example:
        >>> is_array(jnp.ones(3)), is_array(np.float32(1)), is_array(1.0)
        (True, True, False)
    """
    return isinstance(element, _ARRAY_TYPES)


def is_array_like(element: Any) -> bool:
    """`is_array`, plus Python `bool`/`int`/`float`/`complex` and objects with `__jax_array__`."""
    return isinstance(element, (*_ARRAY_TYPES, *_PYTHON_SCALARS)) or hasattr(
        element, "__jax_array__"
    )


def _is_inexact_dtype(dtype: Any) -> bool:
    # jnp.issubdtype knows the ml_dtypes floats (bfloat16, float8...); np.issubdtype does not.
    return dtype is not None and bool(jnp.issubdtype(dtype, jnp.inexact))


def is_inexact_array(element: Any) -> bool:
    """`True` for a floating or complex JAX/NumPy array or NumPy scalar: the differentiable leaves.

    A Python `float` gives `False` (it is static under the filtered transformations).
    """
    if isinstance(element, _ARRAY_TYPES) and not isinstance(element, _PYTHON_SCALARS):
        return _is_inexact_dtype(getattr(element, "dtype", None))
    if isinstance(element, LITERAL_ARRAY_TYPES):
        dtype = getattr(element, "dtype", None)
        return dtype is not None and _is_inexact_dtype(dtype)
    return False


def is_inexact_array_like(element: Any) -> bool:
    """An inexact array, or a Python `float`/`complex`; `__jax_array__` is resolved first."""
    if isinstance(element, _ARRAY_TYPES):
        # Arrays first: a tracer has a `__jax_array__` attribute that is not callable.
        return is_inexact_array(element)
    if hasattr(element, "__jax_array__"):
        try:
            element = element.__jax_array__()
        except Exception:  # a predicate never raises
            return False
    if isinstance(element, bool):
        return False
    if isinstance(element, (float, complex)) and not isinstance(element, _ARRAY_TYPES):
        return True
    return is_inexact_array(element)
