"""eqx-module hot paths against plain JAX / plain Python doing the same work.

- flatten+unflatten of a 4-array-field Module vs a frozen dataclass registered with
  `jax.tree_util.register_dataclass` (JAX's C++ path), and flatten alone vs a plain
  dict of the same arrays (the comparison the reference library loses 5-6x on);
- construction vs a plain frozen dataclass;
- a field read vs a plain object's attribute read;
- bound-method access vs a plain Python bound method (target: under 1 µs absolute), and
  the floor of any Python-level binding descriptor (a `__get__` that only builds a
  `types.MethodType`) against the same;
- `jax.jit(f)(module)` dispatch vs `jax.jit(f)` on a dict of the same arrays.

Run: `uv run python bench/bench_module.py`.
"""

from __future__ import annotations

import dataclasses
import sys
import types
from collections.abc import Callable
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).parent))

import jax
import jax.numpy as jnp
import jax.tree_util as jtu
from _harness import Comparison, report

import eqx_module


class Model(eqx_module.Module):
    a: jax.Array
    b: jax.Array
    c: jax.Array
    d: jax.Array

    def total(self) -> jax.Array:
        return self.a


@dataclasses.dataclass(frozen=True)
class FrozenModel:
    a: jax.Array
    b: jax.Array
    c: jax.Array
    d: jax.Array

    def total(self) -> jax.Array:
        return self.a


jtu.register_dataclass(FrozenModel, data_fields=["a", "b", "c", "d"], meta_fields=[])


class _FloorDescriptor:
    """The cheapest Python-level binding: a `__get__` frame building a `types.MethodType`."""

    def __init__(self, func: Callable[..., Any]) -> None:
        self.func = func

    def __get__(self, instance: object, owner: type | None = None) -> object:
        return types.MethodType(self.func, instance)


class Plain:
    def __init__(self, a: jax.Array, b: jax.Array, c: jax.Array, d: jax.Array) -> None:
        self.a, self.b, self.c, self.d = a, b, c, d

    def total(self) -> jax.Array:
        return self.a

    floor_total = _FloorDescriptor(total)


def main() -> str:
    arrays = [jnp.full((3,), float(i)) for i in range(4)]
    module = Model(*arrays)
    frozen = FrozenModel(*arrays)
    plain = Plain(*arrays)
    as_dict = dict(zip("abcd", arrays, strict=True))

    def roundtrip(tree):  # type: ignore[no-untyped-def]
        leaves, treedef = jtu.tree_flatten(tree)
        return jtu.tree_unflatten(treedef, leaves)

    def total(tree):  # type: ignore[no-untyped-def]
        return tree["a"] if isinstance(tree, dict) else tree.a

    jit_total = jax.jit(total)
    jit_total_dict = jax.jit(total)
    jit_call = jax.jit(lambda method: method())

    rows = [
        Comparison(
            "flatten+unflatten, 4 array fields (vs register_dataclass)",
            lambda: roundtrip(module),
            lambda: roundtrip(frozen),
        ).run(),
        Comparison(
            "flatten, 4 array fields (vs dict of the same arrays)",
            lambda: jtu.tree_flatten(module),
            lambda: jtu.tree_flatten(as_dict),
        ).run(),
        Comparison(
            "construction, 4 fields (vs frozen dataclass)",
            lambda: Model(*arrays),
            lambda: FrozenModel(*arrays),
        ).run(),
        Comparison(
            "4 field reads (vs plain object)",
            lambda: (module.a, module.b, module.c, module.d),
            lambda: (plain.a, plain.b, plain.c, plain.d),
        ).run(),
        Comparison(
            "bound-method access (vs plain bound method)",
            lambda: module.total,
            lambda: plain.total,
        ).run(),
        Comparison(
            "floor: Python __get__ building a types.MethodType (vs plain bound method)",
            lambda: plain.floor_total,
            lambda: plain.total,
        ).run(),
        Comparison(
            "jax.jit(f)(module) dispatch (vs dict of the same arrays)",
            lambda: jit_total(module),
            lambda: jit_total_dict(as_dict),
        ).run(),
        Comparison(
            "jax.jit(f)(module.method) dispatch (vs dict of the same arrays)",
            lambda: jit_call(module.total),
            lambda: jit_total_dict(as_dict),
        ).run(),
    ]
    return report("eqx-module", rows)


if __name__ == "__main__":
    main()
