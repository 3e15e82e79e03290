"""`explain_retraces`: why did a `filter_jit` function trace more than once?"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from .._jit import trace_signatures
from .._retrace import explain_signature_change, parameter_names

__all__ = ["explain_retraces"]


def _unwrap(fn: Any) -> Any:
    wrapped = getattr(type(fn), "__wrapped__", None)
    if isinstance(wrapped, property):
        return _unwrap(fn.__wrapped__)
    return fn


def explain_retraces(fn: Any, *, announce: Callable[[str], Any] | None = print) -> list[str]:
    """Explain each retrace of the `filter_jit` function `fn`: what changed, by leaf path.

    `filter_jit` records the signature of each of the last traces (arrays as shape,
    dtype and weak type; every other leaf as it is). For each pair of consecutive
    traces this says what differed, for example
    `x: shape changed (3, 4) -> (5, 4) (f32[3,4] -> f32[5,4])`,
    `model.layers[2].activation: static value changed (<function relu> -> <function gelu>)`,
    `kwargs['n']: Python int 3 -> 4 (Python numbers are static; ...)` or
    `opts: treedef changed: ...`.

    **Arguments:**

    - `fn`: a `filter_jit` wrapper (or the function it wraps).
    - `announce`: called with each explanation (default `print`); `None` to stay quiet.

    **Returns:** one string per retrace (empty if `fn` traced at most once).

    ```python
    f = eqx.filter_jit(lambda x, n: x * n)
    f(jnp.ones(3), 2); f(jnp.ones(3), 3)
    eqx_filter.debug.explain_retraces(f)
    # Trace 2 of `<lambda>` (retrace 1):
    #   n: Python int 2 -> 3 (Python numbers are static; pass a jnp array ...)
    ```
    """
    signatures = trace_signatures(fn)
    target = _unwrap(fn)
    names = parameter_names(target)
    label = getattr(target, "__qualname__", None) or type(target).__name__
    explanations = []
    for number in range(1, len(signatures)):
        changes = explain_signature_change(signatures[number - 1], signatures[number], names)
        if not changes:
            changes = [
                "no difference in structure, static values, shapes, dtypes or weak types (the "
                "cache may have been cleared, or an array's sharding changed)"
            ]
        body = "\n".join(f"  {change}" for change in changes)
        explanations.append(f"Trace {number + 1} of `{label}` (retrace {number}):\n{body}")
    if announce is not None:
        for explanation in explanations:
            announce(explanation)
    return explanations
