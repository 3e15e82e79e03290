"""A first model in eqx: define it, call it, differentiate it, change it.

The one idea behind eqx: **a model is a PyTree**. A `eqx.Module` is a frozen dataclass
whose fields (arrays, other Modules, lists of layers, functions, numbers) are the
branches and leaves of a PyTree. So a model can go through `jax.jit`, `jax.grad`,
`jax.vmap` and `jax.tree_util` like any tuple of arrays, and the filtered
transformations (`eqx.filter_jit`, `eqx.filter_grad`, ...) make that convenient when
some leaves are not arrays (see `filtering.py`).

This model holds only arrays, so plain `jax.jit(jax.grad(loss))` differentiates it and
one SGD step is a `jax.tree_util.tree_map` over the model and its gradients.

Run it with

    uv run python examples/quickstart.py [--quick]

The last line printed is `RESULT {json}` with the facts the script checked.
"""

import argparse
import json

import jax
import jax.numpy as jnp

import eqx


class Dense(eqx.Module):
    """A hand-written layer: two array fields, so two leaves in the PyTree."""

    weight: jax.Array
    bias: jax.Array

    def __init__(self, in_size: int, out_size: int, *, key: jax.Array) -> None:
        # Inside __init__ fields are assigned once; after it the instance is frozen.
        self.weight = jax.random.normal(key, (out_size, in_size)) / jnp.sqrt(in_size)
        self.bias = jnp.zeros(out_size)

    def __call__(self, x: jax.Array) -> jax.Array:
        return self.weight @ x + self.bias


class Model(eqx.Module):
    """Layers in a list: any PyTree can be a field. Every leaf here is an array."""

    layers: list[Dense]

    def __init__(self, sizes: list[int], *, key: jax.Array) -> None:
        keys = jax.random.split(key, len(sizes) - 1)
        self.layers = [
            Dense(n_in, n_out, key=k)
            for n_in, n_out, k in zip(sizes[:-1], sizes[1:], keys, strict=True)
        ]

    def __call__(self, x: jax.Array) -> jax.Array:
        for layer in self.layers[:-1]:
            x = jax.nn.tanh(layer(x))
        return self.layers[-1](x)


def loss_fn(model: Model, x: jax.Array, y: jax.Array) -> jax.Array:
    # Models act on one example; `jax.vmap` maps them over the batch dimension.
    return jnp.mean((jax.vmap(model)(x) - y) ** 2)


# The model is a PyTree of arrays, so plain JAX transformations take it as it is:
# `jax.grad` returns a `Model` holding the gradient of every array.
grad_fn = jax.jit(jax.grad(loss_fn))


def sgd_step(model: Model, x: jax.Array, y: jax.Array, learning_rate: float) -> Model:
    grads = grad_fn(model, x, y)
    return jax.tree_util.tree_map(lambda p, g: p - learning_rate * g, model, grads)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="fewer steps, for smoke tests")
    args = parser.parse_args()
    steps = 50 if args.quick else 500

    model_key, data_key = jax.random.split(jax.random.key(0))
    model = Model([3, 16, 16, 1], key=model_key)
    print(model)  # Modules print as a tree: arrays are shown by dtype and shape

    # It's a PyTree: JAX's tree utilities see its six arrays.
    arrays = [leaf for leaf in jax.tree_util.tree_leaves(model) if eqx.is_array(leaf)]
    num_parameters = sum(leaf.size for leaf in arrays)
    print(f"{len(arrays)} arrays, {num_parameters} parameters")

    x = jax.random.normal(data_key, (64, 3))
    y = jnp.sin(x.sum(axis=1, keepdims=True))
    single_output = model(x[0])
    grads = grad_fn(model, x, y)

    loss_before = float(loss_fn(model, x, y))
    for _ in range(steps):
        model = sgd_step(model, x, y, 0.1)  # one SGD step: `tree_map` over model and grads
    loss_after = float(loss_fn(model, x, y))
    print(f"loss {loss_before:.4f} -> {loss_after:.4f} after {steps} SGD steps")

    # Models are immutable: `tree_at` returns a new model with one part replaced.
    smaller = Dense(16, 1, key=jax.random.key(1))
    edited = eqx.tree_at(lambda m: m.layers[-1], model, smaller)
    replaced = edited.layers[-1] is smaller and model.layers[-1] is not smaller
    print(f"replaced the last layer in a copy, the original is untouched: {replaced}")

    result = {
        "output_shape": list(single_output.shape),
        "num_arrays": len(arrays),
        "num_parameters": num_parameters,
        "grads_are_a_model": isinstance(grads, Model),
        "loss_before": loss_before,
        "loss_after": loss_after,
        "loss_decreased": loss_after < loss_before,
        "tree_at_replaced": replaced,
    }
    print("RESULT " + json.dumps(result))


if __name__ == "__main__":
    main()
