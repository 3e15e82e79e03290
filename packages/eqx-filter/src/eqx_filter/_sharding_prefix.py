"""Sharding prefixes: one sharding (or `PartitionSpec`) per array leaf, with errors by path.

`filter_device_put`, `filter_shard_map` and `filter_jit(in_shardings=...,
out_shardings=...)` all take a PyTree *prefix* of their arguments whose leaves describe
the array leaves below them. `None` in the prefix means "no constraint" and may stand
anywhere, including over non-array leaves (functions, strings, static fields), which
are never placed. Everything here runs at trace time or before dispatch, so its
errors name the offending leaf by its path (`args[0].layers[1].weight`).
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

import jax
import jax.tree_util as jtu
from jax.sharding import NamedSharding, PartitionSpec

from eqx_tree import is_array, tree_flatten_one_level

__all__ = [
    "SpecLeaf",
    "broadcast_prefix",
    "check_named_sharding",
    "check_partition_spec",
    "is_sharding_or_device",
]

# One array leaf: its path (already rendered, e.g. "args[0].weight") and the prefix
# leaf (a sharding, a device, a PartitionSpec or None) that describes it.
SpecLeaf = tuple[str, Any]


def _is_none(x: Any) -> bool:
    return x is None


def broadcast_prefix(
    prefix: Any,
    tree: Any,
    *,
    is_spec: Callable[[Any], bool],
    root: str,
    what: str,
) -> list[SpecLeaf]:
    """The prefix leaf describing each array leaf of `tree`, in `jtu.tree_leaves` order.

    `tree` is the full PyTree (non-array leaves included). Only its array leaves get an
    entry. A prefix leaf is anything for which `is_spec` holds, or `None`.

    Raises:
        ValueError: `prefix` is not a prefix of `tree`, naming the first path where the
            two differ and what each holds there.
    """
    out: list[SpecLeaf] = []

    def assign(spec: Any, subtree: Any, path: tuple[Any, ...]) -> None:
        for sub_path, leaf in jtu.tree_flatten_with_path(subtree, is_leaf=_is_none)[0]:
            if is_array(leaf):
                out.append((root + jtu.keystr(path + tuple(sub_path)), spec))

    def walk(p: Any, t: Any, path: tuple[Any, ...]) -> None:
        if p is None or is_spec(p):
            assign(p, t, path)
            return
        if not any(is_array(x) for x in jtu.tree_leaves(t)):
            return  # no arrays below: nothing to describe, whatever the prefix holds
        where = f"`{root}{jtu.keystr(path)}`"
        if is_array(t):
            raise ValueError(
                f"`{what}` is not a PyTree prefix of `{root}`: at {where}, `{root}` has "
                f"an array but `{what}` has {_describe(p)}. Put a single sharding (or "
                "`None`) there."
            )
        keyed, t_def = jtu.tree_flatten_with_path(t, is_leaf=lambda x: x is not t)
        p_children, p_def = tree_flatten_one_level(p)
        if p_def != t_def:
            raise ValueError(
                f"`{what}` is not a PyTree prefix of `{root}`: at {where}, `{root}` has "
                f"{_describe(t)} but `{what}` has {_describe(p)}. Give one sharding for "
                "the whole subtree, `None`, or a subtree of the same structure."
            )
        for (key, t_child), p_child in zip(keyed, p_children, strict=True):
            walk(p_child, t_child, path + tuple(key))

    walk(prefix, tree, ())
    return out


def _describe(x: Any) -> str:
    if is_array(x):
        return f"an array of shape {tuple(x.shape)}"
    if isinstance(x, dict):
        return f"a dict with keys {sorted(map(str, x))}"
    if isinstance(x, list | tuple):
        return f"a {type(x).__name__} of length {len(x)}"
    return f"a `{type(x).__name__}`"


# `P.UNCONSTRAINED` in a spec leaves that dimension to XLA: it names no mesh axis.
_UNCONSTRAINED = getattr(PartitionSpec, "UNCONSTRAINED", None)


def _axis_names(entry: Any) -> tuple[Any, ...]:
    if entry is None or (_UNCONSTRAINED is not None and entry is _UNCONSTRAINED):
        return ()
    if isinstance(entry, tuple | list):
        return tuple(entry)
    return (entry,)


def check_partition_spec(path: str, shape: tuple[int, ...], spec: Any, mesh: Any) -> None:
    """Check a `PartitionSpec` against a mesh and one array's global shape.

    Raises:
        ValueError: the spec has more entries than the array has dimensions, names an
            axis the mesh lacks, or splits a dimension over mesh axes whose total size
            does not divide it. The message names `path`.
    """
    if not isinstance(spec, PartitionSpec):
        raise TypeError(
            f"`{path}`: expected a jax.sharding.PartitionSpec (or None), got "
            f"{type(spec).__name__} {spec!r}."
        )
    entries = tuple(spec)
    if len(entries) > len(shape):
        raise ValueError(
            f"`{path}`: {spec} has {len(entries)} entries but the array has shape "
            f"{tuple(shape)} (rank {len(shape)}); give at most one entry per dimension."
        )
    mesh_shape = dict(mesh.shape)
    for dim, entry in enumerate(entries):
        names = _axis_names(entry)
        for name in names:
            if name not in mesh_shape:
                raise ValueError(
                    f"`{path}`: {spec} names mesh axis {name!r}, but the mesh has axes "
                    f"{tuple(mesh_shape)}; use one of those (or None) in that position."
                )
        size = math.prod(mesh_shape[n] for n in names)
        if shape[dim] % size:
            raise ValueError(
                f"`{path}`: dimension {dim} has size {shape[dim]}, which mesh axes "
                f"{names} (total size {size}) do not divide, as {spec} asks. Pad the "
                "array to a multiple of that size or shard another dimension."
            )


def check_named_sharding(path: str, shape: tuple[int, ...], sharding: Any) -> None:
    """Check a `NamedSharding` against one array's global shape (see above)."""
    if isinstance(sharding, NamedSharding):
        check_partition_spec(path, tuple(shape), sharding.spec, sharding.mesh)


def is_sharding_or_device(x: Any) -> bool:
    """A leaf of a placement prefix: a `jax.sharding.Sharding` or a `jax.Device`."""
    return isinstance(x, jax.sharding.Sharding | jax.Device)
