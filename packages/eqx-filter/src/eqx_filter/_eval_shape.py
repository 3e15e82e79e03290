"""`filter_eval_shape`: `jax.eval_shape` for functions of arbitrary PyTrees."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import jax
import jax.tree_util as jtu

from eqx_tree import is_array

from ._vmap import OutputSkeleton, rebuild

__all__ = ["filter_eval_shape", "is_abstract_input"]


def is_abstract_input(x: Any) -> bool:
    """Arrays and `ShapeDtypeStruct`s are traced; everything else passes through."""
    return is_array(x) or isinstance(x, jax.ShapeDtypeStruct)


def filter_eval_shape(fun: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
    """The output of `fun(*args, **kwargs)` without computing it.

    **Arguments:** `fun` (any callable, including a Module whose arrays are abstract
    too), and its arguments: arrays and `jax.ShapeDtypeStruct`s are abstract; every
    other leaf is passed through by identity and need not be hashable.

    **Returns:** the output, with each array replaced by a `jax.ShapeDtypeStruct`;
    non-array outputs are the very objects `fun` returned.

    ```python
    out = eqx_filter.filter_eval_shape(model, jax.ShapeDtypeStruct((3,), jnp.float32))
    ```
    """
    leaves, treedef = jtu.tree_flatten((fun, args, kwargs))
    positions = [i for i, x in enumerate(leaves) if is_abstract_input(x)]
    skeletons: list[OutputSkeleton] = []

    def flat_fun(*dynamic: Any) -> list[Any]:
        f, call_args, call_kwargs = rebuild(leaves, treedef, positions, dynamic)
        out = f(*call_args, **call_kwargs)
        out_leaves, out_treedef = jtu.tree_flatten(out)
        skeleton = OutputSkeleton(out_leaves, out_treedef)
        skeletons.append(skeleton)
        return [out_leaves[i] for i in skeleton.positions]

    structs = jax.eval_shape(flat_fun, *[leaves[i] for i in positions])
    return skeletons[-1].fill(structs)
