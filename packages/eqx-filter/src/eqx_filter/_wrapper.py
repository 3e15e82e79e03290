"""The base of the Modules returned by the decorator transforms (`filter_jit`, ...).

Each transform returns a Module made with `module_update_wrapper`, so the wrapper:

- is a PyTree (its wrapped function, which may itself be a Module, is a field);
- has a `__wrapped__` property and carries the wrapped function's `__name__`,
  `__doc__`, ...;
- binds like a method: in a class body, `method = filter_jit(method)` gives
  `Partial(wrapper, instance)` on instance access, so `self` is passed first.
"""

from __future__ import annotations

from typing import Any, ClassVar

from eqx_module import Module, Partial

__all__ = ["TransformWrapper"]


class TransformWrapper(Module):
    """Shared `__get__` for the transform wrappers (subclasses add the fields)."""

    # Holding the user's callable is this class's job: no "JAX-transformed callable"
    # warning when that callable is, say, `jax.vmap(model)` (see `eqx_module`).
    _eqx_wraps_callable: ClassVar[bool] = True

    def __get__(self, instance: Any, owner: Any = None) -> Any:
        if instance is None:
            return self
        wrapper: Any = self
        return Partial(wrapper, instance)
