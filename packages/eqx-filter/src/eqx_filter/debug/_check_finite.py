"""`check_finite`: stop at the first NaN or infinity, naming its leaf path and its pass.

How it is staged, for the inexact-array leaves of `x`:

- forward: one boolean per leaf ("holds a non-finite value") goes, with the leaves, into
  a report function that picks the first bad leaf and calls `branched_error_if` with
  one message per leaf path. The report is a `jax.custom_batching.custom_vmap`: under
  `vmap` its rule moves the batch axis of the booleans behind the leaf axis and calls
  the report again, so the messages enumerate (leaf, batch index) pairs, and nested
  `vmap`s add one index each. The messages are a `MessageTable`, built on demand, so a
  large batch costs no memory. Around it a `jax.custom_jvp` passes tangents through,
  as `error_if` does.
- backward (`backward=True`): a `filter_custom_vjp` identity whose backward rule runs
  the same report on the cotangents.

The index given to `branched_error_if` counts from the end, because under an enclosing
batch (or in its own batching) the largest index wins: reversed, that is the first bad
(leaf, batch index) in flatten order.

`EQX_CHECK_FINITE` (`1`, the default, or `0`) is read once, at import; with `0`, or
with `EQX_ON_ERROR=off`, `check_finite` returns `x` and stages nothing.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Callable
from typing import Any

import jax
import jax.numpy as jnp
import jax.tree_util as jtu
import numpy as np

from eqx_tree import is_inexact_array
from eqx_tree.internal import read_choice

from .. import _error_if
from .._compat import tracer_type
from .._custom_vjp import filter_custom_vjp
from .._jit import filter_jit
from .._runtime_error import EqxRuntimeError, MessageTable, runtime_error, user_stack

__all__ = ["EQX_CHECK_FINITE", "check_finite"]

EQX_CHECK_FINITE: bool = (
    read_choice(
        "EQX_CHECK_FINITE",
        ("0", "1"),
        "1",
        " (0 turns every `eqx.debug.check_finite` into the identity)",
    )
    == "1"
)


@dataclasses.dataclass(frozen=True)
class _FiniteMessages(MessageTable):
    """Message `i` names the `i`-th (leaf, batch index) pair counted from the end."""

    paths: tuple[str, ...]
    batch_shape: tuple[int, ...]
    which: str  # "forward pass" or "backward pass"

    def __len__(self) -> int:
        return len(self.paths) * math.prod(self.batch_shape)

    def message(self, index: int) -> str:
        position = len(self) - 1 - index
        per_leaf = math.prod(self.batch_shape)
        leaf, within = divmod(position, per_leaf)
        where = ""
        if self.batch_shape:
            batch_index = np.unravel_index(within, self.batch_shape)
            numbers = ", ".join(str(int(i)) for i in batch_index)
            where = f" at batch index {numbers if len(batch_index) == 1 else f'({numbers})'}"
        return f"non-finite value in `{self.paths[leaf]}`{where} ({self.which})"


def _badness(arrays: list[Any]) -> Any:
    """One bool per array: whether it holds a NaN or an infinity."""
    return jnp.stack([jnp.logical_not(jnp.all(jnp.isfinite(a))) for a in arrays])


def _make_report(paths: tuple[str, ...], which: str) -> Callable[[list[Any], Any], list[Any]]:
    """`report(arrays, bad) -> arrays`, failing on the first true entry of `bad`.

    `bad` has shape `(len(paths), *batch_shape)`: the batch axes are those of the
    enclosing `vmap`s, outermost first.
    """

    @jax.custom_batching.custom_vmap
    def report(arrays: list[Any], bad: Any) -> list[Any]:
        flat = jnp.ravel(bad)
        first = jnp.argmax(flat)  # the first true entry (0 if none: then pred is False)
        index = (flat.shape[0] - 1 - first).astype(jnp.int32)
        messages = _FiniteMessages(paths, tuple(bad.shape[1:]), which)
        out: list[Any] = _error_if.branched_error_if(arrays, jnp.any(flat), index, messages)
        return out

    @report.def_vmap
    def report_batched(
        axis_size: int, in_batched: list[Any], arrays: list[Any], bad: Any
    ) -> tuple[list[Any], list[Any]]:
        arrays_batched, bad_batched = in_batched
        if bad_batched:
            # This vmap is outside the ones already in `bad`: its axis comes first.
            bad = jnp.moveaxis(bad, 0, 1)
        return checked(arrays, bad), list(arrays_batched)

    @jax.custom_jvp
    def checked(arrays: list[Any], bad: Any) -> list[Any]:
        out: list[Any] = report(arrays, bad)
        return out

    @checked.defjvp
    def checked_jvp(primals: Any, tangents: Any) -> tuple[list[Any], list[Any]]:
        arrays, bad = primals
        return checked(arrays, bad), list(tangents[0])

    return checked


def _check(arrays: list[Any], paths: tuple[str, ...], which: str) -> list[Any]:
    return _make_report(paths, which)(arrays, _badness(arrays))


_jitted_check = filter_jit(_check)


def _check_now_or_staged(arrays: list[Any], paths: tuple[str, ...], which: str) -> list[Any]:
    """`_check`, staged into the enclosing `filter_jit` trace, or else run through one.

    Outside a `filter_jit` trace (an eager call, an eager `grad` or `vmap` and its
    backward pass) the check is compiled by `filter_jit` and runs now, so that a failure
    is raised right here as an `EqxRuntimeError` (as `branched_error_if` does).
    """
    if _error_if.in_filter_jit_trace():
        return _check([jnp.asarray(a) for a in arrays], paths, which)
    try:
        out: list[Any] = _jitted_check(arrays, paths, which)
    except EqxRuntimeError as error:
        # Show this call's stack, not that of the call which first traced the check.
        message = getattr(error, "_eqx_message", None)
        if message is None:  # pragma: no cover - every translated error has one
            raise
        raise runtime_error(message, user_stack(inside_jit=False)) from None
    return out


@filter_custom_vjp
def _watch_cotangents(arrays: list[Any], paths: tuple[str, ...]) -> list[Any]:
    return arrays


@_watch_cotangents.def_fwd
def _watch_fwd(perturbed: Any, arrays: list[Any], paths: tuple[str, ...]) -> tuple[Any, None]:
    return arrays, None


@_watch_cotangents.def_bwd
def _watch_bwd(
    residuals: None, grad_out: list[Any], perturbed: Any, arrays: list[Any], paths: tuple[str, ...]
) -> list[Any]:
    present = [i for i, g in enumerate(grad_out) if g is not None]
    if not present:
        return grad_out
    checked = _check_now_or_staged(
        [grad_out[i] for i in present], tuple(paths[i] for i in present), "backward pass"
    )
    out = list(grad_out)
    for i, value in zip(present, checked, strict=True):
        out[i] = value
    return out


def _label(name: str | None, path: tuple[Any, ...]) -> str:
    text = jtu.keystr(path)
    if name is not None:
        return f"{name}{text}"
    return text or "the checked value"


def check_finite(x: Any, name: str | None = None, *, backward: bool = True) -> Any:
    """The identity, which fails at run time on the first NaN or infinity in `x`.

    Works eagerly and under `jit`, `vmap`, `grad`, `lax.scan` and `filter_checkpoint`.
    A failure raises `EqxRuntimeError` (under `eqx.filter_jit`, or eagerly) naming the
    first bad leaf in flatten order, its pass, and under `vmap` the batch index, e.g.

        non-finite value in `grads.layers[1].weight` (backward pass)
        non-finite value in `x` at batch index 3 (forward pass)

    **Arguments:**

    - `x`: any PyTree. Only its floating and complex array leaves are checked: integer
      and boolean arrays cannot hold NaN, and non-array leaves (Python floats, strings,
      functions) are static under JAX's transforms, so both are passed through
      unchecked.
    - `name`: prefixed to the reported paths (`name="grads"` gives
      `` `grads.layers[1].weight` ``). Without it a path starts at `x` (`.weight`), and
      an array `x` itself is "the checked value".
    - `backward`: also check the cotangents flowing back through `x` under `grad`,
      reported as "(backward pass)". The forward check runs on the primal values only.

    **Returns:** `x`, through the check. As with `eqx.error_if`, use the returned value:
    a check whose output is unused may be removed by dead-code elimination.

    **Configuration:** `EQX_ON_ERROR` selects what a failure does (`raise`, `nan`,
    `breakpoint`; see `eqx.error_if`). With `EQX_ON_ERROR=off` or `EQX_CHECK_FINITE=0`
    (both read at import), `check_finite` returns `x` and stages nothing: the compiled
    program is the one without the call.

    ```python
    def loss_fn(model, x, y):
        model = eqx.debug.check_finite(model, "model")  # parameters, and their gradients
        pred = eqx.debug.check_finite(jax.vmap(model)(x), "pred")
        return jnp.mean((pred - y) ** 2)
    ```
    """
    if not EQX_CHECK_FINITE or _error_if.EQX_ON_ERROR == "off":
        return x
    leaves_with_paths, treedef = jtu.tree_flatten_with_path(x)
    leaves = [leaf for _, leaf in leaves_with_paths]
    positions = [i for i, leaf in enumerate(leaves) if is_inexact_array(leaf)]
    if not positions:
        return x
    paths = tuple(_label(name, leaves_with_paths[i][0]) for i in positions)
    arrays = [leaves[i] for i in positions]
    traced = any(isinstance(a, tracer_type) for a in arrays)
    arrays = _check_now_or_staged([jnp.asarray(a) for a in arrays], paths, "forward pass")
    if backward and traced:  # nothing traced: no `grad` is running, no backward pass
        arrays = _watch_cotangents(arrays, paths)
    for position, value in zip(positions, arrays, strict=True):
        leaves[position] = value
    return jtu.tree_unflatten(treedef, leaves)
