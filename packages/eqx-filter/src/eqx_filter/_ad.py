"""`filter_jvp`, `filter_vjp`, `filter_jacfwd`, `filter_jacrev` and `filter_hessian`.

Only inexact-array leaves are differentiated; everything else is closed over, so inputs
and outputs may hold any PyTree (functions, strings, ints, None).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import jax
import jax.numpy as jnp
import jax.tree_util as jtu

from eqx_module import field
from eqx_tree import is_array, is_inexact_array, is_inexact_array_like

from ._compat import flatten_up_to, same_structure
from ._custom_jvp import zero_tangent
from ._filters import combine, partition
from ._wrapper import TransformWrapper

_SymbolicZero = jax.custom_derivatives.SymbolicZero

__all__ = ["filter_hessian", "filter_jacfwd", "filter_jacrev", "filter_jvp", "filter_vjp"]


def _is_none(x: Any) -> bool:
    return x is None


def _check_tangent(primal: Any, tangent: Any, path: str) -> None:
    # Python floats (and complexes) count as floating-point arrays on both sides, as
    # `jax.jvp` accepts them; they are converted to (weakly typed) arrays.
    if not (is_array(tangent) or is_inexact_array_like(tangent)):
        raise TypeError(
            f"filter_jvp: the tangent at `{path}` must be a floating-point JAX or NumPy "
            f"array, a Python float, or None for a zero tangent; got "
            f"{type(tangent).__name__}."
        )
    if not is_inexact_array_like(primal):
        raise TypeError(
            f"filter_jvp: the primal at `{path}` is not a floating-point array or Python "
            f"float (it is {_describe(primal)}), so it cannot have a tangent. Pass None as "
            "its tangent."
        )
    if not jnp.issubdtype(jnp.result_type(tangent), jnp.inexact):
        raise TypeError(
            f"filter_jvp: the tangent at `{path}` has dtype {jnp.result_type(tangent)}, but "
            f"the primal has dtype {jnp.result_type(primal)}; tangents of floating-point "
            "primals must be floating-point too."
        )
    if jnp.shape(tangent) != jnp.shape(primal):
        raise ValueError(
            f"filter_jvp: the tangent at `{path}` has shape {jnp.shape(tangent)}, but the "
            f"primal has shape {jnp.shape(primal)}; a tangent must have its primal's shape."
        )


def _describe(x: Any) -> str:
    if is_array(x):
        return f"an array of dtype {x.dtype}"
    return f"a {type(x).__name__}"


def filter_jvp(
    fn: Callable[..., Any], primals: Sequence[Any], tangents: Sequence[Any], **kwargs: Any
) -> tuple[Any, Any]:
    """Jacobian-vector product of `fn` at `primals` along `tangents`, for any PyTrees.

    **Arguments:**

    - `fn`: called as `fn(*primals, **kwargs)`; it may return any PyTree.
    - `primals`: a sequence of positional arguments (any PyTrees).
    - `tangents`: the same structure as `primals`, with `None` as a symbolic zero.
      Each other leaf is a floating-point array or a Python float; `None` is required
      for leaves that are neither. A perturbed Python float primal is differentiated
      as a (weakly typed) array, as `jax.jvp` does.
    - `**kwargs`: passed to `fn`, not differentiated.

    **Returns:** `(out, t_out)`; `t_out` mirrors `out`, `None` where the output is not a
    floating-point array or its tangent is (symbolically) zero, as for an output that
    does not depend on any perturbed input.

    **Raises:** `ValueError` if `primals` and `tangents` differ in structure or a
    tangent's shape differs from its primal's; `TypeError` for a tangent that is neither
    a floating-point array nor a Python float, an integer tangent of a float primal, or a
    tangent on a primal that is not a floating-point array.

    ```python
    out, t_out = eqx_filter.filter_jvp(f, (x, "mode"), (dx, None))
    ```
    """
    primals_flat, _ = jtu.tree_flatten_with_path(tuple(primals), is_leaf=_is_none)
    tangents_treedef = jtu.tree_structure(tuple(tangents), is_leaf=_is_none)
    if not same_structure(jtu.tree_structure(tuple(primals), is_leaf=_is_none), tangents_treedef):
        raise ValueError(
            "primals and tangents must have the same pytree structure (with None as a "
            f"leaf); got {jtu.tree_structure(tuple(primals), is_leaf=_is_none)} and "
            f"{tangents_treedef}."
        )
    tangents_flat = jtu.tree_leaves(tuple(tangents), is_leaf=_is_none)
    primal_leaves = [leaf for _, leaf in primals_flat]
    positions = []
    for i, ((path, primal), tangent) in enumerate(zip(primals_flat, tangents_flat, strict=True)):
        if tangent is not None:
            _check_tangent(primal, tangent, "primals" + jtu.keystr(path))
            positions.append(i)
    full_treedef = jtu.tree_structure(tuple(primals), is_leaf=_is_none)
    if not positions:
        # Nothing is perturbed: every output tangent is a symbolic zero.
        out = fn(*primals, **kwargs)
        return out, jtu.tree_map(lambda _: None, out)
    static_out: list[Any] = []
    zero_record: list[list[bool]] = []

    def fn_of_perturbed(*perturbed: Any) -> Any:
        leaves = list(primal_leaves)
        for i, value in zip(positions, perturbed, strict=True):
            leaves[i] = value
        args = jtu.tree_unflatten(full_treedef, leaves)
        out = fn(*args, **kwargs)
        dynamic, static = partition(out, is_array)
        static_out.append(static)
        dynamic_leaves, dynamic_treedef = jtu.tree_flatten(dynamic)
        marked = _mark_symbolic_zeros(zero_record, dynamic_leaves, list(perturbed))
        return jtu.tree_unflatten(dynamic_treedef, marked)

    diff_primals = [jnp.asarray(primal_leaves[i]) for i in positions]
    diff_tangents = [
        jnp.asarray(tangents_flat[i], dtype=diff_primals[k].dtype) for k, i in enumerate(positions)
    ]
    out_dynamic, t_out_dynamic = jax.jvp(fn_of_perturbed, diff_primals, diff_tangents)
    out = combine(out_dynamic, static_out[-1])
    out_leaves, out_treedef = jtu.tree_flatten(out_dynamic)
    t_out_leaves = jtu.tree_leaves(t_out_dynamic)
    # The marker's rule runs whenever some input is perturbed; if it did not, no output
    # depends on a perturbed input.
    is_zero = zero_record[-1] if zero_record else [True] * len(out_leaves)
    t_out = jtu.tree_unflatten(
        out_treedef,
        [
            t if is_inexact_array(o) and not zero else None
            for o, t, zero in zip(out_leaves, t_out_leaves, is_zero, strict=True)
        ],
    )
    return out, t_out


def _mark_symbolic_zeros(
    record: list[list[bool]], outputs: list[Any], perturbed: list[Any]
) -> list[Any]:
    """The identity on `outputs`; records which of their tangents are symbolic zeros.

    `jax.custom_jvp` with `symbolic_zeros=True` shows the rule which tangents are zero.
    The perturbed inputs are passed along (and ignored) so that the innermost JVP trace,
    the one of this `filter_jvp`, always runs the rule. The rule adds no operations, so
    the jaxpr equals that of `jax.jvp`.
    """

    @jax.custom_jvp
    def mark(outs: list[Any], ins: list[Any]) -> list[Any]:
        del ins
        return outs

    def mark_jvp(primals: Any, tangents: Any) -> Any:
        outs, _ = primals
        t_outs, _ = tangents
        record.append([isinstance(t, _SymbolicZero) for t in t_outs])
        return outs, [
            zero_tangent(o) if isinstance(t, _SymbolicZero) else t
            for o, t in zip(outs, t_outs, strict=True)
        ]

    mark.defjvp(mark_jvp, symbolic_zeros=True)
    result: list[Any] = mark(outputs, perturbed)
    return result


def filter_vjp(fun: Callable[..., Any], *primals: Any, has_aux: bool = False) -> Any:
    """Vector-Jacobian product of `fun` at `primals`, differentiating inexact arrays only.

    **Arguments:**

    - `fun`: called as `fun(*primals)`; returns any PyTree (or `(out, aux)`).
    - `*primals`: any PyTrees.
    - `has_aux`: whether `fun` returns `(out, aux)`.

    **Returns:** `(out, vjp_fn)` or `(out, vjp_fn, aux)`. `vjp_fn(ct)` takes cotangents
    mirroring `out` (`None` where `out` is not a floating-point array) and returns a tuple
    with one cotangent PyTree per primal, `None` where not differentiable.

    ```python
    out, vjp_fn = eqx_filter.filter_vjp(f, x, "mode")
    (dx, _) = vjp_fn(jnp.ones_like(out))
    ```
    """
    diff, nondiff = partition(primals, is_inexact_array)
    static_out: list[Any] = []

    def fun_of_diff(diff_primals: Any) -> Any:
        result = fun(*combine(diff_primals, nondiff))
        if has_aux:
            out, aux = result
        else:
            out, aux = result, None
        out_diff, out_nondiff = partition(out, is_inexact_array)
        aux_dynamic, aux_static = partition(aux, is_array)
        static_out.append((out_nondiff, aux_static))
        return out_diff, aux_dynamic

    out_diff, vjp_diff, aux_dynamic = jax.vjp(fun_of_diff, diff, has_aux=True)
    out_nondiff, aux_static = static_out[-1]
    out = combine(out_diff, out_nondiff)
    out_leaves, out_treedef = jtu.tree_flatten(out_diff, is_leaf=_is_none)

    def vjp_fn(cotangents: Any) -> tuple[Any, ...]:
        try:
            ct_leaves = flatten_up_to(out_treedef, cotangents)
        except (ValueError, TypeError) as e:
            raise ValueError(
                "filter_vjp: the cotangents must have the structure of the output (with "
                f"None at leaves that are not floating-point arrays): {e}"
            ) from None
        ct = [
            None if o is None else (jnp.zeros_like(o) if c is None else c)
            for o, c in zip(out_leaves, ct_leaves, strict=True)
        ]
        (grads,) = vjp_diff(jtu.tree_unflatten(out_treedef, ct))
        return tuple(grads)

    if has_aux:
        return out, vjp_fn, combine(aux_dynamic, aux_static)
    return out, vjp_fn


class _JacobianWrapper(TransformWrapper):
    _fun: Callable[..., Any]
    _has_aux: bool = field(static=True)
    _forward: bool = field(static=True)

    @property
    def __wrapped__(self) -> Callable[..., Any]:
        return self._fun

    def __call__(self, x: Any, /, *args: Any, **kwargs: Any) -> Any:
        diff_x, nondiff_x = partition(x, is_inexact_array)
        fun = self._fun

        def fun_of_diff(diff: Any, *rest: Any, **rest_kwargs: Any) -> Any:
            return fun(combine(diff, nondiff_x), *rest, **rest_kwargs)

        jac = jax.jacfwd if self._forward else jax.jacrev
        return jac(fun_of_diff, has_aux=self._has_aux)(diff_x, *args, **kwargs)


def filter_jacfwd(fun: Callable[..., Any], has_aux: bool = False) -> Any:
    """Forward-mode Jacobian w.r.t. the inexact-array leaves of the first argument.

    **Arguments:** `fun(x, /, *args, **kwargs)` returning JAX types; `has_aux`.

    **Returns:** a Module `(x, /, *args, **kwargs) -> jac` (or `(jac, aux)`).

    ```python
    jac = eqx_filter.filter_jacfwd(f)(x)
    ```
    """
    return _JacobianWrapper(fun, bool(has_aux), True)


def filter_jacrev(fun: Callable[..., Any], has_aux: bool = False) -> Any:
    """Reverse-mode Jacobian w.r.t. the inexact-array leaves of the first argument.

    **Arguments:** `fun(x, /, *args, **kwargs)` returning JAX types; `has_aux`.

    **Returns:** a Module `(x, /, *args, **kwargs) -> jac` (or `(jac, aux)`).

    ```python
    jac = eqx_filter.filter_jacrev(f)(x)
    ```
    """
    return _JacobianWrapper(fun, bool(has_aux), False)


def filter_hessian(fun: Callable[..., Any], has_aux: bool = False) -> Any:
    """`filter_jacfwd(filter_jacrev(fun, has_aux), has_aux)`.

    ```python
    hess = eqx_filter.filter_hessian(f)(x)
    ```
    """
    return filter_jacfwd(filter_jacrev(fun, has_aux=has_aux), has_aux=has_aux)
