"""Fine-tune a pretrained MLP on a new task with LoRA, training only the adapters.

This is the example to copy for fine-tuning. It shows:

1. pretraining an MLP on one regression task (standing in for a downloaded model);
2. `eqx.freeze` on the pretrained model, then `eqx.nn.apply_lora` on a selection of its
   `Linear` layers (`eqx.tree_select`): each gets a low-rank adapter, and the adapted
   model computes exactly what the pretrained one did until training moves them;
3. `eqx.tree_summary` before and after: which parameters exist, and which train;
4. training with AdamW on the adapters only: `eqx.field_mask(model, eqx.TRAINABLE, ...)`
   partitions the model, so the pretrained weights are never touched (checked bit for
   bit) and are never weight-decayed;
5. `eqx.nn.merge_lora`: fold the adapters back into plain `Linear` layers.

The new task is a shifted, tilted version of the old one, so a low-rank update of a
good model fits it much faster than training from scratch would.

Run it with

    uv run python examples/lora_finetune.py            # full run
    uv run python examples/lora_finetune.py --quick    # a few seconds, for smoke tests

Files go to `--out` (default: `$EQX_EXAMPLES_OUT`, else `examples/out/`). The last line
printed is `RESULT {json}` with the facts the script checked.
"""

import argparse
import json
import os
import pathlib
from collections.abc import Callable
from typing import Any

import jax
import jax.numpy as jnp
import jax.random as jr
import matplotlib
import numpy as np
import optax
from tqdm import tqdm

import eqx

matplotlib.use("Agg")  # write files only; never open a window
import matplotlib.pyplot as plt

# Fine-tuning must bring the new task's test loss below this fraction of what the
# pretrained model scores on it.
TARGET_FRACTION = 0.25
RANK = 4


def old_task(x: jax.Array) -> jax.Array:
    return jnp.sin(3 * x[:, 0]) + 0.5 * x[:, 1] ** 2


def new_task(x: jax.Array) -> jax.Array:
    return jnp.sin(3 * x[:, 0] + 0.5) + 0.5 * x[:, 1] ** 2 - 0.4 * x[:, 0] * x[:, 1]


def make_data(
    key: jax.Array, task: Callable[[jax.Array], jax.Array], num_points: int
) -> tuple[jax.Array, jax.Array]:
    x = jr.uniform(key, (num_points, 2), minval=-1.0, maxval=1.0)
    return x, task(x)[:, None]


def loss_fn(model: Any, x: jax.Array, y: jax.Array) -> jax.Array:
    return jnp.mean((jax.vmap(model)(x) - y) ** 2)


def train(
    model: Any,
    x: jax.Array,
    y: jax.Array,
    optimiser: optax.GradientTransformation,
    trainable: Any,
    steps: int,
    desc: str,
) -> tuple[Any, list[float]]:
    """Train the leaves where `trainable` is true; the rest never reach the optimiser."""
    params, static = eqx.partition(model, trainable)
    opt_state = optimiser.init(params)

    @eqx.filter_jit
    def step(params: Any, opt_state: Any, xb: jax.Array, yb: jax.Array) -> Any:
        loss, grads = jax.value_and_grad(lambda p: loss_fn(eqx.combine(p, static), xb, yb))(params)
        updates, opt_state = optimiser.update(grads, opt_state, params)
        return eqx.apply_updates(params, updates), opt_state, loss

    rng = np.random.default_rng(0)
    losses = []
    progress = tqdm(range(steps), desc=desc, unit="step")
    for i in progress:
        batch = rng.choice(len(x), size=128, replace=False)
        params, opt_state, loss = step(params, opt_state, x[batch], y[batch])
        losses.append(float(loss))
        if i % 20 == 0 or i == steps - 1:
            progress.set_postfix(loss=f"{losses[-1]:.4f}")
    return eqx.combine(params, static), losses


def frozen_unchanged(before: Any, after: Any, trainable: Any) -> bool:
    """Every leaf outside `trainable` is bit-for-bit what it was."""
    return all(
        np.asarray(old).tobytes() == np.asarray(new).tobytes()
        for old, new, train in zip(
            jax.tree.leaves(before),
            jax.tree.leaves(after),
            jax.tree.leaves(trainable),
            strict=True,
        )
        if not train and eqx.is_array(old)
    )


