"""Fully-sharded (FSDP-style) training: every weight, and its optimiser state, split over devices.

Data parallelism replicates the model on every device. When the model is too big for
that, shard it too: here each weight matrix of an MLP, and Adam's two moments for it,
are split over the eight (simulated CPU) devices along an axis they divide, so each
device stores an eighth of the parameters; the batch is split as well. XLA gathers a
layer's weight when it is needed and reduce-scatters its gradient.

The recipe:
- **sharded initialisation**: `eqx.filter_eval_shape` gives the model's shapes without
  building it; a rule turns shapes into shardings; `eqx.filter_jit(make_model,
  out_shardings=shardings)` then builds it so that each device materialises only its
  own shard (the whole model never exists on one device);
- `eqx.filter_jit(step, in_shardings=..., out_shardings=...)`, with the same sharding
  PyTrees as prefixes, compiles the training step for that layout.

The run is checked against the same steps on one device.

    uv run python examples/fsdp.py [--quick]

Writes `fsdp_loss.png` to `--out` (default `$EQX_EXAMPLES_OUT`, else `examples/out/`).
The last line printed is `RESULT {json}`.
"""

import os

if "xla_force_host_platform_device_count" not in os.environ.get("XLA_FLAGS", ""):
    os.environ["XLA_FLAGS"] = (
        os.environ.get("XLA_FLAGS", "") + " --xla_force_host_platform_device_count=8"
    ).strip()

import argparse
import json
import pathlib
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np
import optax
from jax.sharding import Mesh, NamedSharding, PartitionSpec
from tqdm import tqdm

import eqx

P = PartitionSpec


def make_model(key: jax.Array) -> eqx.nn.MLP:
    return eqx.nn.MLP(16, 1, width_size=64, depth=3, key=key)


def fsdp_rule(mesh: Mesh) -> Any:
    """Shapes to shardings: split a matrix along the first axis the mesh divides."""
    size = mesh.devices.size

    def sharding(leaf: Any) -> Any:
        shape = getattr(leaf, "shape", None)
        if shape is not None and len(shape) >= 2:
            for axis, dim in enumerate(shape):
                if dim % size == 0:
                    return NamedSharding(mesh, P(*[None] * axis, "data"))
        return NamedSharding(mesh, P())  # biases, scalars: small, replicated

    return sharding


def loss_fn(model: eqx.nn.MLP, x: jax.Array, y: jax.Array) -> jax.Array:
    return jnp.mean((jax.vmap(model)(x) - y) ** 2)


def step(model, opt_state, x, y, optimiser):  # type: ignore[no-untyped-def]
    loss, grads = eqx.filter_value_and_grad(loss_fn)(model, x, y)
    updates, opt_state = optimiser.update(grads, opt_state, eqx.filter(model, eqx.is_array))
    return eqx.apply_updates(model, updates), opt_state, loss


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="a few steps, for smoke tests")
    parser.add_argument("--out", type=pathlib.Path, default=None)
    args = parser.parse_args()
    steps = 20 if args.quick else 300
    default_out = pathlib.Path(__file__).parent / "out"
    out = args.out or pathlib.Path(os.environ.get("EQX_EXAMPLES_OUT", default_out))
    out.mkdir(parents=True, exist_ok=True)

    mesh = Mesh(np.array(jax.devices()), ("data",))
    data = NamedSharding(mesh, P("data"))
    rule = fsdp_rule(mesh)
    optimiser = optax.adam(3e-3)
    key = jax.random.key(0)

    # Shardings from shapes alone: nothing is allocated yet.
    abstract_model = eqx.filter_eval_shape(make_model, key)
    model_shardings = jax.tree.map(rule, abstract_model)
    abstract_state = eqx.filter_eval_shape(
        lambda m: optimiser.init(eqx.filter(m, eqx.is_array)), abstract_model
    )
    state_shardings = jax.tree.map(rule, abstract_state)

    # Sharded initialisation: each device computes and keeps only its shard.
    model = eqx.filter_jit(make_model, out_shardings=model_shardings)(key)
    opt_state = eqx.filter_jit(
        lambda m: optimiser.init(eqx.filter(m, eqx.is_array)), out_shardings=state_shardings
    )(model)

    sharded_step = eqx.filter_jit(
        step,
        in_shardings=((model_shardings, state_shardings, data, data, None), {}),
        out_shardings=(model_shardings, state_shardings, None),
    )

    rng = np.random.default_rng(0)
    true_w = rng.normal(size=16).astype(np.float32)
    batches = []
    for _ in range(steps):
        x = rng.normal(size=(64, 16)).astype(np.float32)
        batches.append((x, np.sin(x @ true_w)[:, None]))

    losses = []
    for x, y in tqdm(batches, desc="fsdp", unit="step"):
        model, opt_state, loss = sharded_step(
            model, opt_state, *eqx.filter_device_put((x, y), data), optimiser
        )
        losses.append(float(loss))

    # The same training on one device.
    reference = make_model(key)
    reference_state = optimiser.init(eqx.filter(reference, eqx.is_array))
    one_device = eqx.filter_jit(step)
    for x, y in batches:
        reference, reference_state, _ = one_device(reference, reference_state, x, y, optimiser)
    matches = all(
        np.allclose(a, b, rtol=1e-4, atol=1e-5)
        for a, b in zip(
            jax.tree.leaves(eqx.filter(model, eqx.is_array)),
            jax.tree.leaves(eqx.filter(reference, eqx.is_array)),
            strict=True,
        )
    )

    arrays = jax.tree.leaves(eqx.filter((model, opt_state), eqx.is_array))
    total = sum(a.nbytes for a in arrays)
    on_device_0 = sum(
        s.data.nbytes for a in arrays for s in a.addressable_shards if s.device == jax.devices()[0]
    )
    print(f"parameters + optimiser state: {total} bytes; device 0 holds {on_device_0}")

    import matplotlib.pyplot as plt

    figure, axes = plt.subplots(figsize=(5, 3))
    axes.plot(losses)
    axes.set(xlabel="step", ylabel="loss", yscale="log", title="FSDP over 8 devices")
    figure.tight_layout()
    plot = out / "fsdp_loss.png"
    figure.savefig(plot, dpi=100)

    result = {
        "num_devices": jax.device_count(),
        "first_weight_sharded_over": len(model.layers[0].weight.sharding.device_set),
        "device_0_fraction": round(on_device_0 / total, 3),
        "matches_one_device": bool(matches),
        "loss_decreased": losses[-1] < losses[0],
        "plot": str(plot),
    }
    print("RESULT " + json.dumps(result))


if __name__ == "__main__":
    main()
