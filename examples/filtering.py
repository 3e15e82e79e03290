"""Filtering: split a model into the parts you want to transform and the rest.

A model mixes arrays with things JAX cannot trace (activation functions, layer sizes,
flags). eqx handles that with *filtering*:

- `eqx.filter(tree, spec)` keeps the leaves `spec` picks and puts `None` elsewhere;
- `eqx.partition(tree, spec)` gives both halves at once, `eqx.combine` glues them back;
- a `spec` is a predicate (`eqx.is_array`, `eqx.is_inexact_array`, ...) or a PyTree of
  booleans shaped like the model, which lets you pick individual parameters.

This script shows the uses that come up most: looking at the halves, the two routes to
differentiate a model that holds a Python function (`partition`/`combine` around plain
`jax.jit`/`jax.grad`, or `eqx.filter_jit`/`eqx.filter_grad`, which give the same
gradients), freezing part of a model during training, and what `eqx.filter_jit` traces
versus what it treats as static (and so what makes it recompile).

Run it with

    uv run python examples/filtering.py [--quick]

The last line printed is `RESULT {json}` with the facts the script checked.
"""

import argparse
import json

import jax
import jax.numpy as jnp
import numpy as np

import eqx


def show_partition(model: eqx.nn.MLP) -> int:
    """Split the model into its floating-point arrays and everything else."""
    params, static = eqx.partition(model, eqx.is_inexact_array)
    num_param_leaves = len(jax.tree_util.tree_leaves(params))
    print(f"float arrays: {num_param_leaves} leaves; the rest (static half):")
    print(static)  # the arrays are `None` here; the activation function remains
    # `combine` takes the first non-None value at every position: the model is back.
    assert bool(eqx.tree_equal(eqx.combine(params, static), model))
    return num_param_leaves


def last_layer_only(model: eqx.nn.MLP) -> eqx.nn.MLP:
    """A filter spec: a tree of booleans shaped like `model`, True where we train."""
    spec = jax.tree_util.tree_map(lambda _: False, model)
    last = lambda m: (m.layers[-1].weight, m.layers[-1].bias)
    return eqx.tree_at(last, spec, replace=(True, True))


def loss_fn(trainable: eqx.nn.MLP, frozen: eqx.nn.MLP, x: jax.Array, y: jax.Array) -> jax.Array:
    model = eqx.combine(trainable, frozen)
    return jnp.mean((jax.vmap(model)(x) - y) ** 2)


@eqx.filter_jit
def train_step(
    model: eqx.nn.MLP, spec: eqx.nn.MLP, x: jax.Array, y: jax.Array
) -> tuple[eqx.nn.MLP, jax.Array]:
    # Only the first argument of `filter_value_and_grad` is differentiated, so we put
    # the trainable half there; the frozen half gets no gradient and no update.
    trainable, frozen = eqx.partition(model, spec)
    loss, grads = eqx.filter_value_and_grad(loss_fn)(trainable, frozen, x, y)
    updates = jax.tree_util.tree_map(lambda g: -0.1 * g, grads)
    return eqx.combine(eqx.apply_updates(trainable, updates), frozen), loss


def count_traces() -> tuple[int, int, int]:
    """`filter_jit` retraces only when the structure or a static value changes."""
    traces = 0

    @eqx.filter_jit
    def scale(x: jax.Array, factor: float) -> jax.Array:
        nonlocal traces
        traces += 1  # runs only while tracing, never when the compiled code runs
        return factor * x

    scale(jnp.arange(3.0), 2.0)
    scale(jnp.arange(3.0) + 1, 2.0)  # new values, same shape and dtype: no retrace
    same_shapes = traces
    scale(jnp.arange(3.0), 3.0)  # a Python float is static: a new value retraces
    new_static = traces
    scale(jnp.arange(4.0), 3.0)  # a new shape retraces too
    return same_shapes, new_static, traces


def mse(model: eqx.nn.MLP, x: jax.Array, y: jax.Array) -> jax.Array:
    return jnp.mean((jax.vmap(model)(x) - y) ** 2)


def two_routes(model: eqx.nn.MLP, x: jax.Array, y: jax.Array) -> bool:
    """The gradient of a model holding a function (its activation), computed two ways."""
    # Route 1, by hand: `jax.grad` sees only the arrays; the rest is a static argument
    # of `jax.jit` (a Module hashes by its leaves, so it can be one).
    params, static = eqx.partition(model, eqx.is_inexact_array)

    def loss_of_params(params: eqx.nn.MLP, static: eqx.nn.MLP) -> jax.Array:
        return mse(eqx.combine(params, static), x, y)

    grad_by_hand = jax.jit(jax.grad(loss_of_params), static_argnums=1)
    by_hand = grad_by_hand(params, static)

    # Route 2, filtered: the same split happens inside, at trace time.
    filtered = eqx.filter_jit(eqx.filter_grad(mse))(model, x, y)

    # Both are MLP-shaped trees with a gradient at every float array and None elsewhere.
    same_structure = jax.tree_util.tree_structure(by_hand) == jax.tree_util.tree_structure(filtered)
    same_values = all(
        np.allclose(a, b)
        for a, b in zip(
            jax.tree_util.tree_leaves(by_hand), jax.tree_util.tree_leaves(filtered), strict=True
        )
    )
    print(f"partition/combine + jax.grad and filter_grad agree: {same_structure and same_values}")
    return same_structure and same_values


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="fewer steps, for smoke tests")
    args = parser.parse_args()
    steps = 30 if args.quick else 300

    model_key, data_key = jax.random.split(jax.random.key(0))
    model = eqx.nn.MLP(2, 1, width_size=8, depth=2, key=model_key)
    num_param_leaves = show_partition(model)

    x = jax.random.normal(data_key, (64, 2))
    y = x[:, :1] * x[:, 1:]
    routes_agree = two_routes(model, x, y)
    spec = last_layer_only(model)
    trained = model
    losses = []
    for _ in range(steps):
        trained, loss = train_step(trained, spec, x, y)
        losses.append(float(loss))
    print(f"loss {losses[0]:.4f} -> {losses[-1]:.4f}, training only the last layer")

    frozen_unchanged = all(
        np.array_equal(before.weight, after.weight) and np.array_equal(before.bias, after.bias)
        for before, after in zip(model.layers[:-1], trained.layers[:-1], strict=True)
    )
    trainable_changed = not np.array_equal(model.layers[-1].weight, trained.layers[-1].weight)
    print(f"frozen layers unchanged: {frozen_unchanged}; last layer changed: {trainable_changed}")

    same_shapes, new_static, total = count_traces()
    print(f"traces: {same_shapes} for two calls with the same shapes, {total} in all")

    result = {
        "num_param_leaves": num_param_leaves,
        "grad_routes_agree": routes_agree,
        "first_loss": losses[0],
        "final_loss": losses[-1],
        "loss_decreased": losses[-1] < losses[0],
        "frozen_unchanged": frozen_unchanged,
        "trainable_changed": trainable_changed,
        "traces_same_shapes": same_shapes,
        "traces_after_new_static": new_static,
        "traces_after_new_shape": total,
    }
    print("RESULT " + json.dumps(result))


if __name__ == "__main__":
    main()
