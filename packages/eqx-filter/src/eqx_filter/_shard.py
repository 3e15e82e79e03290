"""`filter_shard`: a sharding constraint (or placement) on the array leaves of a PyTree."""

from __future__ import annotations

from typing import Any

import jax
import jax.tree_util as jtu

from eqx_tree import is_array

from ._compat import flatten_up_to, with_sharding_constraint
from ._filters import combine, partition

__all__ = ["filter_shard"]


def _is_sharding(x: Any) -> bool:
    return isinstance(x, jax.sharding.Sharding)


def filter_shard(x: Any, device_or_shardings: Any) -> Any:
    """Constrain (inside `jit`) or place (outside) the array leaves of `x`.

    **Arguments:**

    - `x`: any PyTree; only its array leaves are touched.
    - `device_or_shardings`: a `jax.Device` (a `SingleDeviceSharding` on it), a
      sharding, or a PyTree prefix of `x` with shardings as leaves. The prefix describes
      the array leaves only, so it may hold `None` where `x` holds no arrays.

    **Returns:** `x` with `jax.lax.with_sharding_constraint` applied to each array leaf:
    a constraint inside `jit`, a committed placement outside. Non-arrays are untouched.

    **Raises:** `ValueError` if `device_or_shardings` is not a prefix of the arrays of `x`.

    ```python
    batch = eqx_filter.filter_shard(batch, NamedSharding(mesh, P("data")))
    ```
    """
    if isinstance(device_or_shardings, jax.Device):
        device_or_shardings = jax.sharding.SingleDeviceSharding(device_or_shardings)
    # The prefix describes the arrays only, as `with_sharding_constraint` over
    # `filter(x, is_array)` would read it: a `None` in it may stand where `x` holds a
    # non-array (a function, a string, ...).
    dynamic, static = partition(x, is_array)
    leaves, treedef = jtu.tree_flatten(dynamic)
    if not leaves:
        return x
    if _is_sharding(device_or_shardings):
        shardings = [device_or_shardings] * len(leaves)
    else:
        try:
            per_leaf = jtu.tree_map(
                lambda s, sub: jtu.tree_map(lambda _: s, sub),
                device_or_shardings,
                dynamic,
                is_leaf=_is_sharding,
            )
            shardings = flatten_up_to(treedef, per_leaf)
        except ValueError as e:
            raise ValueError(
                "filter_shard: `device_or_shardings` must be a device, a sharding, or a "
                "PyTree prefix of `x` with shardings as leaves (`None` where `x` holds no "
                f"arrays): {e}"
            ) from None
    constrained = with_sharding_constraint(leaves, shardings)
    return combine(jtu.tree_unflatten(treedef, constrained), static)
