"""`Partial`: `functools.partial` as a Module, so its arguments are PyTree leaves."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, Generic, TypeVar

from ._module import Module

__all__ = ["Partial"]

_Return = TypeVar("_Return")


class Partial(Module, Generic[_Return]):
    """A partial application whose function and arguments are PyTree children.

    Arguments:
        func: any callable (a plain function is a leaf; a Module is a subtree).
        *args: positional arguments given first.
        **kwargs: keyword arguments given last (stored as the field `keywords`).

    Calling `Partial(func, *args, **kwargs)(*call_args, **call_kwargs)` runs
    `func(*args, *call_args, **call_kwargs, **kwargs)`.

    Example:
        ```python
        add = Partial(jnp.add, jnp.array(1.0))
        jax.jit(lambda f: f(2.0))(add)  # 3.0; the 1.0 is a traced leaf
        ```

    It is generic in what `func` returns, so `Partial[jax.Array]` may annotate a field
    or a parameter.
    """

    func: Callable[..., _Return]
    args: tuple[Any, ...]
    keywords: dict[str, Any]

    def __init__(self, func: Callable[..., _Return], /, *args: Any, **kwargs: Any) -> None:
        self.func = func
        self.args = args
        self.keywords = kwargs

    def __call__(self, *args: Any, **kwargs: Any) -> _Return:
        return self.func(*self.args, *args, **kwargs, **self.keywords)
