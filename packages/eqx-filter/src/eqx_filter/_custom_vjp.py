"""`filter_custom_vjp`: `jax.custom_vjp` for `fn(vjp_arg, /, *args, **kwargs)`.

Only the inexact-array leaves of `vjp_arg` are differentiable. The array leaves of
`args` and `kwargs` still pass through JAX (so they may be traced), but differentiating
them is an error. Non-array leaves, inputs or outputs, are closed over.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, Generic, ParamSpec, TypeVar

import jax
import jax.numpy as jnp
import jax.tree_util as jtu

from eqx_tree import EqxDeprecationWarning, is_array, is_inexact_array
from eqx_tree.internal import warn_at_user_code

from ._compat import flatten_up_to, same_structure, shape_dtype_struct
from ._custom_jvp import is_inexact_value, zero_tangent
from ._filters import combine, filter, partition

__all__ = ["filter_custom_vjp"]


def _is_none(x: Any) -> bool:
    return x is None


def _unwrap_cotangent(x: Any) -> Any:
    if isinstance(x, jax.custom_derivatives.SymbolicZero):
        return None
    return x


_P = ParamSpec("_P")
_T = TypeVar("_T")
_Rule = TypeVar("_Rule", bound=Callable[..., Any])


class filter_custom_vjp(Generic[_P, _T]):
    """Define a custom VJP for `fn(vjp_arg, /, *args, **kwargs)`.

    ```python
    @eqx_filter.filter_custom_vjp
    def f(x, y):
        return x * y

    @f.def_fwd
    def f_fwd(perturbed, x, y):
        return f(x, y), y  # (out, residuals)

    @f.def_bwd
    def f_bwd(residuals, grad_out, perturbed, x, y):
        return grad_out * residuals  # mirrors filter(x, is_inexact_array)
    ```

    **Methods:**

    - `def_fwd(fwd)`: `fwd(perturbed, vjp_arg, *args, **kwargs) -> (out, residuals)`,
      `perturbed` mirroring `vjp_arg` with one bool per leaf.
    - `def_bwd(bwd)`: `bwd(residuals, grad_out, perturbed, vjp_arg, *args, **kwargs)`
      returning the structure of `filter(vjp_arg, is_inexact_array)`, `None` for zero.
      `grad_out` is `None` for outputs that were not differentiated.
    - `defvjp(fwd, bwd)`: legacy (no `perturbed`, zeros materialised), deprecated.

    **Raises (at call):** `RuntimeError` if `fwd` or `bwd` is missing, if an array in
    `args`/`kwargs` is differentiated, or if `bwd` returns the wrong structure.
    """

    def __init__(self, fn: Callable[_P, _T]) -> None:
        self.fn = fn
        self.fwd: Callable[..., Any] | None = None
        self.bwd: Callable[..., Any] | None = None
        functools.update_wrapper(self, fn)

    def def_fwd(self, fwd: _Rule) -> _Rule:
        """Register the forward rule; returns it."""
        self.fwd = fwd
        return fwd

    def def_bwd(self, bwd: _Rule) -> _Rule:
        """Register the backward rule; returns it."""
        self.bwd = bwd
        return bwd

    def defvjp(self, fwd: Callable[..., Any], bwd: Callable[..., Any]) -> None:
        """Legacy: `fwd(vjp_arg, *a, **k)`, `bwd(res, grad_out, vjp_arg, *a, **k)`."""
        warn_at_user_code(
            "`filter_custom_vjp.defvjp` is deprecated: use `def_fwd` and `def_bwd`, whose "
            "rules also receive `perturbed` and `None` for symbolic-zero cotangents.",
            EqxDeprecationWarning,
        )

        def new_fwd(perturbed: Any, vjp_arg: Any, *args: Any, **kwargs: Any) -> Any:
            del perturbed
            return fwd(vjp_arg, *args, **kwargs)

        def new_bwd(
            residuals: Any, grad_out: Any, perturbed: Any, vjp_arg: Any, *args: Any, **kwargs: Any
        ) -> Any:
            del perturbed
            return bwd(residuals, grad_out, vjp_arg, *args, **kwargs)

        self.fwd = new_fwd
        self.bwd = new_bwd
        self._materialise = True

    _materialise: bool = False

    def __get__(self, instance: Any, owner: Any = None) -> Any:
        if instance is None:
            return self
        return functools.partial(self, instance)

    if TYPE_CHECKING:
        # Called as `fn` is: the same parameters and result type.
        def __call__(self, *args: _P.args, **kwargs: _P.kwargs) -> _T: ...

    else:

        def __call__(self, *args: Any, **kwargs: Any) -> Any:
            return self._call(*args, **kwargs)

    def _call(self, vjp_arg: Any, /, *args: Any, **kwargs: Any) -> Any:
        fwd, bwd = self.fwd, self.bwd
        if fwd is None or bwd is None:
            missing = " and ".join(
                f"`.{n}(...)`" for n, r in (("def_fwd", fwd), ("def_bwd", bwd)) if r is None
            )
            raise RuntimeError(
                f"filter_custom_vjp: `{_name(self.fn)}` was called before its rules were "
                f"defined; call {missing} first."
            )
        fn = self.fn
        materialise = self._materialise
        vjp_leaves, vjp_treedef = jtu.tree_flatten(vjp_arg)
        diff_positions = [i for i, x in enumerate(vjp_leaves) if is_inexact_array(x)]
        rest_leaves, rest_treedef = jtu.tree_flatten((args, kwargs))
        rest_positions = [i for i, x in enumerate(rest_leaves) if is_array(x)]
        vjp_array_positions = [
            i for i, x in enumerate(vjp_leaves) if is_array(x) and not is_inexact_array(x)
        ]
        static_out: list[Any] = []
        out_dynamic_shapes: list[Any] = []
        fwd_static: list[Any] = []

        def rebuild(diff: Any, vjp_other: Any, rest: Any) -> tuple[Any, Any, Any]:
            leaves = list(vjp_leaves)
            for i, v in zip(diff_positions, diff, strict=True):
                leaves[i] = v
            for i, v in zip(vjp_array_positions, vjp_other, strict=True):
                leaves[i] = v
            other = list(rest_leaves)
            for i, v in zip(rest_positions, rest, strict=True):
                other[i] = v
            call_args, call_kwargs = jtu.tree_unflatten(rest_treedef, other)
            return jtu.tree_unflatten(vjp_treedef, leaves), call_args, call_kwargs

        def split_out(out: Any) -> Any:
            dynamic, static = partition(out, is_array)
            static_out.append(static)
            out_dynamic_shapes.append(
                jtu.tree_map(lambda a: shape_dtype_struct(a.shape, a.dtype), dynamic)
            )
            return dynamic

        def primal_fn(diff: Any, vjp_other: Any, rest: Any) -> Any:
            x, call_args, call_kwargs = rebuild(diff, vjp_other, rest)
            return split_out(fn(x, *call_args, **call_kwargs))

        def fwd_rule(diff: Any, vjp_other: Any, rest: Any) -> Any:
            for primal in rest:
                if primal.perturbed and is_inexact_value(primal.value):
                    raise RuntimeError(
                        f"filter_custom_vjp: `{_name(fn)}` was differentiated with respect "
                        "to an array in `*args` and `**kwargs` to `filter_custom_vjp`; only "
                        "the first argument (`vjp_arg`) is differentiable. Move that "
                        "array into the first argument."
                    )
            perturbed_leaves = [False] * len(vjp_leaves)
            for i, primal in zip(diff_positions, diff, strict=True):
                perturbed_leaves[i] = bool(primal.perturbed)
            perturbed = jtu.tree_unflatten(vjp_treedef, perturbed_leaves)
            # JAX may hand over an array argument's value as a Python scalar (or a
            # literal subclassing one); the rules see arrays, as a call does.
            values = (
                [jnp.asarray(p.value) for p in diff],
                [jnp.asarray(p.value) for p in vjp_other],
                [jnp.asarray(p.value) for p in rest],
            )
            x, call_args, call_kwargs = rebuild(*values)
            out, residuals = fwd(perturbed, x, *call_args, **call_kwargs)
            res_dynamic, res_static = partition(residuals, is_array)
            fwd_static.append((res_static, perturbed))
            return split_out(out), (res_dynamic, values)

        def bwd_rule(saved: Any, grad_dynamic: Any) -> Any:
            res_dynamic, values = saved
            res_static, perturbed = fwd_static[-1]
            x, call_args, call_kwargs = rebuild(*values)
            grad_dynamic = jtu.tree_map(
                _unwrap_cotangent,
                grad_dynamic,
                is_leaf=lambda g: isinstance(g, jax.custom_derivatives.SymbolicZero),
            )
            if materialise:
                grad_dynamic = jtu.tree_map(
                    lambda o, g: jnp.zeros(o.shape, o.dtype) if g is None else g,
                    out_dynamic_shapes[-1],
                    grad_dynamic,
                    is_leaf=_is_none,
                )
            grad_out = grad_dynamic  # None at non-array and undifferentiated outputs
            residuals = combine(res_dynamic, res_static)
            grads = bwd(residuals, grad_out, perturbed, x, *call_args, **call_kwargs)
            expected = filter(x, is_inexact_array)
            expected_treedef = jtu.tree_structure(expected, is_leaf=_is_none)
            if not same_structure(jtu.tree_structure(grads, is_leaf=_is_none), expected_treedef):
                raise RuntimeError(
                    f"filter_custom_vjp: the output of the backward rule of `{_name(fn)}` "
                    "must have the same structure as `filter(vjp_arg, is_inexact_array)` "
                    f"(None for zero). Expected {expected_treedef}, got "
                    f"{jtu.tree_structure(grads, is_leaf=_is_none)}."
                )
            # `vjp_treedef` has no leaf for a `None` in `vjp_arg`, so this lines up with
            # `vjp_leaves` (a `None` gradient at a leaf position is a subtree there).
            grad_leaves = flatten_up_to(vjp_treedef, grads)
            diff_values, vjp_other_values, rest_values = values
            diff_ct = [
                jnp.zeros_like(v) if grad_leaves[i] is None else jnp.asarray(grad_leaves[i])
                for i, v in zip(diff_positions, diff_values, strict=True)
            ]
            vjp_other_ct = [zero_tangent(v) for v in vjp_other_values]
            rest_ct = [zero_tangent(v) for v in rest_values]
            return diff_ct, vjp_other_ct, rest_ct

        custom = jax.custom_vjp(primal_fn)
        custom.defvjp(fwd_rule, bwd_rule, symbolic_zeros=True)
        out_dynamic = custom(
            [vjp_leaves[i] for i in diff_positions],
            [vjp_leaves[i] for i in vjp_array_positions],
            [rest_leaves[i] for i in rest_positions],
        )
        return combine(out_dynamic, static_out[-1])


def _name(fn: Any) -> str:
    return getattr(fn, "__qualname__", None) or getattr(fn, "__name__", None) or repr(fn)
