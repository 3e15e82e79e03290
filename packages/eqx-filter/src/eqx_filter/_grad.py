"""`filter_value_and_grad` and `filter_grad`: gradients w.r.t. the first argument's floats.

Only the first positional argument is differentiated, and within it only the
`is_inexact_array` leaves; every other leaf gets `None` in the gradient. So the gradient
of a Module is a Module of the same structure with `None` at its non-float leaves.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Any, Literal, ParamSpec, TypeVar, overload

import jax

from eqx_module import field, module_update_wrapper
from eqx_tree import is_inexact_array
from eqx_tree.internal import sentinel

from ._filters import combine, partition
from ._wrapper import TransformWrapper

__all__ = ["filter_grad", "filter_value_and_grad"]

_P = ParamSpec("_P")
_T = TypeVar("_T")
_Aux = TypeVar("_Aux")


def check_gradkwargs(name: str, gradkwargs: dict[str, Any]) -> None:
    if "argnums" in gradkwargs:
        raise ValueError(
            f"`{name}` does not accept `argnums`: it always differentiates the first "
            "positional argument. To differentiate several arguments, pass them as one "
            "tuple in the first position: `f((x, y), z)`."
        )
    for legacy in ("arg", "filter_spec"):
        if legacy in gradkwargs:
            raise ValueError(
                f"`{name}` no longer accepts `{legacy}` (a pre-0.10 keyword): it "
                "differentiates the inexact-array leaves of the first positional argument. "
                "To choose other leaves, `partition` the argument yourself and pass the "
                "part to differentiate first."
            )


def _value_and_grad(
    name: str,
    fun: Callable[..., Any],
    has_aux: bool,
    gradkwargs: dict[str, Any],
    args: tuple[Any, ...],
    kwargs: dict[str, Any],
) -> Any:
    if not args:
        got = (
            f"got only keyword arguments ({', '.join(map(repr, kwargs))}), which are never "
            "differentiated"
            if kwargs
            else "got no arguments"
        )
        raise TypeError(
            f"Functions wrapped with `{name}` must have at least one positional argument, "
            f"which is the one differentiated; {got}. Pass the argument to differentiate "
            "positionally, first: `f(x, ...)`, not `f(x=x, ...)`."
        )
    x, *rest = args
    diff_x, nondiff_x = partition(x, is_inexact_array)

    def fun_of_diff(diff: Any, *rest_args: Any, **rest_kwargs: Any) -> Any:
        return fun(combine(diff, nondiff_x), *rest_args, **rest_kwargs)

    return jax.value_and_grad(fun_of_diff, has_aux=has_aux, **gradkwargs)(diff_x, *rest, **kwargs)


class _ValueAndGradWrapper(TransformWrapper):
    _fun: Callable[..., Any]
    _has_aux: bool = field(static=True)
    _gradkwargs: tuple[tuple[str, Any], ...] = field(static=True)

    @property
    def __wrapped__(self) -> Callable[..., Any]:
        return self._fun

    def __call__(self, /, *args: Any, **kwargs: Any) -> Any:
        return _value_and_grad(
            "filter_value_and_grad",
            self._fun,
            self._has_aux,
            dict(self._gradkwargs),
            args,
            kwargs,
        )


class _GradWrapper(TransformWrapper):
    _fun: Callable[..., Any]
    _has_aux: bool = field(static=True)
    _gradkwargs: tuple[tuple[str, Any], ...] = field(static=True)

    @property
    def __wrapped__(self) -> Callable[..., Any]:
        return self._fun

    def __call__(self, /, *args: Any, **kwargs: Any) -> Any:
        value, grad = _value_and_grad(
            "filter_grad", self._fun, self._has_aux, dict(self._gradkwargs), args, kwargs
        )
        if self._has_aux:
            _, aux = value
            return grad, aux
        return grad


# The overloads say what type checkers can know: the wrapper takes `fun`'s parameters,
# and returns `(value, grad)` with `value` typed as `fun` returns it; `grad` mirrors the
# first argument with `None` at its non-float leaves, which no static type expresses.
@overload
def filter_value_and_grad(
    fun: Callable[_P, _T], *, has_aux: Literal[False] = False, **gradkwargs: Any
) -> Callable[_P, tuple[_T, Any]]: ...
@overload
def filter_value_and_grad(
    fun: Callable[_P, tuple[_T, _Aux]], *, has_aux: Literal[True], **gradkwargs: Any
) -> Callable[_P, tuple[tuple[_T, _Aux], Any]]: ...
@overload
def filter_value_and_grad(
    *, has_aux: Literal[False] = False, **gradkwargs: Any
) -> Callable[[Callable[_P, _T]], Callable[_P, tuple[_T, Any]]]: ...
@overload
def filter_value_and_grad(
    *, has_aux: Literal[True], **gradkwargs: Any
) -> Callable[[Callable[_P, tuple[_T, _Aux]]], Callable[_P, tuple[tuple[_T, _Aux], Any]]]: ...
def filter_value_and_grad(fun: Any = sentinel, *, has_aux: bool = False, **gradkwargs: Any) -> Any:
    """`jax.value_and_grad` w.r.t. the inexact-array leaves of the first positional argument.

    **Arguments:**

    - `fun`: a function returning a scalar (or `(scalar, aux)` with `has_aux`). Omit it
      to use `filter_value_and_grad(has_aux=...)` as a decorator.
    - `has_aux`: whether `fun` returns `(value, aux)`.
    - `**gradkwargs`: passed to `jax.value_and_grad`.

    **Returns:** a Module wrapping `fun` that returns `(value, grad)` or
    `((value, aux), grad)`; `grad` mirrors the first argument, `None` at leaves that are
    not inexact arrays.

    **Raises:** `ValueError` for `argnums`, `arg` or `filter_spec`; when called,
    `TypeError` if there is no positional argument.

    ```python
    loss, grads = eqx_filter.filter_value_and_grad(loss_fn)(model, x, y)
    ```
    """
    if fun is sentinel:
        return functools.partial(filter_value_and_grad, has_aux=has_aux, **gradkwargs)
    check_gradkwargs("filter_value_and_grad", gradkwargs)
    return module_update_wrapper(
        _ValueAndGradWrapper(fun, bool(has_aux), tuple(sorted(gradkwargs.items())))
    )


# The gradient mirrors the first argument (`None` at its non-float leaves): `Any` to a
# type checker. The parameters are `fun`'s, and `aux` keeps its type.
@overload
def filter_grad(
    fun: Callable[_P, Any], *, has_aux: Literal[False] = False, **gradkwargs: Any
) -> Callable[_P, Any]: ...
@overload
def filter_grad(
    fun: Callable[_P, tuple[Any, _Aux]], *, has_aux: Literal[True], **gradkwargs: Any
) -> Callable[_P, tuple[Any, _Aux]]: ...
@overload
def filter_grad(
    *, has_aux: Literal[False] = False, **gradkwargs: Any
) -> Callable[[Callable[_P, Any]], Callable[_P, Any]]: ...
@overload
def filter_grad(
    *, has_aux: Literal[True], **gradkwargs: Any
) -> Callable[[Callable[_P, tuple[Any, _Aux]]], Callable[_P, tuple[Any, _Aux]]]: ...
def filter_grad(fun: Any = sentinel, *, has_aux: bool = False, **gradkwargs: Any) -> Any:
    """`jax.grad` w.r.t. the inexact-array leaves of the first positional argument.

    **Arguments:** as for `filter_value_and_grad`.

    **Returns:** a Module wrapping `fun` that returns `grad`, or `(grad, aux)` with
    `has_aux`. A Python float argument gets `None`: only arrays are differentiated.

    **Raises:** as for `filter_value_and_grad`.

    ```python
    grads = eqx_filter.filter_grad(loss_fn)(model, x, y)
    ```
    """
    if fun is sentinel:
        return functools.partial(filter_grad, has_aux=has_aux, **gradkwargs)
    check_gradkwargs("filter_grad", gradkwargs)
    return module_update_wrapper(
        _GradWrapper(fun, bool(has_aux), tuple(sorted(gradkwargs.items())))
    )
