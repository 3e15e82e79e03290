"""`backward_nan`: print (and check) the cotangents flowing back through a value."""

from __future__ import annotations

from typing import Any

import jax
import jax.numpy as jnp
import jax.tree_util as jtu

from eqx_tree import is_array

from .._error_if import error_if

__all__ = ["backward_nan"]


def backward_nan(x: Any, name: str | None = None, terminate: bool = True) -> Any:
    """The identity, which on the backward pass prints the primals and cotangents of `x`.

    On the backward pass it calls `jax.debug.print(..., ordered=True)` to print
    `"{name}:"` (only if a name is given), then `"   primals={x!r}\\ncotangents={ct!r}"`.

    **Arguments:**

    - `x`: a PyTree; its array leaves are watched.
    - `name`: a label printed first.
    - `terminate`: if true, a NaN cotangent fails with `error_if(..., "Encountered NaN")`.

    **Returns:** `x`.

    ```python
    def loss(x):
        y = eqx.debug.backward_nan(jnp.sqrt(x), name="sqrt")
        return y.sum()
    ```
    """
    leaves, treedef = jtu.tree_flatten(x)
    positions = [i for i, leaf in enumerate(leaves) if is_array(leaf)]
    if not positions:
        return x

    def rebuild(arrays: list[Any]) -> Any:
        full = list(leaves)
        for position, value in zip(positions, arrays, strict=True):
            full[position] = value
        return jtu.tree_unflatten(treedef, full)

    @jax.custom_vjp
    def identity(arrays: list[Any]) -> list[Any]:
        return arrays

    def forward(arrays: list[Any]) -> tuple[list[Any], list[Any]]:
        return arrays, arrays

    def backward(arrays: list[Any], cotangents: list[Any]) -> tuple[list[Any]]:
        if name is not None:
            jax.debug.print(name.replace("{", "{{").replace("}", "}}") + ":", ordered=True)
        jax.debug.print(
            "   primals={x!r}\ncotangents={ct!r}",
            x=rebuild(arrays),
            ct=rebuild(cotangents),
            ordered=True,
        )
        if terminate:
            inexact = [c for c in cotangents if jnp.issubdtype(c.dtype, jnp.inexact)]
            if inexact:
                has_nan = jnp.stack([jnp.isnan(c).any() for c in inexact]).any()
                cotangents = error_if(cotangents, has_nan, "Encountered NaN")
        return (cotangents,)

    identity.defvjp(forward, backward)
    return rebuild(identity([leaves[i] for i in positions]))
