"""`filter_make_jaxpr`: `jax.make_jaxpr` for functions of arbitrary PyTrees."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import jax
import jax.tree_util as jtu

from eqx_module import module_update_wrapper

from ._compat import shape_dtype_struct
from ._vmap import OutputSkeleton, rebuild
from ._wrapper import TransformWrapper

__all__ = ["filter_make_jaxpr"]


def _is_traced_input(x: Any) -> bool:
    return (
        hasattr(x, "shape")
        and hasattr(x, "dtype")
        and not isinstance(x, (int, float, complex, bool))
    )


class _MakeJaxprWrapper(TransformWrapper):
    _fun: Callable[..., Any]

    @property
    def __wrapped__(self) -> Callable[..., Any]:
        return self._fun

    def __call__(self, /, *args: Any, **kwargs: Any) -> tuple[Any, Any, Any]:
        fun = self._fun
        leaves, treedef = jtu.tree_flatten((args, kwargs))
        positions = [i for i, x in enumerate(leaves) if _is_traced_input(x)]
        skeletons: list[OutputSkeleton] = []

        def flat_fun(*dynamic: Any) -> list[Any]:
            call_args, call_kwargs = rebuild(leaves, treedef, positions, dynamic)
            out = fun(*call_args, **call_kwargs)
            out_leaves, out_treedef = jtu.tree_flatten(out)
            skeleton = OutputSkeleton(out_leaves, out_treedef)
            skeletons.append(skeleton)
            return [out_leaves[i] for i in skeleton.positions]

        structs = [shape_dtype_struct(leaves[i].shape, leaves[i].dtype) for i in positions]
        closed_jaxpr, out_shapes = jax.make_jaxpr(flat_fun, return_shape=True)(*structs)
        skeleton = skeletons[-1]
        blank = [None] * len(skeleton.leaves)
        out_struct = rebuild(blank, skeleton.treedef, skeleton.positions, out_shapes)
        static_out = jtu.tree_unflatten(skeleton.treedef, skeleton.leaves)
        return closed_jaxpr, out_struct, static_out


def filter_make_jaxpr(fun: Callable[..., Any]) -> Any:
    """`jax.make_jaxpr` for functions of arbitrary PyTrees.

    **Arguments:** `fun`, any callable.

    **Returns:** a callable `(*args, **kwargs) -> (ClosedJaxpr, out_struct, static_out)`.
    Inputs with `.shape` and `.dtype` are traced; everything else (Python scalars too)
    is static. Arrays inside `fun` (a Module's fields) and closed-over arrays become the
    jaxpr's consts. `out_struct` has a `ShapeDtypeStruct` at each array output and
    `None` elsewhere; `static_out` has the non-array outputs and `None` at the arrays.

    ```python
    jaxpr, out_struct, static_out = eqx_filter.filter_make_jaxpr(f)(x, "mode")
    ```
    """
    return module_update_wrapper(_MakeJaxprWrapper(fun))
