"""`filter_pure_callback`: `jax.pure_callback` for arbitrary PyTrees in and out."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import jax
import numpy as np

from eqx_tree import is_array, tree_equal

from ._compat import pure_callback
from ._filters import combine, partition

__all__ = ["filter_pure_callback"]


def _is_struct(x: Any) -> bool:
    # As for `jax.pure_callback`, an array stands for its own shape and dtype.
    return isinstance(x, jax.ShapeDtypeStruct) or is_array(x)


def filter_pure_callback(
    callback: Callable[..., Any],
    *args: Any,
    result_shape_dtypes: Any,
    sharding: Any = None,
    vmap_method: str | None = None,
    vectorized: bool | None = None,
    **kwargs: Any,
) -> Any:
    """`jax.pure_callback` where inputs and outputs may be any PyTrees.

    **Arguments:**

    - `callback`: a Python function, called as `callback(*args, **kwargs)` with the array
      leaves as NumPy arrays and every other leaf as it was.
    - `*args`, `**kwargs`: any PyTrees; only array leaves cross into the callback.
    - `result_shape_dtypes` (keyword-only): the output, with a `jax.ShapeDtypeStruct` per
      array and the exact expected non-array values.
    - `sharding`, `vmap_method`, `vectorized`: forwarded to `jax.pure_callback` when not
      `None`.

    **Returns:** the callback's output, its arrays as JAX arrays.

    **Raises:** `ValueError` «Callback did not return matching static elements» (inside
    JAX's callback error) when the non-array outputs differ from `result_shape_dtypes`.

    ```python
    y = eqx_filter.filter_pure_callback(
        np.sin, x, result_shape_dtypes=jax.ShapeDtypeStruct(x.shape, x.dtype)
    )
    ```
    """
    dynamic, static = partition((args, kwargs), is_array)
    dynamic_struct, static_struct = partition(result_shape_dtypes, _is_struct)

    def host_callback(host_dynamic: Any) -> Any:
        call_args, call_kwargs = combine(host_dynamic, static)
        out = callback(*call_args, **call_kwargs)
        out_dynamic, out_static = partition(out, is_array)
        if not tree_equal(out_static, static_struct):
            raise ValueError(
                "Callback did not return matching static elements: expected the non-array "
                f"outputs {static_struct!r}, got {out_static!r}."
            )
        return jax.tree_util.tree_map(np.asarray, out_dynamic)

    options: dict[str, Any] = {}
    if sharding is not None:
        options["sharding"] = sharding
    if vmap_method is not None:
        options["vmap_method"] = vmap_method
    out_dynamic = pure_callback(host_callback, dynamic_struct, dynamic, vectorized, **options)
    return combine(out_dynamic, static_struct)
