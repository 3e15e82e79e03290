"""Train a small CNN with batch norm and dropout on generated images, then evaluate it.

This is the example to copy for a model with *state* (batch-norm running statistics)
and *randomness* (dropout):

1. build the model with `eqx.nn.make_with_state`, which returns `(model, state)`;
2. train with optax: the batch is a named `jax.vmap` axis (`axis_name="batch"`), over
   which `BatchNorm` averages its statistics, and the state is threaded through every
   step (`out_axes=(0, None)`: one state for the whole batch);
3. switch to inference mode with `eqx.nn.inference_mode` (dropout off, batch norm uses
   its running statistics) and evaluate on held-out images.

The task needs no download: each 12x12 image holds a bright 4x4 square in one of its
four quadrants, plus noise, and the label is the quadrant.

Run it with

    uv run python examples/cnn.py            # full run (~600 steps)
    uv run python examples/cnn.py --quick    # a few seconds, for smoke tests

The last line printed is `RESULT {json}` with the facts the script checked.
"""

import argparse
import json
from typing import Any

import jax
import jax.numpy as jnp
import jax.random as jr
import numpy as np
import optax

import eqx

IMAGE_SIZE = 12
NUM_CLASSES = 4


def make_data(key: jax.Array, num_images: int) -> tuple[jax.Array, jax.Array]:
    """Images of shape (1, 12, 12) with a bright square in quadrant `label`."""
    label_key, offset_key, noise_key = jr.split(key, 3)
    labels = jr.randint(label_key, (num_images,), 0, NUM_CLASSES)
    offsets = jr.randint(offset_key, (num_images, 2), 0, 3)  # jitter inside the quadrant
    rows = jnp.arange(IMAGE_SIZE)
    half = IMAGE_SIZE // 2
    top = (labels // 2) * half + offsets[:, 0]
    left = (labels % 2) * half + offsets[:, 1]
    in_rows = (rows[None, :] >= top[:, None]) & (rows[None, :] < top[:, None] + 4)
    in_cols = (rows[None, :] >= left[:, None]) & (rows[None, :] < left[:, None] + 4)
    squares = (in_rows[:, :, None] & in_cols[:, None, :]).astype(jnp.float32)
    images = squares + 0.3 * jr.normal(noise_key, squares.shape)
    return images[:, None, :, :], labels


def make_model(key: jax.Array) -> eqx.nn.Sequential:
    conv_key, linear_key = jr.split(key)
    return eqx.nn.Sequential(
        [
            eqx.nn.Conv2d(1, 8, kernel_size=3, padding=1, key=conv_key),
            # Averages over the vmapped axis named "batch"; "batch" mode normalises with
            # the batch statistics in training and debiased running ones in inference.
            eqx.nn.BatchNorm(8, axis_name="batch", mode="batch"),
            eqx.nn.Lambda(jax.nn.relu),
            eqx.nn.MaxPool2d(kernel_size=2, stride=2),
            eqx.nn.Lambda(jnp.ravel),
            eqx.nn.Dropout(0.2),
            eqx.nn.Linear(8 * (IMAGE_SIZE // 2) ** 2, NUM_CLASSES, key=linear_key),
        ]
    )


def batched(model: eqx.nn.Sequential) -> Any:
    """The model over a batch: images and keys are batched, the state is shared."""

    def single(image: jax.Array, state: eqx.nn.State, key: jax.Array | None) -> Any:
        return model(image, state, key=key)

    return jax.vmap(single, axis_name="batch", in_axes=(0, None, 0), out_axes=(0, None))


def loss_fn(
    model: eqx.nn.Sequential,
    state: eqx.nn.State,
    images: jax.Array,
    labels: jax.Array,
    key: jax.Array,
) -> tuple[jax.Array, eqx.nn.State]:
    keys = jr.split(key, images.shape[0])
    logits, state = batched(model)(images, state, keys)
    loss = optax.softmax_cross_entropy_with_integer_labels(logits, labels).mean()
    return loss, state


@eqx.filter_jit
def step(
    model: eqx.nn.Sequential,
    state: eqx.nn.State,
    opt_state: optax.OptState,
    images: jax.Array,
    labels: jax.Array,
    key: jax.Array,
    optimiser: optax.GradientTransformation,
) -> tuple[eqx.nn.Sequential, eqx.nn.State, optax.OptState, jax.Array]:
    # `has_aux=True`: the new state comes back next to the loss, not differentiated.
    grad_fn = eqx.filter_value_and_grad(loss_fn, has_aux=True)
    (loss, state), grads = grad_fn(model, state, images, labels, key)
    updates, opt_state = optimiser.update(grads, opt_state, eqx.filter(model, eqx.is_array))
    model = eqx.apply_updates(model, updates)
    return model, state, opt_state, loss


@eqx.filter_jit
def predict(model: eqx.nn.Sequential, state: eqx.nn.State, images: jax.Array) -> jax.Array:
    # In inference mode nothing is random: no keys (`None` is an empty PyTree to vmap).
    logits, _ = batched(model)(images, state, None)
    return logits


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="a few steps, for smoke tests")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    steps = 60 if args.quick else 600
    batch_size = 32

    data_key, test_key, model_key, train_key = jr.split(jr.key(args.seed), 4)
    images, labels = make_data(data_key, 1024)
    test_images, test_labels = make_data(test_key, 256)

    model, state = eqx.nn.make_with_state(make_model)(model_key)
    optimiser = optax.adam(3e-3)
    opt_state = optimiser.init(eqx.filter(model, eqx.is_array))

    rng = np.random.default_rng(args.seed)
    losses = []
    for i in range(steps):
        batch = rng.choice(len(labels), size=batch_size, replace=False)
        train_key, step_key = jr.split(train_key)
        model, state, opt_state, loss = step(
            model, state, opt_state, images[batch], labels[batch], step_key, optimiser
        )
        losses.append(float(loss))
        if i % 20 == 0 or i == steps - 1:
            print(f"step {i:4d}  loss {losses[-1]:.4f}")

    # Dropout off, batch norm on its running statistics: predictions no longer depend on
    # the rest of the batch or on the key.
    inference_model = eqx.nn.inference_mode(model)
    logits = predict(inference_model, state, test_images)
    accuracy = float(jnp.mean(jnp.argmax(logits, axis=-1) == test_labels))
    again = predict(inference_model, state, test_images)
    first_ten = predict(inference_model, state, test_images[:10])
    stable = bool(jnp.array_equal(logits, again)) and bool(
        jnp.allclose(logits[:10], first_ten, atol=1e-5)
    )
    print(f"test accuracy {accuracy:.3f}; inference output stable: {stable}")

    initial_loss, final_loss = float(np.mean(losses[:5])), float(np.mean(losses[-5:]))
    result = {
        "steps": steps,
        "initial_loss": initial_loss,
        "final_loss": final_loss,
        "loss_decreased": final_loss < initial_loss,
        "eval_accuracy": accuracy,
        "inference_stable": stable,
    }
    print("RESULT " + json.dumps(result))


if __name__ == "__main__":
    main()
