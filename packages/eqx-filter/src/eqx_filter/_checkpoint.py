"""`filter_checkpoint`: `jax.checkpoint` over the array leaves of arbitrary PyTrees."""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Any, ParamSpec, TypeVar, overload

import jax
import jax.tree_util as jtu

from eqx_module import field, module_update_wrapper
from eqx_tree import is_array
from eqx_tree.internal import sentinel

from ._vmap import OutputSkeleton, rebuild
from ._wrapper import TransformWrapper

__all__ = ["filter_checkpoint"]


class _CheckpointWrapper(TransformWrapper):
    _fun: Callable[..., Any]
    _prevent_cse: bool = field(static=True)
    _policy: Callable[..., Any] | None = field(static=True)

    @property
    def __wrapped__(self) -> Callable[..., Any]:
        return self._fun

    def __call__(self, /, *args: Any, **kwargs: Any) -> Any:
        leaves, treedef = jtu.tree_flatten((self._fun, args, kwargs))
        positions = [i for i, x in enumerate(leaves) if is_array(x)]
        skeletons: list[OutputSkeleton] = []

        def flat_fun(*dynamic: Any) -> list[Any]:
            fun, call_args, call_kwargs = rebuild(leaves, treedef, positions, dynamic)
            out = fun(*call_args, **call_kwargs)
            out_leaves, out_treedef = jtu.tree_flatten(out)
            skeleton = OutputSkeleton(out_leaves, out_treedef)
            skeletons.append(skeleton)
            return [out_leaves[i] for i in skeleton.positions]

        checkpointed = jax.checkpoint(flat_fun, prevent_cse=self._prevent_cse, policy=self._policy)
        arrays = checkpointed(*[leaves[i] for i in positions])
        return skeletons[-1].fill(arrays)


_P = ParamSpec("_P")
_T = TypeVar("_T")


# Rematerialisation changes neither the parameters nor the result.
@overload
def filter_checkpoint(
    fun: Callable[_P, _T],
    *,
    prevent_cse: bool = True,
    policy: Callable[..., bool] | None = None,
) -> Callable[_P, _T]: ...
@overload
def filter_checkpoint(
    *,
    prevent_cse: bool = True,
    policy: Callable[..., bool] | None = None,
) -> Callable[[Callable[_P, _T]], Callable[_P, _T]]: ...
def filter_checkpoint(
    fun: Any = sentinel,
    *,
    prevent_cse: bool = True,
    policy: Callable[..., bool] | None = None,
) -> Any:
    """`jax.checkpoint` (rematerialisation) over the array leaves of the arguments.

    **Arguments:** `fun` (omit it to use `filter_checkpoint(...)` as a decorator);
    `prevent_cse` and `policy`, as for `jax.checkpoint`.

    **Returns:** a Module wrapping `fun`; its output may be any PyTree.

    ```python
    block = eqx_filter.filter_checkpoint(block)
    ```
    """
    if fun is sentinel:
        return functools.partial(filter_checkpoint, prevent_cse=prevent_cse, policy=policy)
    return module_update_wrapper(_CheckpointWrapper(fun, bool(prevent_cse), policy))
