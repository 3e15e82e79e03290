"""`module_update_wrapper` and `StrictConfig`."""

from __future__ import annotations

from typing import Any, Literal, TypeVar

import jax.tree_util as jtu

from ._flatten import WRAPPER_ATTRIBUTES
from ._module import Module

__all__ = ["StrictConfig", "module_update_wrapper"]

_M = TypeVar("_M", bound=Module)


def module_update_wrapper(wrapper: _M, wrapped: Any = None) -> _M:
    """Like `functools.update_wrapper`, for a Module that wraps a callable.

    Arguments:
        wrapper: a Module whose class defines `__wrapped__` as a property.
        wrapped: the wrapped callable; defaults to `wrapper.__wrapped__`.

    Returns:
        A clone of `wrapper` (flatten, then unflatten) with `__module__`, `__name__`,
        `__qualname__`, `__doc__` and `__annotations__` copied from `wrapped` where
        present. They live in the aux data, so they survive flatten and unflatten.
        `__dict__` and `__wrapped__` are not copied.

    Raises:
        ValueError: `type(wrapper).__wrapped__` is not a property.

    Example:
        ```python
        class Wrapper(eqx_module.Module):
            fn: Callable

            @property
            def __wrapped__(self):
                return self.fn

        w = module_update_wrapper(Wrapper(f))
        assert w.__name__ == f.__name__
        ```
    """
    if not isinstance(getattr(type(wrapper), "__wrapped__", None), property):
        raise ValueError(
            "Wrapper module must supply `__wrapped__` as a property; "
            f"`{type(wrapper).__qualname__}.__wrapped__` is not one. Define "
            "`@property def __wrapped__(self): return self.<wrapped field>`."
        )
    if wrapped is None:
        wrapped = wrapper.__wrapped__  # type: ignore[attr-defined]
    children, treedef = jtu.tree_flatten(wrapper, is_leaf=lambda x: x is not wrapper)
    clone: _M = jtu.tree_unflatten(treedef, children)
    type(clone)._eqx_class_info.use_dict_mode()  # wrapper attributes are read from `__dict__`
    d: dict[str, Any] = vars(clone)
    for name in WRAPPER_ATTRIBUTES:
        try:
            value = getattr(wrapped, name)
        except AttributeError:
            continue
        d[name] = value
    return clone


def StrictConfig(force_abstact: bool = False, **kwargs: Any) -> Literal[False] | None:
    """Legacy class option: `class A(Module, strict=StrictConfig(...))`.

    Arguments:
        force_abstact: (sic) if true, the class is abstract.
        **kwargs: ignored (legacy options).

    Returns:
        `None` (meaning abstract) if `force_abstact` is true, else `False`.
    """
    del kwargs
    return None if force_abstact else False
