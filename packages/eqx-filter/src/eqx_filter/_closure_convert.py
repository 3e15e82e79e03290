"""`filter_closure_convert`: make the arrays a function closes over explicit.

Tracing `fn` at example arguments turns every array it closes over (including tracers
of an enclosing trace) into an explicit `consts` field of the returned Module, which is
what higher-order custom derivatives (`filter_custom_vjp` of a function of functions)
need: the closed-over arrays become differentiable inputs.
"""

from __future__ import annotations

import types
from collections.abc import Callable
from typing import Any

import jax
import jax.tree_util as jtu

from eqx_module import Module, field

from ._compat import eval_jaxpr, same_structure, shape_dtype_struct
from ._eval_shape import filter_eval_shape, is_abstract_input
from ._vmap import OutputSkeleton, rebuild

__all__ = ["filter_closure_convert"]


def _struct(x: Any) -> jax.ShapeDtypeStruct:
    return shape_dtype_struct(x.shape, x.dtype)


class _Signature:
    """The structure, static leaves and array shapes/dtypes of a call (weak types ignored)."""

    __slots__ = ("positions", "static", "structs", "treedef")

    def __init__(self, args: tuple[Any, ...], kwargs: dict[str, Any]) -> None:
        leaves, self.treedef = jtu.tree_flatten((args, kwargs))
        self.positions = [i for i, x in enumerate(leaves) if is_abstract_input(x)]
        dynamic = set(self.positions)
        self.static = [x for i, x in enumerate(leaves) if i not in dynamic]
        self.structs = [_struct(leaves[i]) for i in self.positions]

    def dynamic_of(self, args: tuple[Any, ...], kwargs: dict[str, Any]) -> list[Any]:
        leaves, treedef = jtu.tree_flatten((args, kwargs))
        positions = [i for i, x in enumerate(leaves) if is_abstract_input(x)]
        dynamic = set(positions)
        static = [x for i, x in enumerate(leaves) if i not in dynamic]
        if (
            not same_structure(treedef, self.treedef)
            or positions != self.positions
            or len(static) != len(self.static)
            or not all(a is b or _equal(a, b) for a, b in zip(static, self.static, strict=True))
        ):
            raise ValueError(
                "A closure-converted function was called with different static arguments "
                "(PyTree structure or non-array leaves) from those it was traced with; "
                "call `filter_closure_convert` again for these arguments."
            )
        values = [leaves[i] for i in positions]
        for value, struct in zip(values, self.structs, strict=True):
            if tuple(value.shape) != tuple(struct.shape) or value.dtype != struct.dtype:
                raise ValueError(
                    "A closure-converted function was called with different dynamic "
                    f"arguments (shape/dtype) from those it was traced with: expected "
                    f"{struct.dtype}{list(struct.shape)}, got {value.dtype}{list(value.shape)}."
                )
        return values


def _equal(a: Any, b: Any) -> bool:
    try:
        return bool(a == b)
    except Exception:
        return False


def _in_struct(sig: _Signature) -> Any:
    n_leaves = len(sig.static) + len(sig.positions)
    static_iter = iter(sig.static)
    dynamic = set(sig.positions)
    leaves = [None if i in dynamic else next(static_iter) for i in range(n_leaves)]
    return rebuild(leaves, sig.treedef, sig.positions, sig.structs)


class _ClosureConvert(Module):
    jaxpr: Any = field(static=True)
    consts: tuple[Any, ...]
    _signature: _Signature = field(static=True)
    _out_skeleton: OutputSkeleton = field(static=True)
    _out_structs: tuple[Any, ...] = field(static=True)

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        dynamic = self._signature.dynamic_of(args, kwargs)
        arrays = eval_jaxpr(self.jaxpr, self.consts, *dynamic)
        return self._out_skeleton.fill(arrays)

    @property
    def in_struct(self) -> Any:
        """The arguments traced, with arrays as `ShapeDtypeStruct`s."""
        return _in_struct(self._signature)

    @property
    def out_struct(self) -> Any:
        """The output, with arrays as `ShapeDtypeStruct`s."""
        return self._out_skeleton.fill(self._out_structs)


class _NotConverted(Module):
    """A plain function with no closure: nothing to convert, so it is not traced.

    Calls are still checked against the example arguments, as for a traced function.
    """

    fn: Callable[..., Any] = field(static=True)
    _signature: _Signature = field(static=True)
    consts: tuple[Any, ...] = ()

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        self._signature.dynamic_of(args, kwargs)
        return self.fn(*args, **kwargs)

    @property
    def in_struct(self) -> Any:
        """The example arguments, with arrays as `ShapeDtypeStruct`s."""
        return _in_struct(self._signature)

    @property
    def out_struct(self) -> Any:
        """The output, with arrays as `ShapeDtypeStruct`s (computed abstractly)."""
        args, kwargs = self.in_struct
        return filter_eval_shape(self.fn, *args, **kwargs)


def filter_closure_convert(fn: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
    """Trace `fn` at example arguments and hoist the arrays it closes over into `.consts`.

    **Arguments:** `fn` and example arguments: arrays and `ShapeDtypeStruct`s are dynamic
    (weak types ignored), everything else static.

    **Returns:** a Module called like `fn`, with `.consts` (the closed-over arrays,
    tracers included), and `in_struct` / `out_struct` properties. A plain function with
    no closure is not traced (`.consts == ()`), but its calls are checked the same way.

    **Raises (at call):** `ValueError` «different dynamic arguments» for other shapes or
    dtypes, «different static arguments» for other static arguments.

    ```python
    f = eqx_filter.filter_closure_convert(lambda x: x * w, x)
    f.consts  # (w,)
    ```
    """
    signature = _Signature(args, kwargs)
    if isinstance(fn, types.FunctionType) and fn.__closure__ is None:
        return _NotConverted(fn, signature)
    leaves, treedef = jtu.tree_flatten((args, kwargs))
    skeletons: list[OutputSkeleton] = []

    def flat_fun(*dynamic: Any) -> list[Any]:
        call_args, call_kwargs = rebuild(leaves, treedef, signature.positions, dynamic)
        out = fn(*call_args, **call_kwargs)
        out_leaves, out_treedef = jtu.tree_flatten(out)
        skeleton = OutputSkeleton(out_leaves, out_treedef)
        skeletons.append(skeleton)
        return [out_leaves[i] for i in skeleton.positions]

    closed_jaxpr, out_structs = jax.make_jaxpr(flat_fun, return_shape=True)(*signature.structs)
    return _ClosureConvert(
        closed_jaxpr.jaxpr,
        tuple(closed_jaxpr.consts),
        signature,
        skeletons[-1],
        tuple(out_structs),
    )
