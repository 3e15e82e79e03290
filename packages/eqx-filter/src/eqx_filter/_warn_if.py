"""`warn_if`: a warning that works inside JIT, the sibling of `error_if`.

A concrete predicate (a Python bool, or an array outside any trace) warns right away.
A traced one stages a `lax.cond` whose true branch is a `jax.debug.callback` that
issues the warning when the compiled program runs. The warning is attributed to the
user's line that called `warn_if` (found at trace time), so Python's warning filters
and its once-per-location default apply to it as to any warning.
"""

from __future__ import annotations

import warnings
from collections.abc import Callable
from typing import Any

import jax
import jax.numpy as jnp
import jax.tree_util as jtu
import numpy as np

from eqx_tree import is_array
from eqx_tree.internal import user_frame

from ._compat import tracer_type
from ._unvmap import unvmap_any

__all__ = ["warn_if"]


_Registry = dict[str | tuple[str, type[Warning], int], int]


def _user_location() -> tuple[str, int, str, _Registry]:
    """(filename, line, module, warning registry) of the first frame outside eqx/JAX."""
    frame = user_frame()
    registry: _Registry = frame.f_globals.setdefault("__warningregistry__", {})
    module = str(frame.f_globals.get("__name__", "<unknown>"))
    return frame.f_code.co_filename, frame.f_lineno, module, registry


def _render(msg: str | Callable[[Any], str], x: Any) -> str:
    return str(msg(x)) if callable(msg) else msg


def warn_if(
    x: Any,
    pred: Any,
    msg: str | Callable[[Any], str],
    *,
    category: type[Warning] = UserWarning,
) -> Any:
    """Warn with `msg` if `pred` holds; return `x` unchanged. Works inside `jit`.

    **Arguments:**

    - `x`: any PyTree; returned as it is.
    - `pred`: a bool, or a bool array (any true element warns). Under `vmap` it is
      reduced with *any* over the batch, so a string message is issued once per call
      (a callable one once per batch element, each with its own values).
    - `msg`: the message, or a function of `x` returning it (called only when warning,
      with NumPy arrays of the run-time values of `x`'s arrays when traced).
    - `category`: the warning class (a `Warning` subclass).

    **Returns:** `x`.

    **Raises:** `TypeError` if `category` is not a `Warning` subclass.

    Unlike `error_if`, the warning does not stop the computation, and nothing depends on
    it: inside `jit` it is emitted when the compiled program runs (through
    `jax.debug.callback`), each time `pred` holds.

    ```python
    @eqx.filter_jit
    def step(x):
        x = eqx.warn_if(x, jnp.any(x > 1e3), "x is getting large", category=RuntimeWarning)
        return x * 2
    ```
    """
    if not (isinstance(category, type) and issubclass(category, Warning)):
        raise TypeError(
            f"`category` must be a Warning subclass (such as UserWarning); got {category!r}."
        )
    filename, lineno, module, registry = _user_location()

    def warn(message: str) -> None:
        warnings.warn_explicit(message, category, filename, lineno, module, registry)

    if not isinstance(pred, tracer_type):
        if bool(np.any(np.asarray(pred))):
            warn(_render(msg, x))
        return x

    leaves, treedef = jtu.tree_flatten(x)
    positions = [i for i, leaf in enumerate(leaves) if is_array(leaf)]
    static_leaves = [None if is_array(leaf) else leaf for leaf in leaves]

    def warn_now(values: list[Any]) -> None:
        if not callable(msg):
            warn(msg)
            return
        full = list(static_leaves)
        for position, value in zip(positions, values, strict=True):
            full[position] = np.asarray(value)
        warn(_render(msg, jtu.tree_unflatten(treedef, full)))

    def warn_branch(values: list[Any]) -> None:
        jax.debug.callback(warn_now, values)

    def quiet_branch(values: list[Any]) -> None:
        return None

    # Only `x` itself is needed when the message is computed from it.
    values = [leaves[i] for i in positions] if callable(msg) else []
    pred = unvmap_any(jnp.any(jnp.asarray(pred)))
    jax.lax.cond(pred, warn_branch, quiet_branch, values)
    return x