def plot_losses(pretrain: list[float], finetune: list[float], path: pathlib.Path) -> None:
    figure, axes = plt.subplots(figsize=(7, 4))
    axes.plot(np.arange(len(pretrain)), pretrain, linewidth=1, label="pretraining (old task)")
    axes.plot(
        len(pretrain) + np.arange(len(finetune)),
        finetune,
        linewidth=1,
        label="LoRA fine-tuning (new task)",
    )
    axes.set_xlabel("step")
    axes.set_ylabel("training loss (mean squared error)")
    axes.set_yscale("log")
    axes.legend()
    axes.set_title("eqx: LoRA fine-tuning of a pretrained MLP")
    figure.tight_layout()
    figure.savefig(path, dpi=100)
    plt.close(figure)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="a few steps, for smoke tests")
    parser.add_argument("--out", type=pathlib.Path, default=None, help="output directory")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    default_out = pathlib.Path(__file__).parent / "out"
    out = args.out or pathlib.Path(os.environ.get("EQX_EXAMPLES_OUT", default_out))
    out.mkdir(parents=True, exist_ok=True)
    pretrain_steps, finetune_steps = (400, 300) if args.quick else (3000, 1500)

    keys = jr.split(jr.key(args.seed), 6)
    x_old, y_old = make_data(keys[0], old_task, 2048)
    x_new, y_new = make_data(keys[1], new_task, 2048)
    x_test, y_test = make_data(keys[2], new_task, 512)

    # 1. "Pretrained" model: trained on the old task, every array trainable.
    model = eqx.nn.MLP(2, 1, 64, 2, activation=jax.nn.tanh, key=keys[3])
    everything = eqx.field_mask(model, eqx.TRAINABLE, True, only=eqx.is_inexact_array)
    model, pretrain_losses = train(
        model, x_old, y_old, optax.adam(3e-3), everything, pretrain_steps, "pretrain"
    )
    print("Before LoRA:")
    print(eqx.tree_summary(model))
    loss_before = float(loss_fn(model, x_test, y_test))

    # 2. Freeze the whole pretrained model, then put rank-4 adapters on every Linear
    #    wide enough for rank 4 (the first layer has two inputs and the last one output).
    #    At first the adapters change nothing at all.
    frozen = eqx.freeze(model)
    wide = (
        eqx.tree_select(frozen)
        .at_instances_of(eqx.nn.Linear)
        .filter(lambda path, linear: min(linear.in_features, linear.out_features) >= RANK)
    )
    print(f"\nadapting {[jax.tree_util.keystr(p) for p in wide.paths()]}")
    adapted = eqx.nn.apply_lora(wide, rank=RANK, key=keys[4])
    noop_at_init = bool(jnp.array_equal(jax.vmap(adapted)(x_test), jax.vmap(model)(x_test)))
    summary = eqx.tree_summary(adapted)
    print("\nAfter LoRA:")
    print(summary)

    # 3. Only the adapters train, with AdamW; weight decay only where the metadata allows.
    trainable = eqx.field_mask(adapted, eqx.TRAINABLE, True, only=eqx.is_inexact_array)
    decay = eqx.field_mask(adapted, eqx.WEIGHT_DECAY, True)
    optimiser = optax.adamw(1e-2, weight_decay=1e-4, mask=eqx.filter(decay, trainable))
    tuned, finetune_losses = train(
        adapted, x_new, y_new, optimiser, trainable, finetune_steps, "LoRA"
    )
    loss_after = float(loss_fn(tuned, x_test, y_test))
    target = TARGET_FRACTION * loss_before

    # 4. Fold the adapters back in: plain Linears, the same predictions.
    merged = eqx.nn.merge_lora(tuned)
    merged_matches = bool(
        jnp.allclose(jax.vmap(merged)(x_test), jax.vmap(tuned)(x_test), atol=1e-5)
    )
    merged_is_plain = (
        not eqx.tree_select(merged).at_instances_of(eqx.nn.LoRALinear, allow_empty=True).paths()
    )
    print(
        f"\nnew-task test loss: pretrained {loss_before:.4f}, after LoRA {loss_after:.4f} "
        f"(target {target:.4f}); {summary.trainable.params} of {summary.total.params} "
        "parameters trained"
    )

    plot = out / "lora_finetune_loss.png"
    plot_losses(pretrain_losses, finetune_losses, plot)
    print(f"loss curve: {plot}")

    result = {
        "pretrain_steps": pretrain_steps,
        "finetune_steps": finetune_steps,
        "noop_at_init": noop_at_init,
        "frozen_unchanged": frozen_unchanged(adapted, tuned, trainable),
        "trainable_params": summary.trainable.params,
        "frozen_params": summary.frozen.params,
        "loss_before": loss_before,
        "loss_after": loss_after,
        "target_loss": target,
        "reached_target": loss_after < target,
        "merged_matches": merged_matches,
        "merged_is_plain": merged_is_plain,
        "plot": str(plot),
    }
    print("RESULT " + json.dumps(result))


if __name__ == "__main__":
    main()
