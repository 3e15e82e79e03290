"""eqx-filter hot paths against plain JAX doing the same work.

- `filter_jit` dispatch of an already-compiled forward pass, for MLP Modules of depth
  2, 8, 32 and 128 (width 32), against `jax.jit` on the same arrays held as a plain
  PyTree (a list of dicts);
- a full training step (`filter_value_and_grad` + an SGD update under `filter_jit`)
  against the same step written with `jax.jit` / `jax.value_and_grad`;
- `filter_vmap` and `filter_grad` called outside `jit`, against `jax.vmap` / `jax.grad`.

Run: `python bench/bench_filter.py` (add `--quick` for a short smoke run).
"""

from __future__ import annotations

import sys
from collections.abc import Callable
from typing import Any

import jax
import jax.numpy as jnp
import jax.tree_util as jtu
from _harness import Comparison, Result, report

import eqx_filter
from eqx_module import Module

WIDTH = 32
LEARNING_RATE = 0.01


class Linear(Module):
    weight: jax.Array
    bias: jax.Array

    def __call__(self, x: jax.Array) -> jax.Array:
        return self.weight @ x + self.bias


class MLP(Module):
    layers: tuple[Linear, ...]
    activation: Callable[[jax.Array], jax.Array]  # a function leaf, as in eqx.nn.MLP

    def __call__(self, x: jax.Array) -> jax.Array:
        for layer in self.layers[:-1]:
            x = self.activation(layer(x))
        return self.layers[-1](x)


def make_mlp(depth: int, key: jax.Array) -> MLP:
    keys = jax.random.split(key, depth)
    layers = tuple(
        Linear(
            jax.random.normal(k, (WIDTH, WIDTH)) / WIDTH**0.5,
            jnp.zeros(WIDTH),
        )
        for k in keys
    )
    return MLP(layers, jax.nn.relu)


def as_plain(model: MLP) -> list[dict[str, jax.Array]]:
    return [{"weight": layer.weight, "bias": layer.bias} for layer in model.layers]


def plain_forward(params: list[dict[str, jax.Array]], x: jax.Array) -> jax.Array:
    for layer in params[:-1]:
        x = jax.nn.relu(layer["weight"] @ x + layer["bias"])
    last = params[-1]
    return last["weight"] @ x + last["bias"]


def eqx_forward(model: MLP, x: jax.Array) -> jax.Array:
    return model(x)


def plain_loss(params: Any, x: jax.Array, y: jax.Array) -> jax.Array:
    pred = jax.vmap(plain_forward, in_axes=(None, 0))(params, x)
    return jnp.mean((pred - y) ** 2)


def eqx_loss(model: MLP, x: jax.Array, y: jax.Array) -> jax.Array:
    pred = jax.vmap(model)(x)
    return jnp.mean((pred - y) ** 2)


def _sgd(param: Any, grad: Any) -> Any:
    return param if grad is None else param - LEARNING_RATE * grad


@eqx_filter.filter_jit
def eqx_step(model: MLP, x: jax.Array, y: jax.Array) -> tuple[MLP, jax.Array]:
    loss, grads = eqx_filter.filter_value_and_grad(eqx_loss)(model, x, y)
    model = jtu.tree_map(_sgd, model, grads, is_leaf=lambda g: g is None)
    return model, loss


@jax.jit
def plain_step(params: Any, x: jax.Array, y: jax.Array) -> tuple[Any, jax.Array]:
    loss, grads = jax.value_and_grad(plain_loss)(params, x, y)
    params = jtu.tree_map(lambda p, g: p - LEARNING_RATE * g, params, grads)
    return params, loss


def main(quick: bool = False) -> list[Result]:
    repeat = 5 if quick else 15
    target_s = 0.01 if quick else 0.05
    key = jax.random.PRNGKey(0)
    x = jnp.ones(WIDTH)
    results = []
    for depth in (2, 8, 32, 128):
        model = make_mlp(depth, key)
        params = as_plain(model)
        eqx_fn = eqx_filter.filter_jit(eqx_forward)
        jax_fn = jax.jit(plain_forward)
        results.append(
            Comparison(
                f"filter_jit dispatch, MLP depth {depth}",
                lambda eqx_fn=eqx_fn, model=model: eqx_fn(model, x),
                lambda jax_fn=jax_fn, params=params: jax_fn(params, x),
                repeat=repeat,
                target_s=target_s,
            ).run()
        )

    model = make_mlp(8, key)
    params = as_plain(model)
    xs = jnp.ones((64, WIDTH))
    ys = jnp.zeros((64, WIDTH))
    state: dict[str, Any] = {"model": model, "params": params}

    def run_eqx_step() -> jax.Array:
        state["model"], loss = eqx_step(state["model"], xs, ys)
        return loss

    def run_plain_step() -> jax.Array:
        state["params"], loss = plain_step(state["params"], xs, ys)
        return loss

    results.append(
        Comparison(
            "training step (value_and_grad + SGD), depth 8",
            run_eqx_step,
            run_plain_step,
            repeat=repeat,
            target_s=target_s,
        ).run()
    )

    small = make_mlp(2, key)
    small_params = as_plain(small)
    batch = jnp.ones((16, WIDTH))
    eqx_vmapped = eqx_filter.filter_vmap(eqx_forward, in_axes=(None, 0))
    jax_vmapped = jax.vmap(plain_forward, in_axes=(None, 0))
    results.append(
        Comparison(
            "filter_vmap outside jit, MLP depth 2",
            lambda: eqx_vmapped(small, batch),
            lambda: jax_vmapped(small_params, batch),
            repeat=repeat,
            target_s=target_s,
        ).run()
    )
    eqx_grad = eqx_filter.filter_grad(lambda m, x: jnp.sum(m(x)))
    jax_grad = jax.grad(lambda p, x: jnp.sum(plain_forward(p, x)))
    results.append(
        Comparison(
            "filter_grad outside jit, MLP depth 2",
            lambda: eqx_grad(small, x),
            lambda: jax_grad(small_params, x),
            repeat=repeat,
            target_s=target_s,
        ).run()
    )
    report("eqx-filter", results)
    return results


if __name__ == "__main__":
    main(quick="--quick" in sys.argv)
