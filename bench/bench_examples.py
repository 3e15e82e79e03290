"""The training loops of `examples/`, step for step, against the same loops in plain JAX.

For each of `examples/train_mlp.py` (an `eqx.nn.MLP`), `examples/train_rnn.py` (a GRU
scanned over a sequence) and `examples/cnn.py` (a CNN with batch norm and dropout,
carrying an `eqx.nn.State`), the eqx side runs the example's own `step` function
(`filter_jit` over `filter_value_and_grad`, optax Adam) on the example's own model and
data. The plain side is the loop a plain-JAX user writes: the model's arrays as a flat
dict (`{"layers.0.weight": array, ...}`), `jax.jit` over `jax.value_and_grad` and the
same optax optimiser, the Module rebuilt from the dict inside the trace so that both
sides compile the same computation. One loop iteration is what the examples do: pick the
next pre-sliced batch, take a step, and read the loss back with `float` (a
synchronisation per step, as the examples' progress bars need).

The ratio of step times is the inverse of the ratio of steps/s; the target is eqx at
≥ 0.98× plain JAX's steps/s, i.e. a time ratio ≤ 1.02.

Run: `uv run python bench/bench_examples.py`.
"""

from __future__ import annotations

import importlib.util
import os
import sys
from collections.abc import Callable
from pathlib import Path
from types import ModuleType
from typing import Any

sys.path.insert(0, str(Path(__file__).parent))
os.environ.setdefault("MPLBACKEND", "Agg")  # train_mlp imports pyplot; never open a window

import jax
import jax.numpy as jnp
import jax.random as jr
import numpy as np
import optax
from _harness import Comparison, Result, report
from bench_scale import as_plain

import eqx

EXAMPLES = Path(__file__).parent.parent / "examples"
BATCHES = 16  # pre-sliced batches, cycled through


def _load(name: str) -> ModuleType:
    spec = importlib.util.spec_from_file_location(f"example_{name}", EXAMPLES / f"{name}.py")
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _batches(rng: np.random.Generator, size: int, *data: Any) -> list[tuple[Any, ...]]:
    picks = [rng.choice(len(data[0]), size=size, replace=False) for _ in range(BATCHES)]
    return [tuple(jnp.asarray(np.asarray(d)[p]) for d in data) for p in picks]


def _loop(name: str, eqx_iter: Callable[[], float], plain_iter: Callable[[], float]) -> Result:
    # Same numbers from both sides: the first step's losses agree.
    first_eqx, first_plain = eqx_iter(), plain_iter()
    assert np.isclose(first_eqx, first_plain, rtol=1e-4), (name, first_eqx, first_plain)
    return Comparison(f"training loop, {name}", eqx_iter, plain_iter, repeat=21).run()


def bench_stateless(name: str, example: ModuleType, model: Any, data: tuple[Any, ...]) -> Result:
    """An example whose `step(model, opt_state, *batch, optimiser)` has no model state."""
    optimiser = optax.adam(3e-3)
    batches = _batches(np.random.default_rng(0), 32, *data)
    flat, rebuild = as_plain(model)

    @jax.jit
    def plain_step(params: Any, opt_state: Any, *batch: Any) -> tuple[Any, Any, jax.Array]:
        loss, grads = jax.value_and_grad(lambda p: example.loss_fn(rebuild(p), *batch))(params)
        updates, opt_state = optimiser.update(grads, opt_state, params)
        return optax.apply_updates(params, updates), opt_state, loss

    eqx_carry = [model, optimiser.init(eqx.filter(model, eqx.is_array)), 0]
    plain_carry = [flat, optimiser.init(flat), 0]

    def eqx_iter() -> float:
        model, opt_state, i = eqx_carry
        model, opt_state, loss = example.step(model, opt_state, *batches[i], optimiser)
        eqx_carry[:] = [model, opt_state, (i + 1) % BATCHES]
        return float(loss)

    def plain_iter() -> float:
        params, opt_state, i = plain_carry
        params, opt_state, loss = plain_step(params, opt_state, *batches[i])
        plain_carry[:] = [params, opt_state, (i + 1) % BATCHES]
        return float(loss)

    return _loop(name, eqx_iter, plain_iter)


def bench_cnn() -> Result:
    """`examples/cnn.py`: the step also carries batch-norm state and takes a dropout key."""
    cnn = _load("cnn")
    model, state = eqx.nn.make_with_state(cnn.make_model)(jr.key(0))
    images, labels = cnn.make_data(jr.key(1), 1024)
    batches = _batches(np.random.default_rng(0), 32, images, labels)
    optimiser = optax.adam(3e-3)
    flat, rebuild = as_plain(model)
    flat_state, rebuild_state = as_plain(state)

    @jax.jit
    def plain_step(
        params: Any, state: Any, opt_state: Any, images: Any, labels: Any, key: Any
    ) -> tuple[Any, Any, Any, jax.Array]:
        def loss(p: Any) -> tuple[jax.Array, Any]:
            value, new_state = cnn.loss_fn(rebuild(p), rebuild_state(state), images, labels, key)
            return value, as_plain(new_state)[0]

        (value, state), grads = jax.value_and_grad(loss, has_aux=True)(params)
        updates, opt_state = optimiser.update(grads, opt_state, params)
        return optax.apply_updates(params, updates), state, opt_state, value

    keys = list(jr.split(jr.key(2), BATCHES))
    eqx_carry = [model, state, optimiser.init(eqx.filter(model, eqx.is_array)), 0]
    plain_carry = [flat, flat_state, optimiser.init(flat), 0]

    def eqx_iter() -> float:
        model, state, opt_state, i = eqx_carry
        model, state, opt_state, loss = cnn.step(
            model, state, opt_state, *batches[i], keys[i], optimiser
        )
        eqx_carry[:] = [model, state, opt_state, (i + 1) % BATCHES]
        return float(loss)

    def plain_iter() -> float:
        params, state, opt_state, i = plain_carry
        params, state, opt_state, loss = plain_step(params, state, opt_state, *batches[i], keys[i])
        plain_carry[:] = [params, state, opt_state, (i + 1) % BATCHES]
        return float(loss)

    return _loop("examples/cnn.py (Conv2d, BatchNorm, Dropout; batch 32)", eqx_iter, plain_iter)


def main() -> None:
    mlp = _load("train_mlp")
    rnn = _load("train_rnn")
    rows = [
        bench_stateless(
            "examples/train_mlp.py (MLP 2→2×64→1; batch 32)",
            mlp,
            mlp.make_model(jr.key(0)),
            mlp.make_data(jr.key(1), 1024),
        ),
        bench_stateless(
            "examples/train_rnn.py (GRU, 32 steps; batch 32)",
            rnn,
            rnn.SpiralClassifier(hidden_size=16, key=jr.key(0)),
            rnn.make_spirals(jr.key(1), 1024, 32),
        ),
        bench_cnn(),
    ]
    report("training loops of examples/ (steps/s ratio = 1 / time ratio)", rows)


if __name__ == "__main__":
    main()
