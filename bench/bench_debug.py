"""What the debugging tools cost: nothing when off, something when on.

- Module construction of a default class (no `check_aliasing`) against a plain frozen
  dataclass, and of a class with `check_aliasing=True` against the same dataclass:
  the first row is the one that must not move (compare it with the same row run on
  the sources before the aliasing hook, see below); the second is the opt-in cost.
- A `filter_jit` call with 4 array arguments against `jax.jit` on the same arrays,
  without and with `check_aliasing=True`.
- A compiled MLP gradient step with `eqx.debug.check_finite` on the parameters (values
  and gradients) and on the loss, against the same step without the checks (its
  run-time cost when on; when off the compiled program is the unchecked one).

To compare against an older checkout, put its sources first on the path, e.g.
`PYTHONPATH=/tmp/old/packages/eqx-tree/src:/tmp/old/packages/eqx-module/src:...
uv run python bench/bench_debug.py`: rows whose feature the old code lacks are skipped.

Run: `uv run python bench/bench_debug.py`.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).parent))

import jax
import jax.numpy as jnp
from _harness import Comparison, Result, report
from bench_module import FrozenModel, Model

import eqx_filter
import eqx_module


def _checked_model_class() -> Any:
    try:

        class Checked(eqx_module.Module, check_aliasing=True):  # type: ignore[call-arg]
            a: jax.Array
            b: jax.Array
            c: jax.Array
            d: jax.Array

    except TypeError:  # sources from before the aliasing check
        return None
    return Checked


def _total(a: jax.Array, b: jax.Array, c: jax.Array, d: jax.Array) -> jax.Array:
    return a + b + c + d


def _mlp_params(key: jax.Array) -> list[dict[str, jax.Array]]:
    keys = jax.random.split(key, 3)
    sizes = [(32, 64), (64, 64), (64, 1)]
    return [
        {"w": jax.random.normal(k, (n_in, n_out)) / n_in**0.5, "b": jnp.zeros(n_out)}
        for k, (n_in, n_out) in zip(keys, sizes, strict=True)
    ]


def _loss(params: list[dict[str, jax.Array]], x: jax.Array, y: jax.Array) -> jax.Array:
    for layer in params[:-1]:
        x = jnp.tanh(x @ layer["w"] + layer["b"])
    pred = x @ params[-1]["w"] + params[-1]["b"]
    return jnp.mean((pred - y) ** 2)


def main() -> str:
    arrays = [jnp.full((3,), float(i)) for i in range(4)]
    rows: list[Result] = [
        Comparison(
            "construction, default class (vs frozen dataclass)",
            lambda: Model(*arrays),
            lambda: FrozenModel(*arrays),
        ).run()
    ]
    checked = _checked_model_class()
    if checked is not None:
        rows.append(
            Comparison(
                "construction, check_aliasing=True (vs frozen dataclass)",
                lambda: checked(*arrays),
                lambda: FrozenModel(*arrays),
            ).run()
        )

    plain_jit = jax.jit(_total)
    default_jit = eqx_filter.filter_jit(_total)
    rows.append(
        Comparison(
            "filter_jit call, 4 arrays, default (vs jax.jit)",
            lambda: default_jit(*arrays),
            lambda: plain_jit(*arrays),
        ).run()
    )
    try:
        aliasing_jit = eqx_filter.filter_jit(_total, check_aliasing=True)
    except TypeError:  # sources from before the option
        aliasing_jit = None
    if aliasing_jit is not None:
        rows.append(
            Comparison(
                "filter_jit call, 4 arrays, check_aliasing=True (vs jax.jit)",
                lambda: aliasing_jit(*arrays),
                lambda: plain_jit(*arrays),
            ).run()
        )

    debug = getattr(eqx_filter, "debug", None)
    check_finite = getattr(debug, "check_finite", None)
    if check_finite is not None:

        def checked_loss(params: Any, x: jax.Array, y: jax.Array) -> jax.Array:
            params = check_finite(params, "params")
            return check_finite(_loss(params, x, y), "loss", backward=False)

        params = _mlp_params(jax.random.key(0))
        x = jax.random.normal(jax.random.key(1), (256, 32))
        y = jnp.zeros((256, 1))
        checked_step = eqx_filter.filter_jit(jax.grad(checked_loss))
        plain_step = eqx_filter.filter_jit(jax.grad(_loss))
        rows.append(
            Comparison(
                "MLP grad step, check_finite on params+loss (vs no checks)",
                lambda: checked_step(params, x, y),
                lambda: plain_step(params, x, y),
            ).run()
        )
    return report("debugging tools: cost when off and when on", rows)


if __name__ == "__main__":
    main()
