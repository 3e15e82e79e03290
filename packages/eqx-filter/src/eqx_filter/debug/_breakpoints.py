"""`breakpoint_if`: open `jax.debug.breakpoint` when a predicate holds (inside JIT too)."""

from __future__ import annotations

from typing import Any

import jax

from .._unvmap import unvmap_any

__all__ = ["breakpoint_if"]


def breakpoint_if(pred: Any, **kwargs: Any) -> Any:
    """Call `jax.debug.breakpoint(**kwargs)` if any element of `pred` is true.

    Under `vmap`, one true element anywhere in the batch is enough: the breakpoint opens
    once, for the whole batch.

    **Arguments:**

    - `pred`: a bool or bool array.
    - `**kwargs`: passed to `jax.debug.breakpoint` (`token`, `num_frames`, ...).

    **Returns:** the `token` keyword argument (threaded through the breakpoint, for
    ordering), or `None` if none was given.

    ```python
    x = ...
    eqx.debug.breakpoint_if(jnp.isnan(x).any())
    ```
    """
    pred = unvmap_any(pred)
    token = kwargs.pop("token", None)

    def open_breakpoint(token: Any) -> Any:
        if token is None:
            jax.debug.breakpoint(**kwargs)
            return None
        return jax.debug.breakpoint(token=token, **kwargs)

    def skip(token: Any) -> Any:
        return token

    return jax.lax.cond(pred, open_breakpoint, skip, token)
