"""`filter_custom_jvp`: `jax.custom_jvp` for functions of arbitrary PyTrees.

A call splits `(args, kwargs)` into array leaves (passed through `jax.custom_jvp`) and
everything else (closed over): Python scalars are static, as in every filtered
transform, and so are the non-array leaves of the output. Tangents reach the rule as
`None` for symbolic zeros: non-arrays, non-inexact arrays and unperturbed arrays.
Keyword arguments are never differentiated.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, Generic, ParamSpec, TypeVar

import jax
import jax.numpy as jnp
import jax.tree_util as jtu
import numpy as np

from eqx_tree import EqxDeprecationWarning, is_array
from eqx_tree.internal import warn_at_user_code

from ._filters import combine, partition

__all__ = ["filter_custom_jvp"]

_SymbolicZero = jax.custom_derivatives.SymbolicZero


def _is_symbolic_zero(x: Any) -> bool:
    return isinstance(x, _SymbolicZero)


_P = ParamSpec("_P")
_T = TypeVar("_T")
_Rule = TypeVar("_Rule", bound=Callable[..., Any])


class filter_custom_jvp(Generic[_P, _T]):
    """Define a custom JVP rule for a function of arbitrary PyTrees.

    ```python
    @eqx_filter.filter_custom_jvp
    def f(x, y, *, mode="a"):
        return x * y

    @f.def_jvp
    def f_jvp(primals, tangents, *, mode="a"):
        x, y = primals
        tx, ty = tangents  # None for symbolic zeros
        out = f(x, y, mode=mode)
        t_out = (0 if tx is None else tx * y) + (0 if ty is None else x * ty)
        return out, t_out
    ```

    **Arguments:** `fn`, called as `fn(*args, **kwargs)`. Array leaves of the arguments
    are traced; everything else, Python scalars included, is static and reaches `fn`
    as it is. Likewise, array leaves of the output go through JAX, and the rest is
    returned as `fn` returned it: `f(1.0, 2.0)` gives what `fn(1.0, 2.0)` gives (a
    Python float), `f(jnp.array(1.0), 2)` an array.

    **Methods:** `def_jvp(rule)` with `rule(primals: tuple, tangents: tuple, **kwargs) ->
    (out, t_out)`, a `None` output tangent meaning zero; `defjvp(rule)` (legacy,
    materialised zeros, deprecated); `defjvps` raises `NotImplementedError`.

    **Raises (at call):** `RuntimeError` if no rule was defined; `ValueError`
    «Received keyword tangent» if a keyword argument is perturbed.
    """

    def __init__(self, fn: Callable[_P, _T]) -> None:
        self.fn = fn
        self.jvp: Callable[..., Any] | None = None
        functools.update_wrapper(self, fn)

    def def_jvp(self, jvp: _Rule) -> _Rule:
        """Register `jvp(primals, tangents, **kwargs) -> (out, t_out)`; returns `jvp`."""
        self.jvp = jvp
        return jvp

    def defjvp(self, jvp: _Rule) -> _Rule:
        """Legacy: like `def_jvp`, but zero tangents of inexact arrays are materialised."""
        warn_at_user_code(
            "`filter_custom_jvp.defjvp` is deprecated: use `def_jvp`, whose rule receives "
            "`None` for symbolic-zero tangents instead of materialised zeros.",
            EqxDeprecationWarning,
        )

        def materialising_rule(primals: Any, tangents: Any, **kwargs: Any) -> Any:
            tangents = jtu.tree_map(
                lambda p, t: jnp.zeros_like(p) if t is None and is_inexact_value(p) else t,
                primals,
                tangents,
                is_leaf=lambda x: x is None,
            )
            return jvp(primals, tangents, **kwargs)

        self.jvp = materialising_rule
        return jvp

    def defjvps(self, *tangent_rules: Any) -> None:
        """Not supported: use `def_jvp`."""
        raise NotImplementedError("filter_custom_jvp().defjvps is not supported; use def_jvp.")

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

    def _call(self, *args: Any, **kwargs: Any) -> Any:
        rule = self.jvp
        if rule is None:
            raise RuntimeError(
                f"filter_custom_jvp: no JVP rule defined for `{_name(self.fn)}`; call "
                "`.def_jvp(rule)` before calling it."
            )
        fn = self.fn
        leaves, treedef = jtu.tree_flatten((args, kwargs))
        dynamic_positions = [i for i, x in enumerate(leaves) if is_array(x)]
        n_args_leaves = len(jtu.tree_leaves(args))

        def rebuild(dynamic: Any) -> tuple[tuple[Any, ...], dict[str, Any]]:
            full = list(leaves)
            for i, value in zip(dynamic_positions, dynamic, strict=True):
                full[i] = value
            rebuilt: tuple[tuple[Any, ...], dict[str, Any]] = jtu.tree_unflatten(treedef, full)
            return rebuilt

        # Non-array outputs (a Python float computed from static Python floats, say)
        # are returned as they are, not converted by JAX: they go round it.
        static_out: list[Any] = []

        def primal_fn(*dynamic: Any) -> Any:
            # As in the rule: arrays, never the Python-scalar literals JAX may pass.
            call_args, call_kwargs = rebuild([jnp.asarray(d) for d in dynamic])
            out_dynamic, out_static = partition(fn(*call_args, **call_kwargs), is_array)
            static_out.append(out_static)
            return out_dynamic

        def jvp_rule(primals: Any, tangents: Any) -> Any:
            # JAX may hand over an array argument's value as a Python scalar (or a
            # literal subclassing one); the rule sees arrays, as a call does.
            primals = [jnp.asarray(p) for p in primals]
            call_args, call_kwargs = rebuild(primals)
            tangent_leaves: list[Any] = [None] * len(leaves)
            for i, primal, tangent in zip(dynamic_positions, primals, tangents, strict=True):
                if _is_symbolic_zero(tangent) or not is_inexact_value(primal):
                    continue
                if i >= n_args_leaves:
                    raise ValueError(
                        "Received keyword tangent: keyword arguments to a "
                        "`filter_custom_jvp` function are never differentiated, but one of "
                        "them was perturbed. Pass it positionally instead."
                    )
                tangent_leaves[i] = tangent
            tangent_args, _ = jtu.tree_unflatten(treedef, tangent_leaves)
            out, t_out = rule(call_args, tangent_args, **call_kwargs)
            if t_out is None:
                t_out = jtu.tree_map(lambda _: None, out)
            t_out = jtu.tree_map(
                lambda o, t: (zero_tangent(o) if t is None else t) if is_array(o) else None,
                out,
                t_out,
                is_leaf=lambda x: x is None,
            )
            out_dynamic, out_static = partition(out, is_array)
            static_out.append(out_static)
            return out_dynamic, t_out

        custom = jax.custom_jvp(primal_fn)
        custom.defjvp(jvp_rule, symbolic_zeros=True)
        out_dynamic = custom(*[leaves[i] for i in dynamic_positions])
        return combine(out_dynamic, static_out[-1])


def is_inexact_value(x: Any) -> bool:
    """Whether a primal that JAX handed to a rule has a floating or complex dtype.

    Not `is_inexact_array`: depending on the JAX version, a rule receives an array
    argument's value as an array, as a literal array subclassing `float` (0.10), or as a
    plain Python `float` (0.4.38, for a Python scalar given to `jax.grad`).
    """
    try:
        return bool(jnp.issubdtype(jnp.result_type(x), jnp.inexact))
    except TypeError:  # not a JAX type at all
        return False


def zero_tangent(primal: Any) -> Any:
    """A zero tangent for `primal` (`float0` for integer and boolean arrays).

    `primal` may also be a Python scalar: on newer JAX, arithmetic on the literal
    arrays a rule receives (subclasses of `float`) gives plain Python floats.
    """
    if is_inexact_value(primal):
        return jnp.zeros_like(primal)
    return np.zeros(np.shape(primal), dtype=jax.dtypes.float0)


def _name(fn: Any) -> str:
    return getattr(fn, "__qualname__", None) or getattr(fn, "__name__", None) or repr(fn)
