"""Data-parallel training: shard each batch over several devices, replicate the model.

With no accelerator at hand, XLA can pretend the CPU is eight devices; this script asks
for that (unless `XLA_FLAGS` already sets a device count) *before* JAX is imported,
because JAX reads the flag once, when it starts its backend.

The recipe:
- a `jax.sharding.Mesh` over the devices, with one axis named "batch";
- the model and optimiser state replicated (`PartitionSpec()`), the batch split along
  its first axis (`PartitionSpec("batch")`);
- `eqx.filter_device_put` to place those PyTrees (it touches only the arrays, so it
  takes the model as is), and `eqx.filter_jit(in_shardings=..., out_shardings=...)` to
  compile the step for that layout: prefixes of `(args, kwargs)` and of the output,
  whose leaves describe the arrays below them (`None`: no constraint).
XLA then inserts the cross-device reduction of the gradients by itself.
(`eqx.filter_shard` inside the step, as a sharding constraint, works too.)

Run it with

    uv run python examples/data_parallel.py [--quick]

The last line printed is `RESULT {json}` with the facts the script checked.
"""

import os

if "xla_force_host_platform_device_count" not in os.environ.get("XLA_FLAGS", ""):
    os.environ["XLA_FLAGS"] = (
        os.environ.get("XLA_FLAGS", "") + " --xla_force_host_platform_device_count=8"
    ).strip()

import argparse
import json
from collections.abc import Callable
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np
import optax
from jax.sharding import Mesh, NamedSharding, PartitionSpec

import eqx


def make_data(key: jax.Array, num_points: int) -> tuple[np.ndarray, np.ndarray]:
    x = jax.random.normal(key, (num_points, 4))
    y = jnp.tanh(x @ jnp.array([1.0, -2.0, 0.5, 0.0]))[:, None]
    return np.asarray(x), np.asarray(y)


def loss_fn(model: eqx.nn.MLP, x: jax.Array, y: jax.Array) -> jax.Array:
    return jnp.mean((jax.vmap(model)(x) - y) ** 2)


def step(
    model: eqx.nn.MLP,
    opt_state: optax.OptState,
    x: jax.Array,
    y: jax.Array,
    optimiser: optax.GradientTransformation,
) -> tuple[eqx.nn.MLP, optax.OptState, jax.Array]:
    loss, grads = eqx.filter_value_and_grad(loss_fn)(model, x, y)
    updates, opt_state = optimiser.update(grads, opt_state, eqx.filter(model, eqx.is_array))
    model = eqx.apply_updates(model, updates)
    return model, opt_state, loss


def make_step(replicated: NamedSharding, batch_sharded: NamedSharding) -> Callable[..., Any]:
    """`step` compiled for a replicated model and optimiser state and a split batch."""
    # One leaf per argument of `(model, opt_state, x, y, optimiser)`; the optimiser holds
    # no arrays, so its `None` constrains nothing. `{}`: there are no keyword arguments.
    in_shardings = ((replicated, replicated, batch_sharded, batch_sharded, None), {})
    return eqx.filter_jit(step, in_shardings=in_shardings, out_shardings=replicated)


def make_shardings(devices: list[jax.Device]) -> tuple[NamedSharding, NamedSharding]:
    """(replicated, split along the batch axis) over a one-axis mesh of `devices`."""
    mesh = Mesh(np.array(devices), axis_names=("batch",))
    return NamedSharding(mesh, PartitionSpec()), NamedSharding(mesh, PartitionSpec("batch"))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="a few steps, for smoke tests")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    steps = 20 if args.quick else 500

    devices = jax.devices()
    print(f"{len(devices)} devices: {', '.join(str(d) for d in devices)}")
    replicated, batch_sharded = make_shardings(devices)
    batch_size = 32 * len(devices)  # every device gets 32 examples

    data_key, model_key = jax.random.split(jax.random.key(args.seed))
    x, y = make_data(data_key, 4096)
    model = eqx.nn.MLP(4, 1, width_size=32, depth=2, key=model_key)
    optimiser = optax.adam(1e-2)
    opt_state = optimiser.init(eqx.filter(model, eqx.is_array))

    # For comparison: the first step on one device only. Sharding must not change results.
    one_device = make_shardings(devices[:1])
    reference_model, _, reference_loss = make_step(*one_device)(
        model, opt_state, x[:batch_size], y[:batch_size], optimiser
    )

    # Place the arrays on the devices; the compiled step keeps them there.
    model, opt_state = eqx.filter_device_put((model, opt_state), replicated)
    sharded_step = make_step(replicated, batch_sharded)
    rng = np.random.default_rng(args.seed)
    losses = []
    for i in range(steps):
        if i == 0:
            batch = np.arange(batch_size)  # the batch the reference step used
        else:
            batch = rng.choice(len(x), size=batch_size, replace=False)
        xb, yb = eqx.filter_device_put((x[batch], y[batch]), batch_sharded)
        model, opt_state, loss = sharded_step(model, opt_state, xb, yb, optimiser)
        losses.append(float(loss))
        if i == 0:
            matches_one_device = bool(
                np.allclose(losses[0], float(reference_loss), rtol=1e-5)
                and np.allclose(
                    model.layers[0].weight, reference_model.layers[0].weight, rtol=1e-4, atol=1e-6
                )
            )
            print(f"first step matches the one-device step: {matches_one_device}")
        if i % 50 == 0 or i == steps - 1:
            print(f"step {i:4d}  loss {losses[-1]:.4f}")

    weight = model.layers[0].weight
    result = {
        "num_devices": len(devices),
        "batch_sharded_over": len(xb.sharding.device_set),
        "model_replicated": bool(weight.sharding.is_fully_replicated)
        and len(weight.sharding.device_set) == len(devices),
        "matches_one_device": matches_one_device,
        "first_loss": losses[0],
        "final_loss": losses[-1],
        "loss_decreased": losses[-1] < losses[0],
    }
    print("RESULT " + json.dumps(result))


if __name__ == "__main__":
    main()
