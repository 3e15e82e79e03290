"""`filter_shard`: a sharding constraint (or placement) on the array leaves of a PyTree."""

from __future__ import annotations

from typing import Any

import jax
import jax.tree_util as jtu

from eqx_tree import is_array

from ._compat import flatten_up_to, with_sharding_constraint

__all__ = ["filter_shard"]


def _is_sharding(x: Any) -> bool:
    return isinstance(x, jax.sharding.Sharding)


def filter_shard(x: Any, device_or_shardings: Any) -> Any:
    """Constrain (inside `jit`) or place (outside) the array leaves of `x`.

    **Arguments:**

    - `x`: any PyTree; only its array leaves are touched.
    - `device_or_shardings`: a `jax.Device` (a `SingleDeviceSharding` on it), a
      sharding, or a PyTree prefix of `x` with shardings as leaves.

    **Returns:** `x` with `jax.lax.with_sharding_constraint` applied to each array leaf:
    a constraint inside `jit`, a committed placement outside. Non-arrays are untouched.

    ```python
    batch = eqx_filter.filter_shard(batch, NamedSharding(mesh, P("data")))
    ```
    """
    if isinstance(device_or_shardings, jax.Device):
        device_or_shardings = jax.sharding.SingleDeviceSharding(device_or_shardings)
    leaves, treedef = jtu.tree_flatten(x)
    if _is_sharding(device_or_shardings):
        shardings = [device_or_shardings] * len(leaves)
    else:
        try:
            per_leaf = jtu.tree_map(
                lambda s, sub: jtu.tree_map(lambda _: s, sub),
                device_or_shardings,
                x,
                is_leaf=_is_sharding,
            )
            shardings = flatten_up_to(treedef, per_leaf)
        except ValueError as e:
            raise ValueError(
                "filter_shard: `device_or_shardings` must be a device, a sharding, or a "
                f"PyTree prefix of `x` with shardings as leaves: {e}"
            ) from None
    positions = [i for i, leaf in enumerate(leaves) if is_array(leaf)]
    if not positions:
        return x
    constrained = with_sharding_constraint(
        [leaves[i] for i in positions], [shardings[i] for i in positions]
    )
    for i, value in zip(positions, constrained, strict=True):
        leaves[i] = value
    return jtu.tree_unflatten(treedef, leaves)
