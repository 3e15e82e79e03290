"""eqx-nn layers against the same computation in plain JAX on a dict of arrays.

Three models, each compiled:
- an MLP forward (64 → 3×128 → 10, batch 32 via vmap);
- a small CNN forward (Conv2d → relu → MaxPool2d → Conv2d → relu → AdaptiveAvgPool2d
  → Linear, input 3×16×16, batch 8);
- a GRU scanned over 50 steps (input 8, hidden 32, batch 8).

The eqx side is `eqx_filter.filter_jit` over the Module; the plain side is `jax.jit`
over a dict holding the very same arrays, with the per-example layer maths written out
by hand and batched with `jax.vmap`, as a plain-JAX user would write it.
Runtime ratios should be ≈1.0 (the compiled code is the same); compile time (lower +
compile of a fresh function, median of 3) must not be worse.

Run: `uv run python bench/bench_nn.py`.
"""

from __future__ import annotations

import statistics
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).parent))

import jax
import jax.numpy as jnp
import jax.random as jr
from _harness import Comparison, report

import eqx_filter
import eqx_module
import eqx_nn

# --- MLP -------------------------------------------------------------------------------


def make_mlp() -> tuple[Any, Any, Any, Any]:
    mlp = eqx_nn.MLP(64, 10, 128, 3, key=jr.key(0))
    params = {f"w{i}": layer.weight for i, layer in enumerate(mlp.layers)}
    params |= {f"b{i}": layer.bias for i, layer in enumerate(mlp.layers)}

    def plain_one(p: dict[str, jax.Array], x: jax.Array) -> jax.Array:
        for i in range(3):
            x = jax.nn.relu(p[f"w{i}"] @ x + p[f"b{i}"])
        return p["w3"] @ x + p["b3"]

    def plain(p: dict[str, jax.Array], x: jax.Array) -> jax.Array:
        return jax.vmap(plain_one, in_axes=(None, 0))(p, x)

    def eqx(m: eqx_nn.MLP, x: jax.Array) -> jax.Array:
        return jax.vmap(m)(x)

    return mlp, params, eqx, plain


# --- CNN -------------------------------------------------------------------------------


class CNN(eqx_module.Module):
    conv1: eqx_nn.Conv2d
    pool: eqx_nn.MaxPool2d
    conv2: eqx_nn.Conv2d
    gap: eqx_nn.AdaptiveAvgPool2d
    head: eqx_nn.Linear

    def __call__(self, x: jax.Array) -> jax.Array:
        x = self.pool(jax.nn.relu(self.conv1(x)))
        x = self.gap(jax.nn.relu(self.conv2(x)))
        return self.head(x.reshape(-1))


def make_cnn() -> tuple[Any, Any, Any, Any]:
    k1, k2, k3 = jr.split(jr.key(1), 3)
    cnn = CNN(
        eqx_nn.Conv2d(3, 8, 3, padding=1, key=k1),
        eqx_nn.MaxPool2d(2, 2),
        eqx_nn.Conv2d(8, 16, 3, padding=1, key=k2),
        eqx_nn.AdaptiveAvgPool2d(1),
        eqx_nn.Linear(16, 10, key=k3),
    )
    params = {
        "c1w": cnn.conv1.weight, "c1b": cnn.conv1.bias,
        "c2w": cnn.conv2.weight, "c2b": cnn.conv2.bias,
        "hw": cnn.head.weight, "hb": cnn.head.bias,
    }  # fmt: skip

    def conv(x: jax.Array, w: jax.Array, b: jax.Array) -> jax.Array:
        out = jax.lax.conv_general_dilated(x, w, (1, 1), ((1, 1), (1, 1)))
        return out + b[None]

    def plain(p: dict[str, jax.Array], x: jax.Array) -> jax.Array:
        x = jax.nn.relu(conv(x, p["c1w"], p["c1b"]))
        x = jax.lax.reduce_window(x, -jnp.inf, jax.lax.max, (1, 1, 2, 2), (1, 1, 2, 2), "VALID")
        x = jax.nn.relu(conv(x, p["c2w"], p["c2b"]))
        x = jnp.mean(x, axis=(2, 3))
        return x @ p["hw"].T + p["hb"]

    def eqx(m: CNN, x: jax.Array) -> jax.Array:
        return jax.vmap(m)(x)

    return cnn, params, eqx, plain


