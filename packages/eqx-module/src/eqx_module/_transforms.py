"""Detecting JAX-transformed callables assigned as Module attributes.

`self.fn = jax.vmap(some_module)` closes over `some_module`'s arrays: they stop being
leaves of `self`, so `grad` and friends silently ignore them. We warn when such a
wrapper (the types returned by the JAX transforms, detected once at import) wraps,
somewhere down its `__wrapped__` chain, something holding array-likes.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import jax
import jax.tree_util as jtu

from eqx_tree import EqxWarning, is_array_like
from eqx_tree.internal import warn_at_user_code

__all__ = ["TRANSFORM_TYPES", "warn_if_transformed_callable"]


def _detect_transform_types() -> frozenset[type]:
    def identity(x: Any) -> Any:
        return x

    makers: tuple[Callable[[Any], Any], ...] = (
        jax.jit,
        jax.grad,
        jax.vmap,
        jax.value_and_grad,
        jax.jacfwd,
        jax.jacrev,
        jax.hessian,
        jax.custom_jvp,
        jax.custom_vjp,
        jax.checkpoint,
        jax.pmap,
    )
    found: set[type] = set()
    for make in makers:
        try:
            found.add(type(make(identity)))
        except Exception:  # pragma: no cover - a transform changed its calling convention
            continue
    return frozenset(found)


TRANSFORM_TYPES = _detect_transform_types()


def warn_if_transformed_callable(owner: Any, name: str, value: Any) -> None:
    """Warns if `value` is a JAX transform wrapper whose `__wrapped__` chain holds arrays.

    Arguments:
        owner: the Module being initialised (for the message).
        name: the attribute being assigned.
        value: the value being assigned; its type is in `TRANSFORM_TYPES`.
    """
    wrapped = getattr(value, "__wrapped__", None)
    for _ in range(100):  # a chain this long is a cycle
        if wrapped is None:
            return
        if any(is_array_like(leaf) for leaf in jtu.tree_leaves(wrapped)):
            warn_at_user_code(
                f"Possibly assigning a JAX-transformed callable as an attribute on "
                f"`{type(owner).__qualname__}.{name}`. The arrays it wraps are then "
                "invisible to JAX transformations of this Module (for example `grad` "
                "will not see them). Use `eqx.filter_vmap` (and friends), which keep "
                "the wrapped Module as a PyTree, or apply the transform at call time "
                "inside a method instead.",
                EqxWarning,
            )
            return
        wrapped = getattr(wrapped, "__wrapped__", None)
