"""Masks from field metadata and from selections drive optax: frozen leaves never move.

The worked answer to "AdamW still decays my frozen weights": partition the model with
the trainable mask, so the optimiser only ever sees trainable leaves; decay is masked
separately by the `WEIGHT_DECAY` metadata.
"""

from typing import Any

import jax
import jax.numpy as jnp
import jax.random as jr
import jax.tree_util as jtu
import numpy as np
import optax

from eqx_filter import combine, filter, filter_grad, filter_jit, filter_make_jaxpr, partition
from eqx_module import TRAINABLE, WEIGHT_DECAY, Module, field, field_mask, freeze
from eqx_nn import MLP, Linear
from eqx_tree import apply_updates, is_inexact_array, tree_at, tree_select


class Net(Module):
    embed: jax.Array = field(metadata={TRAINABLE: False})
    hidden: Linear
    head: Linear

    def __call__(self, x: jax.Array) -> jax.Array:
        return self.head(jax.nn.tanh(self.hidden(x + self.embed)))


def _net() -> Net:
    k1, k2, k3 = jr.split(jr.key(0), 3)
    return Net(jr.normal(k1, (4,)), Linear(4, 8, key=k2), Linear(8, 2, key=k3))


def _data() -> tuple[jax.Array, jax.Array]:
    return jr.normal(jr.key(1), (16, 4)), jr.normal(jr.key(2), (16, 2))


def _loss(model: Any, x: jax.Array, y: jax.Array) -> jax.Array:
    return jnp.mean((jax.vmap(model)(x) - y) ** 2)


def _train(model: Any, trainable: Any, steps: int = 100) -> tuple[Any, list[float]]:
    """AdamW with weight decay on the trainable leaves only; decay masked by metadata."""
    params, static = partition(model, trainable)
    decay = field_mask(model, WEIGHT_DECAY, True)
    optimiser = optax.adamw(1e-2, weight_decay=0.5, mask=filter(decay, trainable))
    opt_state = optimiser.init(params)
    x, y = _data()

    @filter_jit
    def step(params: Any, opt_state: Any) -> tuple[Any, Any, jax.Array]:
        loss, grads = jax.value_and_grad(lambda p: _loss(combine(p, static), x, y))(params)
        with jax.numpy_dtype_promotion("standard"):  # optax is not clean under strict
            updates, opt_state = optimiser.update(grads, opt_state, params)
        return apply_updates(params, updates), opt_state, loss

    losses = []
    for _ in range(steps):
        params, opt_state, loss = step(params, opt_state)
        losses.append(float(loss))
    return combine(params, static), losses


def _assert_moved_exactly(before: Any, after: Any, trainable: Any) -> None:
    for was, now, train in zip(
        jtu.tree_leaves(before), jtu.tree_leaves(after), jtu.tree_leaves(trainable), strict=True
    ):
        if train:
            assert not np.array_equal(was, now)
        else:  # bit-identical, not merely close
            assert np.asarray(was).tobytes() == np.asarray(now).tobytes()


def test_adamw_leaves_metadata_frozen_leaves_bit_identical_after_100_steps() -> None:
    model = _net()
    trainable = field_mask(model, TRAINABLE, True, only=is_inexact_array)
    assert jtu.tree_leaves(trainable) == [False, True, True, True, True]
    trained, losses = _train(model, trainable)
    _assert_moved_exactly(model, trained, trainable)
    assert losses[-1] < losses[0]


def test_a_frozen_copy_of_one_layer_stays_put() -> None:
    model = tree_at(lambda m: m.hidden, _net(), replace_fn=freeze)
    trainable = field_mask(model, TRAINABLE, True, only=is_inexact_array)
    assert jtu.tree_leaves(trainable) == [False, False, False, True, True]
    trained, _ = _train(model, trainable)
    _assert_moved_exactly(model, trained, trainable)


def test_the_same_with_a_selection_mask() -> None:
    model = MLP(4, 2, 8, 2, key=jr.key(3))
    trainable = tree_select(model).at(lambda m: m.layers[-1]).mask(only=is_inexact_array)
    # Leaves: four of the first two layers, two of the last, then the two activations.
    assert jtu.tree_leaves(trainable) == [False] * 4 + [True, True] + [False, False]
    trained, losses = _train(model, trainable)
    _assert_moved_exactly(model, trained, trainable)
    assert losses[-1] < losses[0]


def test_multi_transform_labels_from_the_mask_freeze_without_partitioning() -> None:
    model = _net()
    params = filter(model, is_inexact_array)
    trainable = field_mask(model, TRAINABLE, True, only=is_inexact_array)
    labels = jtu.tree_map(lambda t: "train" if t else "freeze", trainable)
    # A Module is callable, and optax calls a callable `labels`: wrap the tree in a lambda.
    optimiser = optax.multi_transform(
        {"train": optax.adamw(1e-2, weight_decay=0.5), "freeze": optax.set_to_zero()},
        lambda params: labels,
    )
    opt_state = optimiser.init(params)
    x, y = _data()
    grad_fn = filter_jit(filter_grad(lambda m: _loss(m, x, y)))
    trained = model
    for _ in range(100):
        grads = grad_fn(trained)
        with jax.numpy_dtype_promotion("standard"):  # optax is not clean under strict
            updates, opt_state = optimiser.update(
                grads, opt_state, filter(trained, is_inexact_array)
            )
        trained = apply_updates(trained, updates)
    _assert_moved_exactly(model, trained, trainable)


def test_weight_decay_metadata_reaches_adamw() -> None:
    class Decayed(Module):
        w: jax.Array
        b: jax.Array = field(metadata={WEIGHT_DECAY: False})

    model = Decayed(jnp.ones(3), jnp.ones(3))
    mask = field_mask(model, WEIGHT_DECAY, True)
    optimiser = optax.adamw(0.1, weight_decay=0.5, mask=mask)
    # Zero gradients: only weight decay can move anything.
    zeros = jtu.tree_map(jnp.zeros_like, model)
    with jax.numpy_dtype_promotion("standard"):  # optax is not clean under strict
        updates, _ = optimiser.update(zeros, optimiser.init(model), model)
    np.testing.assert_allclose(updates.w, -0.1 * 0.5 * np.ones(3), rtol=1e-6)
    assert np.array_equal(updates.b, np.zeros(3))


def test_partitioned_gradients_of_frozen_leaves_are_not_computed() -> None:
    model = MLP(4, 2, 8, 2, key=jr.key(3))
    model = tree_at(lambda m: m.layers[0], model, replace_fn=freeze)
    trainable = field_mask(model, TRAINABLE, True, only=is_inexact_array)
    params, static = partition(model, trainable)
    x, y = _data()

    def loss(p: Any) -> jax.Array:
        return _loss(combine(p, static), x, y)

    grads = filter_grad(loss)(params)
    assert grads.layers[0].weight is None and grads.layers[0].bias is None

    def dot_count(fn: Any, arg: Any) -> int:
        jaxpr = filter_make_jaxpr(fn)(arg)[0]
        return str(jaxpr).count("dot_general")

    arrays, rest = partition(model, is_inexact_array)
    full = dot_count(filter_grad(lambda a: _loss(combine(a, rest), x, y)), arrays)
    partitioned = dot_count(filter_grad(loss), params)
    # Freezing the first layer drops its weight gradient and the gradient flowing into it.
    assert full - partitioned == 2