# --- GRU -------------------------------------------------------------------------------


def make_gru() -> tuple[Any, Any, Any, Any]:
    cell = eqx_nn.GRUCell(8, 32, key=jr.key(2))
    params = {"wi": cell.weight_ih, "wh": cell.weight_hh, "b": cell.bias, "bn": cell.bias_n}

    def cell_one(p: dict[str, jax.Array], x: jax.Array, h: jax.Array) -> jax.Array:
        i_r, i_z, i_n = jnp.split(p["wi"] @ x + p["b"], 3)
        h_r, h_z, h_n = jnp.split(p["wh"] @ h, 3)
        r = jax.nn.sigmoid(i_r + h_r)
        z = jax.nn.sigmoid(i_z + h_z)
        n = jnp.tanh(i_n + r * (h_n + p["bn"]))
        return n + z * (h - n)

    def plain(p: dict[str, jax.Array], xs: jax.Array) -> jax.Array:
        def step(h: jax.Array, x: jax.Array) -> tuple[jax.Array, None]:
            return jax.vmap(cell_one, in_axes=(None, 0, 0))(p, x, h), None

        h, _ = jax.lax.scan(step, jnp.zeros((xs.shape[1], 32)), xs)
        return h

    def eqx(m: eqx_nn.GRUCell, xs: jax.Array) -> jax.Array:
        def step(h: jax.Array, x: jax.Array) -> tuple[jax.Array, None]:
            return jax.vmap(m)(x, h), None

        h, _ = jax.lax.scan(step, jnp.zeros((xs.shape[1], 32)), xs)
        return h

    return cell, params, eqx, plain


# --- driver ----------------------------------------------------------------------------


def _compile_time(make_fn: Callable[[], Callable[..., Any]], *args: Any) -> float:
    """Median seconds to lower and compile a freshly created jitted function."""
    times = []
    for _ in range(3):
        fn = make_fn()
        start = time.perf_counter()
        fn.lower(*args).compile()
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def main() -> None:
    cases = {
        "MLP 64→3×128→10, batch 32": (make_mlp, jr.normal(jr.key(3), (32, 64))),
        "CNN 3×16×16, batch 8": (make_cnn, jr.normal(jr.key(4), (8, 3, 16, 16))),
        "GRU 50 steps, hidden 32, batch 8": (make_gru, jr.normal(jr.key(5), (50, 8, 8))),
    }
    rows = []
    compile_rows = []
    for name, (make, x) in cases.items():
        model, params, eqx_fn, plain_fn = make()
        np_eqx = eqx_filter.filter_jit(eqx_fn)
        np_plain = jax.jit(plain_fn)
        diff = float(jnp.max(jnp.abs(np_eqx(model, x) - np_plain(params, x))))
        assert diff < 1e-4, f"{name}: eqx and plain JAX disagree by {diff}"
        rows.append(
            Comparison(
                name,
                lambda f=np_eqx, m=model, x=x: f(m, x),
                lambda f=np_plain, p=params, x=x: f(p, x),
            ).run()
        )
        eqx_compile = _compile_time(
            lambda f=eqx_fn: eqx_filter.filter_jit(lambda m, x_: f(m, x_)), model, x
        )
        plain_compile = _compile_time(lambda f=plain_fn: jax.jit(lambda p, x_: f(p, x_)), params, x)
        compile_rows.append((name, eqx_compile, plain_compile))
    report("eqx-nn: compiled forward, runtime", rows)
    print()
    print("| compile (lower + compile) | eqx | plain JAX | ratio |")
    print("|---|---:|---:|---:|")
    for name, e, p in compile_rows:
        print(f"| {name} | {e * 1e3:8.1f} ms | {p * 1e3:8.1f} ms | {e / p:5.2f}× |")


if __name__ == "__main__":
    main()
