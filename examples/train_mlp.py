"""Train an MLP on a synthetic regression task, save it, reload it, plot the loss.

This is the example to copy when starting a project with eqx. It shows the whole loop:

1. build a model (`eqx.nn.MLP`, a PyTree of arrays and hyperparameters);
2. train it with optax, using `eqx.filter_value_and_grad` and `eqx.filter_jit`;
3. save the weights with `eqx.tree_serialise_leaves`;
4. reload them into a skeleton made by `eqx.filter_eval_shape` (no random init needed)
   and check that the reloaded model predicts exactly what the trained one does;
5. plot the loss curve to a PNG.

Run it with

    uv run python examples/train_mlp.py            # full run (~2000 steps)
    uv run python examples/train_mlp.py --quick    # a few seconds, for smoke tests

Files go to `--out` (default: `$EQX_EXAMPLES_OUT`, else `examples/out/`). The last line
printed is `RESULT {json}` with the facts the script checked.
"""

import argparse
import json
import os
import pathlib

import jax
import jax.numpy as jnp
import matplotlib
import numpy as np
import optax
from tqdm import tqdm

import eqx

matplotlib.use("Agg")  # write files only; never open a window
import matplotlib.pyplot as plt


def make_data(key: jax.Array, num_points: int) -> tuple[jax.Array, jax.Array]:
    """Inputs in [-1, 1]^2 and a smooth nonlinear target with a little noise."""
    x_key, noise_key = jax.random.split(key)
    x = jax.random.uniform(x_key, (num_points, 2), minval=-1.0, maxval=1.0)
    y = jnp.sin(3 * x[:, 0]) + 0.5 * x[:, 1] ** 2
    y = y + 0.05 * jax.random.normal(noise_key, (num_points,))
    return x, y[:, None]  # targets have shape (num_points, 1), like the model's output


def make_model(key: jax.Array) -> eqx.nn.MLP:
    # Layers take one unbatched example: this MLP maps shape (2,) to shape (1,).
    return eqx.nn.MLP(in_size=2, out_size=1, width_size=64, depth=2, key=key)


def loss_fn(model: eqx.nn.MLP, x: jax.Array, y: jax.Array) -> jax.Array:
    # `jax.vmap` adds the batch dimension: the model itself only sees single examples.
    prediction = jax.vmap(model)(x)
    return jnp.mean((prediction - y) ** 2)


@eqx.filter_jit
def step(
    model: eqx.nn.MLP,
    opt_state: optax.OptState,
    x: jax.Array,
    y: jax.Array,
    optimiser: optax.GradientTransformation,
) -> tuple[eqx.nn.MLP, optax.OptState, jax.Array]:
    """One optimiser step. `filter_jit` traces every array in the arguments and treats
    everything else (the activation function, the layer sizes, the optimiser's
    functions) as static, so the model and the optimiser can be passed in as they are.
    """
    loss, grads = eqx.filter_value_and_grad(loss_fn)(model, x, y)
    # optax sees only the arrays of the model; `None` stands in for everything else.
    params = eqx.filter(model, eqx.is_array)
    updates, opt_state = optimiser.update(grads, opt_state, params)
    model = eqx.apply_updates(model, updates)
    return model, opt_state, loss


def train(
    model: eqx.nn.MLP, x: np.ndarray, y: np.ndarray, steps: int, batch_size: int, seed: int
) -> tuple[eqx.nn.MLP, list[float]]:
    optimiser = optax.adam(3e-3)
    opt_state = optimiser.init(eqx.filter(model, eqx.is_array))
    rng = np.random.default_rng(seed)
    losses = []
    progress = tqdm(range(steps), desc="train_mlp", unit="step")
    for i in progress:
        batch = rng.choice(len(x), size=batch_size, replace=False)
        model, opt_state, loss = step(model, opt_state, x[batch], y[batch], optimiser)
        losses.append(float(loss))  # float() waits for the step; fine at this size
        if i % 10 == 0 or i == steps - 1:
            progress.set_postfix(loss=f"{losses[-1]:.4f}")
    return model, losses


def save_and_reload(model: eqx.nn.MLP, path: pathlib.Path) -> eqx.nn.MLP:
    eqx.tree_serialise_leaves(path, model)
    # A skeleton with the right structure, shapes and dtypes, and no real arrays in it:
    # `filter_eval_shape` runs `make_model` abstractly, so no random numbers are drawn.
    skeleton = eqx.filter_eval_shape(make_model, jax.random.key(0))
    return eqx.tree_deserialise_leaves(path, skeleton)


def plot_losses(losses: list[float], path: pathlib.Path) -> None:
    figure, axes = plt.subplots(figsize=(6, 4))
    axes.plot(np.arange(1, len(losses) + 1), losses, linewidth=1)
    axes.set_xlabel("step")
    axes.set_ylabel("training loss (mean squared error)")
    axes.set_yscale("log")
    axes.set_title("eqx: MLP on a synthetic regression task")
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
    steps = 150 if args.quick else 2000

    data_key, test_key, model_key = jax.random.split(jax.random.key(args.seed), 3)
    x, y = make_data(data_key, 2048)
    x_test, y_test = make_data(test_key, 512)
    model = make_model(model_key)
    test_loss_before = float(loss_fn(model, x_test, y_test))

    # The data lives on the host as NumPy arrays; each mini-batch is copied over per step.
    model, losses = train(
        model, np.asarray(x), np.asarray(y), steps=steps, batch_size=128, seed=args.seed
    )
    test_loss_after = float(loss_fn(model, x_test, y_test))
    print(f"test loss: {test_loss_before:.4f} before training, {test_loss_after:.4f} after")

    checkpoint = out / "train_mlp.eqx"
    reloaded = save_and_reload(model, checkpoint)
    predictions = jax.vmap(model)(x_test)
    reloaded_predictions = jax.vmap(reloaded)(x_test)
    reload_matches = bool(jnp.array_equal(predictions, reloaded_predictions))
    print(f"saved to {checkpoint}; reloaded predictions match exactly: {reload_matches}")

    plot = out / "train_mlp_loss.png"
    plot_losses(losses, plot)
    print(f"loss curve: {plot}")

    # Average a few steps at each end: single mini-batch losses are noisy.
    first_loss, final_loss = float(np.mean(losses[:5])), float(np.mean(losses[-5:]))
    result = {
        "steps": steps,
        "first_loss": first_loss,
        "final_loss": final_loss,
        "loss_decreased": final_loss < first_loss,
        "test_loss_before": test_loss_before,
        "test_loss_after": test_loss_after,
        "reload_matches": reload_matches,
        "checkpoint": str(checkpoint),
        "plot": str(plot),
    }
    print("RESULT " + json.dumps(result))


if __name__ == "__main__":
    main()
