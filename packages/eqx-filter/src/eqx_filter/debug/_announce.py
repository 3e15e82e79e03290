"""`announce_transform`: report each JAX rule that processes some arrays (unstable API).

This defines a JAX primitive, the identity on its operands, whose rules announce
themselves. Primitive rules have no API outside `jax.extend` and `jax.interpreters`
(public modules; nothing from `jax._src`). Checked on JAX 0.4.38 and 0.10.2.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Sequence
from typing import Any

import jax
import jax.tree_util as jtu
from jax.interpreters import ad, batching, mlir

from eqx_tree import is_array

_instantiate_zeros: Any = ad.instantiate_zeros

__all__ = ["announce_transform"]


def _primitive_class() -> Any:
    # Imported on first use: `jax.extend` pulls in all of its submodules (Pallas among
    # them), ~100 ms that `import eqx` should not pay for a debugging tool.
    try:  # `jax.extend.core.Primitive` is the public home; older JAX had `jax.core.Primitive`
        from jax.extend.core import Primitive
    except ImportError:  # pragma: no cover
        Primitive = jax.core.Primitive  # type: ignore[attr-defined,misc]
    return Primitive


def _say(params: dict[str, Any], rule: str) -> None:
    stack = (*params["stack"], rule)
    params["announce"](f"({params['name']}) " + ":".join(stack))


def _rebind(params: dict[str, Any], rule: str, *args: Any) -> list[Any]:
    new_params = dict(params, stack=(*params["stack"], rule))
    out: list[Any] = _announce_p().bind(*args, **new_params)
    return out


def _impl(*args: Any, **params: Any) -> list[Any]:
    _say(params, "impl")
    return list(args)


def _abstract_eval(*avals: Any, **params: Any) -> list[Any]:
    _say(params, "abstract")
    return list(avals)


def _jvp(
    primals: Sequence[Any], tangents: Sequence[Any], **params: Any
) -> tuple[list[Any], list[Any]]:
    if params["intermediates"]:
        _say(params, "jvp")
    tangents = [_instantiate_zeros(t) for t in tangents]
    return _rebind(params, "jvp_p", *primals), _rebind(params, "jvp_t", *tangents)


def _transpose(cotangents: Sequence[Any], *args: Any, **params: Any) -> list[Any]:
    if params["intermediates"]:
        _say(params, "transpose")
    cotangents = [_instantiate_zeros(c) for c in cotangents]
    return _rebind(params, "transpose", *cotangents)


def _batch(args: Sequence[Any], dims: Sequence[Any], **params: Any) -> tuple[list[Any], list[Any]]:
    if params["intermediates"]:
        _say(params, "vmap")
    return _rebind(params, "vmap", *args), list(dims)


def _lowering(ctx: Any, *args: Any, **params: Any) -> list[Any]:
    _say(params, "mlir")
    return list(args)


@functools.cache
def _announce_p() -> Any:
    """The identity primitive with announcing rules, defined on first use."""
    primitive = _primitive_class()("eqx_announce_transform")
    primitive.multiple_results = True
    primitive.def_impl(_impl)
    primitive.def_abstract_eval(_abstract_eval)
    ad.primitive_jvps[primitive] = _jvp
    ad.primitive_transposes[primitive] = _transpose
    batching.primitive_batchers[primitive] = _batch
    mlir.register_lowering(primitive, _lowering)
    return primitive


def announce_transform(
    x: Any,
    name: str | None = None,
    intermediates: bool = False,
    announce: Callable[[str], Any] = print,
) -> Any:
    """The identity on the arrays of `x`, announcing every JAX rule that processes them.

    It calls `announce("(name) " + ":".join(stack))`, where `stack` lists the
    transformations applied so far and the rule now running: for example `impl` (eager
    evaluation), `abstract` (tracing), `mlir` (lowering under `jit`), `vmap:abstract`,
    `jvp_p` / `jvp_t` (the primal and tangent parts of a JVP) or `jvp_t:transpose`.
    This API is unstable: it exists to see how JAX transforms a program.

    **Arguments:**

    - `x`: any PyTree; its array leaves are announced.
    - `name`: shown in parentheses first.
    - `intermediates`: also announce the rules that re-dispatch (`vmap`, `jvp`,
      `transpose`) as they start.
    - `announce`: called with each line (default `print`).

    **Returns:** `x`.
    """
    leaves, treedef = jtu.tree_flatten(x)
    positions = [i for i, leaf in enumerate(leaves) if is_array(leaf)]
    if not positions:
        return x
    out = _announce_p().bind(
        *[leaves[i] for i in positions],
        stack=(),
        name=name,
        intermediates=intermediates,
        announce=announce,
    )
    for position, value in zip(positions, out, strict=True):
        leaves[position] = value
    return jtu.tree_unflatten(treedef, leaves)
