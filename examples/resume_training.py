"""Checkpoint a training run mid-way, resume it from the file, and match the uninterrupted run.

A checkpoint users can trust holds everything the run needs to continue: the model, the
optimiser state, the step count and the hyperparameters. This example

1. trains an MLP with optax Adam for `steps` steps without stopping (the reference);
2. trains a second copy for `steps // 2` steps and saves `{"model", "opt_state",
   "step"}` with `eqx_tree.tree_save`, the hyperparameters going into the file's
   metadata;
3. "restarts": builds a skeleton of the same tree with `eqx_filter.filter_eval_shape`
   (abstract `ShapeDtypeStruct`s, no random numbers drawn), reads the hyperparameters
   back with `eqx_tree.tree_load_metadata`, loads the checkpoint with
   `eqx_tree.tree_load`, and finishes the remaining steps;
4. checks that the resumed model equals the uninterrupted one exactly.

The file is a plain safetensors file: any safetensors reader can list its weights
(`safetensors.numpy.load_file`), with names such as `model.layers.0.weight`.

Run it with

    uv run python examples/resume_training.py            # full run (1000 steps)
    uv run python examples/resume_training.py --quick    # a few seconds, for smoke tests

Files go to `--out` (default: `$EQX_EXAMPLES_OUT`, else `examples/out/`). The last line
printed is `RESULT {json}` with the facts the script checked.
"""

import argparse
import json
import os
import pathlib
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np
import optax

import eqx_filter
import eqx_nn
import eqx_tree

HYPERPARAMETERS = {"learning_rate": 3e-3, "width_size": 32, "depth": 2, "batch_size": 64}


def make_model(key: jax.Array, hyperparameters: dict[str, Any]) -> eqx_nn.MLP:
    return eqx_nn.MLP(
        in_size=2,
        out_size=1,
        width_size=hyperparameters["width_size"],
        depth=hyperparameters["depth"],
        key=key,
    )


def make_training_state(key: jax.Array, hyperparameters: dict[str, Any]) -> dict[str, Any]:
    """Everything a run carries from step to step. The checkpoint saves exactly this."""
    model = make_model(key, hyperparameters)
    optimiser = optax.adam(hyperparameters["learning_rate"])
    opt_state = optimiser.init(eqx_filter.filter(model, eqx_filter.is_array))
    return {"model": model, "opt_state": opt_state, "step": 0}


def batch_for_step(step: int, batch_size: int) -> tuple[np.ndarray, np.ndarray]:
    """Data that depends only on the step number, so a resumed run sees the same batches."""
    rng = np.random.default_rng(step)
    x = rng.uniform(-1.0, 1.0, size=(batch_size, 2)).astype(np.float32)
    y = (np.sin(3 * x[:, :1]) + 0.5 * x[:, 1:] ** 2).astype(np.float32)
    return x, y


def loss_fn(model: eqx_nn.MLP, x: jax.Array, y: jax.Array) -> jax.Array:
    return jnp.mean((jax.vmap(model)(x) - y) ** 2)


@eqx_filter.filter_jit
def train_step(
    model: eqx_nn.MLP,
    opt_state: optax.OptState,
    x: jax.Array,
    y: jax.Array,
    optimiser: optax.GradientTransformation,
) -> tuple[eqx_nn.MLP, optax.OptState, jax.Array]:
    loss, grads = eqx_filter.filter_value_and_grad(loss_fn)(model, x, y)
    params = eqx_filter.filter(model, eqx_filter.is_array)
    updates, opt_state = optimiser.update(grads, opt_state, params)
    return eqx_tree.apply_updates(model, updates), opt_state, loss


def train(
    state: dict[str, Any], until_step: int, hyperparameters: dict[str, Any]
) -> tuple[dict[str, Any], list[float]]:
    optimiser = optax.adam(hyperparameters["learning_rate"])
    model, opt_state = state["model"], state["opt_state"]
    losses = []
    for step in range(state["step"], until_step):
        x, y = batch_for_step(step, hyperparameters["batch_size"])
        model, opt_state, loss = train_step(model, opt_state, x, y, optimiser)
        losses.append(float(loss))
    return {"model": model, "opt_state": opt_state, "step": until_step}, losses


def resume(checkpoint: pathlib.Path) -> dict[str, Any]:
    """What a fresh process does: rebuild the tree's skeleton, then fill it from the file."""
    hyperparameters = eqx_tree.tree_load_metadata(checkpoint)
    # Abstract: every array is a ShapeDtypeStruct, no parameters are initialised.
    like = eqx_filter.filter_eval_shape(make_training_state, jax.random.key(0), hyperparameters)
    loaded: dict[str, Any] = eqx_tree.tree_load(checkpoint, like)
    return loaded


def max_difference(a: Any, b: Any) -> float:
    leaves_a = jax.tree_util.tree_leaves(eqx_filter.filter(a, eqx_filter.is_array))
    leaves_b = jax.tree_util.tree_leaves(eqx_filter.filter(b, eqx_filter.is_array))
    return max(float(jnp.max(jnp.abs(x - y))) for x, y in zip(leaves_a, leaves_b, strict=True))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="a few steps, for smoke tests")
    parser.add_argument("--out", type=pathlib.Path, default=None, help="output directory")
    args = parser.parse_args()
    default_out = pathlib.Path(__file__).parent / "out"
    out = args.out or pathlib.Path(os.environ.get("EQX_EXAMPLES_OUT", default_out))
    out.mkdir(parents=True, exist_ok=True)
    steps = 40 if args.quick else 1000
    interrupt_at = steps // 2
    key = jax.random.key(0)

    # 1. The reference: one run, never interrupted.
    uninterrupted, losses = train(make_training_state(key, HYPERPARAMETERS), steps, HYPERPARAMETERS)

    # 2. A run that stops half-way and saves a checkpoint.
    first_half, _ = train(make_training_state(key, HYPERPARAMETERS), interrupt_at, HYPERPARAMETERS)
    checkpoint = out / "resume_training.safetensors"
    eqx_tree.tree_save(checkpoint, first_half, metadata=HYPERPARAMETERS)
    stored_names = list(eqx_tree.tree_to_flat_dict(first_half))
    print(f"saved step {interrupt_at} to {checkpoint}: {len(stored_names)} leaves")
    print(f"  for example {stored_names[0]!r} and {stored_names[-1]!r}")

    # 3. Restart from the file alone and finish the run.
    restored = resume(checkpoint)
    resumed_from_step = restored["step"]
    resumed, _ = train(restored, steps, eqx_tree.tree_load_metadata(checkpoint))

    # 4. Compare with the uninterrupted run.
    difference = max_difference(resumed["model"], uninterrupted["model"])
    opt_difference = max_difference(resumed["opt_state"], uninterrupted["opt_state"])
    resumed_matches = difference == 0.0 and opt_difference == 0.0
    print(f"resumed from step {resumed_from_step}; largest difference from the uninterrupted")
    print(f"run: model {difference}, optimiser state {opt_difference}")

    first_loss, final_loss = float(np.mean(losses[:5])), float(np.mean(losses[-5:]))
    result = {
        "steps": steps,
        "interrupted_at": interrupt_at,
        "resumed_from_step": resumed_from_step,
        "step_restored": resumed_from_step == interrupt_at,
        "metadata_restored": eqx_tree.tree_load_metadata(checkpoint) == HYPERPARAMETERS,
        "resumed_matches": resumed_matches,
        "loss_decreased": final_loss < first_loss,
        "checkpoint": str(checkpoint),
    }
    print("RESULT " + json.dumps(result))


if __name__ == "__main__":
    main()
