"""`filter_jit(in_shardings=..., out_shardings=...)`: sharding prefixes onto the inner `jax.jit`.

Both are PyTree prefixes whose leaves are `jax.sharding.Sharding`s or `None` (no
constraint), over the array leaves only (see `_sharding_prefix`).

- `in_shardings` describes the bound call `(args, kwargs)`: `args` holds every
  positional-or-keyword parameter, however it was passed, and `kwargs` the keyword-only
  ones. It is broadcast to the array leaves once per entry (a new static configuration)
  and handed to `jax.jit` as one sharding per inner argument: the inner arguments are
  the array leaves in leaf order (`_plan.py`), so the map is one-to-one. The leaves of
  a callable `fun` that is itself a PyTree (a Module) get `None`.
- `out_shardings` describes the output. The inner `jax.jit` is made before its output
  structure is known, so each output array gets a sharding constraint at the end of
  the trace instead; XLA makes the compiled outputs' shardings those constraints.

Nothing here runs on the hot path: a call without shardings never comes here, and a
call with them pays only when an entry is made or traced.
"""

from __future__ import annotations

from typing import Any

import jax
import jax.tree_util as jtu

from eqx_tree import is_array

from .._compat import with_sharding_constraint
from .._sharding_prefix import broadcast_prefix, check_named_sharding

__all__ = ["check_sharding_prefix", "constrain_output", "flat_in_shardings"]


def _is_sharding(x: Any) -> bool:
    return isinstance(x, jax.sharding.Sharding)


def check_sharding_prefix(name: str, prefix: Any) -> None:
    """Refuse, when `filter_jit` is called, a prefix whose leaves are not shardings."""
    for leaf in jtu.tree_leaves(prefix, is_leaf=_is_sharding):
        if not _is_sharding(leaf):
            raise TypeError(
                f"filter_jit: `{name}` must be a PyTree prefix whose leaves are "
                f"`jax.sharding.Sharding`s or None, but it holds {leaf!r} of type "
                f"{type(leaf).__name__}. A PartitionSpec needs a mesh: write "
                "`NamedSharding(mesh, spec)`."
            )


def _split_prefix(prefix: Any) -> tuple[Any, Any]:
    if prefix is None or _is_sharding(prefix):
        return prefix, prefix
    if isinstance(prefix, tuple) and len(prefix) == 2:
        args_prefix, kwargs_prefix = prefix
        if (
            _is_sharding(args_prefix)
            and _is_sharding(kwargs_prefix)
            and args_prefix != kwargs_prefix
        ):
            raise ValueError(
                "filter_jit: `in_shardings` describes `(args, kwargs)`, so the pair of two "
                f"different shardings {prefix!r} would put the first on every positional "
                "argument and the second on every keyword argument. For one sharding per "
                "positional argument write `in_shardings=((s_x, s_y), None)`."
            )
        return args_prefix, kwargs_prefix
    raise ValueError(
        "filter_jit: `in_shardings` must be a sharding, None, or a pair `(args_prefix, "
        f"kwargs_prefix)` describing the positional and keyword arguments; got {prefix!r}. "
        "For positional arguments only, write `in_shardings=((s_x, s_y), None)`."
    )


def flat_in_shardings(prefix: Any, tree: Any, has_fun: bool) -> tuple[Any, ...]:
    """One sharding (or `None`) per array leaf of the bound call `tree`, in leaf order.

    Raises:
        ValueError: not a prefix, a `PartitionSpec` naming an axis the mesh lacks, or a
            mesh axis not dividing the dimension it splits; naming `args[...]` or
            `kwargs[...]`.
    """
    if has_fun:
        fun, args, kwargs = tree
        fun_arrays = sum(1 for leaf in jtu.tree_leaves(fun) if is_array(leaf))
    else:
        args, kwargs = tree
        fun_arrays = 0
    args_prefix, kwargs_prefix = _split_prefix(prefix)
    described = broadcast_prefix(
        args_prefix, args, is_spec=_is_sharding, root="args", what="in_shardings"
    ) + broadcast_prefix(
        kwargs_prefix, kwargs, is_spec=_is_sharding, root="kwargs", what="in_shardings"
    )
    arrays = [leaf for leaf in jtu.tree_leaves((args, kwargs)) if is_array(leaf)]
    for (path, sharding), leaf in zip(described, arrays, strict=True):
        if sharding is not None:
            check_named_sharding(path, tuple(leaf.shape), sharding)
    return (None,) * fun_arrays + tuple(sharding for _, sharding in described)


def constrain_output(prefix: Any, out: Any) -> Any:
    """`out` with each array leaf constrained to its sharding from `prefix` (at trace time)."""
    described = broadcast_prefix(
        prefix, out, is_spec=_is_sharding, root="output", what="out_shardings"
    )
    leaves, treedef = jtu.tree_flatten(out)
    positions = [i for i, leaf in enumerate(leaves) if is_array(leaf)]
    for i, (path, sharding) in zip(positions, described, strict=True):
        if sharding is not None:
            check_named_sharding(path, tuple(leaves[i].shape), sharding)
            leaves[i] = with_sharding_constraint(leaves[i], sharding)
    return jtu.tree_unflatten(treedef, leaves)
