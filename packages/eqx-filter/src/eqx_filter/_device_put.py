"""`filter_device_put`: `jax.device_put` on the array leaves of any PyTree, by prefix."""

from __future__ import annotations

from typing import Any

import jax
import jax.tree_util as jtu

from eqx_tree import is_array

from ._sharding_prefix import broadcast_prefix, check_named_sharding, is_sharding_or_device

__all__ = ["filter_device_put"]


def filter_device_put(tree: Any, device_or_shardings: Any, *, donate: bool = False) -> Any:
    """Place the array leaves of `tree` on a device or sharding; leave the rest alone.

    Outside `jit` this is how a model, an optimiser state or a batch gets onto a mesh:
    replicated, split along a data axis, or (FSDP-style) each weight split over the
    devices, so no device holds more than its shard.

    **Arguments:**

    - `tree`: any PyTree. Its array leaves (JAX and NumPy arrays) are placed; every
      other leaf (functions, strings, Python numbers, static fields) is returned as is.
    - `device_or_shardings`: a `jax.Device`, a `jax.sharding.Sharding`, or a PyTree
      prefix of `tree` whose leaves are devices, shardings or `None`. A leaf of the
      prefix applies to every array below it; `None` leaves those arrays where they are.
    - `donate`: passed to `jax.device_put` (JAX >= 0.4.38): the input buffers may be
      reused for the output.

    **Returns:** a PyTree of the same structure with the arrays placed (committed).

    **Raises:** `ValueError` naming the path (`tree.layers[0].weight`) when the prefix
    is not a prefix of `tree`, when a `PartitionSpec` names an axis the mesh lacks, or
    when a mesh axis does not divide the dimension it splits.

    ```python
    mesh = jax.make_mesh((jax.device_count(),), ("data",))
    model = eqx.filter_device_put(model, NamedSharding(mesh, P()))  # replicated
    batch = eqx.filter_device_put(batch, NamedSharding(mesh, P("data")))
    ```
    """
    specs = broadcast_prefix(
        device_or_shardings,
        tree,
        is_spec=is_sharding_or_device,
        root="tree",
        what="device_or_shardings",
    )
    leaves, treedef = jtu.tree_flatten(tree)
    arrays = [i for i, leaf in enumerate(leaves) if is_array(leaf)]
    todo: list[int] = []
    targets: list[Any] = []
    for i, (path, spec) in zip(arrays, specs, strict=True):
        if spec is None:
            continue
        check_named_sharding(path, tuple(leaves[i].shape), spec)
        todo.append(i)
        targets.append(spec)
    if todo:
        sources = [leaves[i] for i in todo]
        placed = (
            jax.device_put(sources, targets, donate=True)
            if donate
            else jax.device_put(sources, targets)
        )
        for i, leaf in zip(todo, placed, strict=True):
            leaves[i] = leaf
    return jtu.tree_unflatten(treedef, leaves)
