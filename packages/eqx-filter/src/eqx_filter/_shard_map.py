"""`filter_shard_map`: `jax.shard_map` for functions of arbitrary PyTrees.

`jax.shard_map` needs a `PartitionSpec` for every input and output leaf, and every leaf
must be an array. Here the specs are prefixes over the *array* leaves only: the
non-array leaves of the arguments (activation functions, static fields) are closed
over, and those of the output are carried out of the trace unchanged.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Any

import jax.tree_util as jtu
from jax.sharding import PartitionSpec

from eqx_module import module_update_wrapper
from eqx_tree import is_array
from eqx_tree.internal import sentinel

from ._compat import shard_map
from ._filters import combine, partition
from ._sharding_prefix import broadcast_prefix, check_partition_spec
from ._vmap import keyword_error, rebuild, split_inputs
from ._wrapper import TransformWrapper

__all__ = ["filter_shard_map"]


# `PartitionSpec()` (replicated); the class is untyped in some JAX stubs.
_P: Any = PartitionSpec


def _is_spec(x: Any) -> bool:
    return isinstance(x, PartitionSpec)


def _replicated_for_none(specs: Any) -> Any:
    """`None` in a spec prefix means replicated (`P()`) for the arrays below it."""
    return jtu.tree_map(
        lambda s: _P() if s is None else s,
        specs,
        is_leaf=lambda x: x is None or _is_spec(x),
    )


class _ShardMapWrapper(TransformWrapper):
    _fun: Callable[..., Any]
    _mesh: Any
    _in_specs: Any
    _out_specs: Any
    _check_vma: bool

    @property
    def __wrapped__(self) -> Callable[..., Any]:
        return self._fun

    def __call__(self, /, *args: Any, **kwargs: Any) -> Any:
        if kwargs:
            raise keyword_error("filter_shard_map")
        described = broadcast_prefix(
            self._in_specs, args, is_spec=_is_spec, root="args", what="in_specs"
        )
        leaves, treedef, positions, _ = split_inputs(self._fun, None, args, "filter_shard_map")
        in_specs = []
        for i, (path, spec) in zip(positions, described, strict=True):
            spec = _P() if spec is None else spec
            check_partition_spec(path, tuple(leaves[i].shape), spec, self._mesh)
            in_specs.append(spec)
        statics: list[Any] = []
        fun = self._fun

        def flat_fun(*arrays: Any) -> Any:
            out = fun(*rebuild(leaves, treedef, positions, arrays))
            dynamic, static = partition(out, is_array)
            statics.append(static)
            return dynamic

        mapped = shard_map(
            flat_fun,
            mesh=self._mesh,
            in_specs=tuple(in_specs),
            out_specs=_replicated_for_none(self._out_specs),
            check_vma=self._check_vma,
        )
        dynamic = mapped(*[leaves[i] for i in positions])
        return combine(dynamic, statics[-1])


def filter_shard_map(
    fun: Any = sentinel,
    *,
    mesh: Any,
    in_specs: Any,
    out_specs: Any,
    check_vma: bool = True,
) -> Any:
    """`jax.shard_map` for functions whose arguments and outputs are any PyTrees.

    Inside `fun`, each array is the *local block* its device holds; collectives
    (`jax.lax.psum`, `pmean`, `all_gather`, ...) over the mesh's axis names combine
    them. Non-array leaves of the arguments pass through to `fun` as they are; non-array
    leaves of the output come back as they are.

    **Arguments:**

    - `fun`: the function (omit it to use `filter_shard_map(...)` as a decorator). It
      takes positional arguments only.
    - `mesh`: a `jax.sharding.Mesh`.
    - `in_specs`: a PyTree prefix of the tuple of positional arguments whose leaves are
      `PartitionSpec`s (or `None`, meaning replicated, `P()`). A leaf of the prefix
      applies to every array below it; non-array leaves need no spec.
    - `out_specs`: the same, a prefix of `fun`'s output.
    - `check_vma`: JAX's check that outputs declared replicated really are (called
      `check_rep` before JAX 0.7; mapped onto it there).

    **Returns:** a Module wrapping `fun`; call it on global arrays.

    **Raises (at call):** `ValueError` naming the argument path (`args[0].weight`) when
    `in_specs` is not a prefix of the arguments, a spec names an axis `mesh` lacks, or
    a mesh axis does not divide the dimension it splits; `RuntimeError` for keyword
    arguments. Output specs are checked by JAX.

    ```python
    @eqx.filter_shard_map(mesh=mesh, in_specs=(P(), P("data")), out_specs=P())
    def loss(model, batch):
        return jax.lax.pmean(jnp.mean((jax.vmap(model)(batch) - 1) ** 2), "data")
    ```
    """
    if fun is sentinel:
        return functools.partial(
            filter_shard_map,
            mesh=mesh,
            in_specs=in_specs,
            out_specs=out_specs,
            check_vma=check_vma,
        )
    return module_update_wrapper(_ShardMapWrapper(fun, mesh, in_specs, out_specs, check_vma))
