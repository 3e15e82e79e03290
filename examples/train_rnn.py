"""Classify spirals as clockwise or anticlockwise with a GRU.

Each example is a sequence of 2-D points tracing an outward spiral; the label says
which way it turns. A `eqx.nn.GRUCell` reads the points one at a time (the loop over
time is a `jax.lax.scan`), and a `eqx.nn.Linear` turns the final hidden state into one
logit. The point of the example is how recurrent models are written in eqx: the cell
is an ordinary layer holding arrays, the time loop is plain JAX, and the batch is a
`jax.vmap` on the outside.

Run it with

    uv run python examples/train_rnn.py            # full run: test accuracy > 95%
    uv run python examples/train_rnn.py --quick    # a few seconds, for smoke tests

The last line printed is `RESULT {json}` with the facts the script checked.
"""

import argparse
import json
import math

import jax
import jax.numpy as jnp
import numpy as np
import optax
from tqdm import tqdm

import eqx


def make_spirals(key: jax.Array, num_sequences: int, length: int) -> tuple[jax.Array, jax.Array]:
    """Noisy spirals with random start angles; label 1 for anticlockwise, 0 for clockwise."""
    start_key, direction_key, noise_key = jax.random.split(key, 3)
    start = jax.random.uniform(start_key, (num_sequences, 1), maxval=2 * math.pi)
    anticlockwise = jax.random.bernoulli(direction_key, 0.5, (num_sequences,))
    direction = jnp.where(anticlockwise, 1.0, -1.0)[:, None]
    t = jnp.linspace(0.0, 1.0, length)[None, :]  # shape (1, length): one row of times
    angle = start + direction * 2.5 * math.pi * t  # 1.25 turns
    radius = 0.2 + t
    points = jnp.stack([radius * jnp.cos(angle), radius * jnp.sin(angle)], axis=-1)
    points = points + 0.02 * jax.random.normal(noise_key, points.shape)
    return points, anticlockwise.astype(jnp.float32)


class SpiralClassifier(eqx.Module):
    """Reads a `(length, 2)` sequence; returns one logit (positive: anticlockwise)."""

    cell: eqx.nn.GRUCell
    head: eqx.nn.Linear

    def __init__(self, hidden_size: int, *, key: jax.Array) -> None:
        cell_key, head_key = jax.random.split(key)
        self.cell = eqx.nn.GRUCell(input_size=2, hidden_size=hidden_size, key=cell_key)
        # "scalar" as the output size makes the layer return shape () instead of (1,).
        self.head = eqx.nn.Linear(hidden_size, "scalar", key=head_key)

    def __call__(self, sequence: jax.Array) -> jax.Array:
        def read_one_point(hidden: jax.Array, point: jax.Array) -> tuple[jax.Array, None]:
            return self.cell(point, hidden), None

        hidden = jnp.zeros(self.cell.hidden_size)
        hidden, _ = jax.lax.scan(read_one_point, hidden, sequence)
        return self.head(hidden)


def loss_fn(model: SpiralClassifier, sequences: jax.Array, labels: jax.Array) -> jax.Array:
    logits = jax.vmap(model)(sequences)
    return jnp.mean(optax.sigmoid_binary_cross_entropy(logits, labels))


@eqx.filter_jit
def accuracy(model: SpiralClassifier, sequences: jax.Array, labels: jax.Array) -> jax.Array:
    predictions = jax.vmap(model)(sequences) > 0
    return jnp.mean(predictions == (labels > 0.5))


@eqx.filter_jit
def step(
    model: SpiralClassifier,
    opt_state: optax.OptState,
    sequences: jax.Array,
    labels: jax.Array,
    optimiser: optax.GradientTransformation,
) -> tuple[SpiralClassifier, optax.OptState, jax.Array]:
    loss, grads = eqx.filter_value_and_grad(loss_fn)(model, sequences, labels)
    updates, opt_state = optimiser.update(grads, opt_state, eqx.filter(model, eqx.is_array))
    return eqx.apply_updates(model, updates), opt_state, loss


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="a few steps, for smoke tests")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    steps, batch_size, length = (60, 32, 16) if args.quick else (800, 64, 32)

    train_key, test_key, model_key = jax.random.split(jax.random.key(args.seed), 3)
    sequences, labels = make_spirals(train_key, 2048, length)
    test_sequences, test_labels = make_spirals(test_key, 512, length)
    sequences, labels = np.asarray(sequences), np.asarray(labels)

    model = SpiralClassifier(hidden_size=16, key=model_key)
    optimiser = optax.adam(3e-3)
    opt_state = optimiser.init(eqx.filter(model, eqx.is_array))
    rng = np.random.default_rng(args.seed)
    losses = []
    progress = tqdm(range(steps), desc="train_rnn", unit="step")
    for i in progress:
        batch = rng.choice(len(sequences), size=batch_size, replace=False)
        model, opt_state, loss = step(model, opt_state, sequences[batch], labels[batch], optimiser)
        losses.append(float(loss))
        if i % 10 == 0 or i == steps - 1:
            progress.set_postfix(loss=f"{losses[-1]:.4f}")

    test_accuracy = float(accuracy(model, test_sequences, test_labels))
    print(f"test accuracy: {test_accuracy:.1%}")
    first_loss, final_loss = float(np.mean(losses[:5])), float(np.mean(losses[-5:]))
    result = {
        "steps": steps,
        "first_loss": first_loss,
        "final_loss": final_loss,
        "loss_decreased": final_loss < first_loss,
        "test_accuracy": test_accuracy,
        # The full run is expected to clear 95%; the quick run only checks the plumbing.
        "accuracy_target": None if args.quick else 0.95,
    }
    print("RESULT " + json.dumps(result))


if __name__ == "__main__":
    main()
