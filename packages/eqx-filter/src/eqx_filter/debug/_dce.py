"""`store_dce` and `inspect_dce`: which values survived dead-code elimination?"""

from __future__ import annotations

import functools
from collections.abc import Hashable
from typing import Any

import jax
import jax.tree_util as jtu
import numpy as np

from eqx_tree import is_array, tree_pformat

from .._compat import pure_callback, shape_dtype_struct, tracer_type
from .._retrace import short_aval

__all__ = ["inspect_dce", "store_dce"]


class _Stored:
    """One `store_dce` call as traced: its tree, and which array leaves ran."""

    __slots__ = ("alive", "leaves", "treedef")

    def __init__(self, leaves: list[Any], treedef: Any) -> None:
        self.leaves = leaves
        self.treedef = treedef
        self.alive: dict[int, bool] = {}


class _Shown:
    """A leaf as `inspect_dce` prints it: its repr is the given text."""

    def __init__(self, text: str) -> None:
        self.text = text

    def __repr__(self) -> str:
        return self.text


_stores: dict[Hashable, list[_Stored]] = {}


def _under_jit() -> bool:
    # Inside a `jit` trace even an operation on constants is staged out, giving a tracer.
    return isinstance(jax.lax.add(np.int32(0), np.int32(0)), tracer_type)


def _mark_alive(stored: _Stored, position: int, value: Any) -> Any:
    stored.alive[position] = True
    return value


def store_dce(x: Any, name: Hashable = None) -> Any:
    """The identity inside JIT, recording at run time which array leaves of `x` survived.

    A leaf whose result is never used is removed by dead-code elimination, and so is
    its record: `inspect_dce` then shows it as `<DCE'd>`.

    **Arguments:** `x`, any PyTree; `name`, a key to group the records under.

    **Returns:** `x`.

    **Raises:** `RuntimeError` outside of JIT.

    ```python
    @jax.jit
    def f(x, y):
        x, y = eqx.debug.store_dce((x, y))
        return x
    f(1, 2); eqx.debug.inspect_dce()  # (i32[], <DCE'd>)
    ```
    """
    leaves, treedef = jtu.tree_flatten(x)
    if not any(isinstance(leaf, tracer_type) for leaf in leaves) or not _under_jit():
        raise RuntimeError(
            "`eqx.debug.store_dce` should be used inside of JIT: it records which traced "
            "values survive the compiler's dead-code elimination. Call it inside a "
            "`jax.jit`/`eqx.filter_jit` function."
        )
    stored = _Stored(list(leaves), treedef)
    _stores.setdefault(name, []).append(stored)
    out = list(leaves)
    for position, leaf in enumerate(leaves):
        if is_array(leaf):
            stored.leaves[position] = shape_dtype_struct(leaf.shape, leaf.dtype)
            stored.alive[position] = False
            out[position] = pure_callback(
                functools.partial(_mark_alive, stored, position),
                shape_dtype_struct(leaf.shape, leaf.dtype),
                leaf,
                vectorized=None,
                vmap_method="expand_dims",  # the identity: any batching serves
            )
    return jtu.tree_unflatten(treedef, out)


def inspect_dce(name: Hashable = None) -> None:
    """Print what `store_dce(..., name=name)` recorded: live arrays, `<DCE'd>` ones.

    Prints ``Found N call(s) to `eqx.debug.store_dce`.``, then `Entry i:` and the tree
    of each call: a live array as a summary such as `f32[3]`, an eliminated one as
    `<DCE'd>`, anything else as it is.

    **Raises:** `RuntimeError` inside of JIT (the records only exist after running).
    """
    if _under_jit():
        raise RuntimeError(
            "`eqx.debug.inspect_dce` cannot be called inside of JIT: call it after running "
            "the compiled function, outside of any `jit`."
        )
    entries = _stores.get(name, [])
    print(f"Found {len(entries)} call(s) to `eqx.debug.store_dce`.")
    for i, stored in enumerate(entries):
        shown = list(stored.leaves)
        for position, alive in stored.alive.items():
            text = short_aval(stored.leaves[position]) if alive else "<DCE'd>"
            shown[position] = _Shown(text)
        print(f"Entry {i}:")
        print(tree_pformat(jtu.tree_unflatten(stored.treedef, shown)))
