"""`field_mask` from per-field metadata, and per-instance freezing with `freeze`."""

from typing import Any

import jax
import jax.numpy as jnp
import jax.tree_util as jtu
import pytest

from eqx_module import (
    BUFFER,
    TRAINABLE,
    WEIGHT_DECAY,
    Module,
    field,
    field_mask,
    freeze,
)
from eqx_tree import clear_caches, tree_equal


class Dense(Module):
    weight: jax.Array
    bias: jax.Array = field(metadata={WEIGHT_DECAY: False})
    name: str = field(static=True, default="dense")

    def __call__(self, x: jax.Array) -> jax.Array:
        return self.weight @ x + self.bias


class Model(Module):
    embed: jax.Array = field(metadata={TRAINABLE: False})
    layers: list[Dense]
    stats: dict[str, Any] = field(metadata={BUFFER: True})


def _model() -> Model:
    dense = Dense(jnp.ones((2, 2)), jnp.zeros(2))
    return Model(
        jnp.ones(3), [dense, Dense(2 * jnp.ones((2, 2)), jnp.ones(2))], {"n": jnp.zeros(())}
    )


def test_class_annotations_spread_over_their_subtree() -> None:
    model = _model()
    trainable = field_mask(model, TRAINABLE, default=True)
    assert jtu.tree_structure(trainable) == jtu.tree_structure(model)
    # Leaf order: embed, layers[0].weight, layers[0].bias, layers[1].weight, layers[1].bias, stats.n
    assert jtu.tree_leaves(trainable) == [False, True, True, True, True, True]
    assert jtu.tree_leaves(field_mask(model, WEIGHT_DECAY, True)) == [
        True,
        True,
        False,
        True,
        False,
        True,
    ]
    assert jtu.tree_leaves(field_mask(model, BUFFER, False)) == [False] * 5 + [True]


def test_nearest_annotation_wins() -> None:
    class Outer(Module):
        inner: Dense = field(metadata={WEIGHT_DECAY: True})
        frozen_inner: Dense = field(metadata={WEIGHT_DECAY: False})

    dense = Dense(jnp.ones((1, 1)), jnp.ones(1))
    mask = field_mask(Outer(dense, dense), WEIGHT_DECAY, default=False)
    # inner.bias is annotated False itself; frozen_inner.weight inherits False.
    assert jtu.tree_leaves(mask) == [True, False, False, False]


def test_freeze_marks_a_copy_and_changes_nothing_else() -> None:
    model = _model()
    frozen = Model(model.embed, [freeze(model.layers[0]), model.layers[1]], model.stats)
    assert jtu.tree_leaves(field_mask(frozen, TRAINABLE, True)) == [
        False,
        False,
        False,
        True,
        True,
        True,
    ]
    assert isinstance(frozen.layers[0], Dense)
    assert type(frozen.layers[0]).__name__ == "FrozenDense"
    assert tree_equal(jtu.tree_leaves(frozen), jtu.tree_leaves(model))
    x = jnp.arange(2.0)
    assert jnp.array_equal(frozen.layers[0](x), model.layers[0](x))
    # The original instance is untouched, freezing is idempotent, and static fields survive.
    assert jtu.tree_leaves(field_mask(model.layers[0], TRAINABLE, True)) == [True, True]
    assert type(freeze(frozen.layers[0])) is type(frozen.layers[0])
    clear_caches()  # the frozen classes are a registry: freezing again gives the same class
    assert type(freeze(model.layers[0])) is type(frozen.layers[0])
    assert frozen.layers[0].name == "dense"


def test_freeze_reaches_nested_modules_even_if_marked_trainable() -> None:
    class Wrapper(Module):
        inner: Dense = field(metadata={TRAINABLE: True})

    wrapper = freeze(Wrapper(Dense(jnp.ones((1, 1)), jnp.ones(1))))
    assert jtu.tree_leaves(field_mask(wrapper, TRAINABLE, True)) == [False, False]
    assert tree_equal(jax.jit(lambda w: w)(wrapper), wrapper)


@pytest.mark.usefixtures("not_under_import_hook")
def test_unknown_key_type_and_typos_are_errors() -> None:
    with pytest.raises(TypeError, match=r"`key` must be a str metadata key.*got int 3"):
        field_mask(_model(), 3, True)  # type: ignore[arg-type]
    with pytest.raises(ValueError, match=r"no field in the tree has the metadata key 'trainabel'"):
        field_mask(_model(), "trainabel", True)
    with pytest.raises(TypeError, match=r"`default` must be True or False; got int 1"):
        field_mask(_model(), TRAINABLE, 1)  # type: ignore[arg-type]


def test_custom_keys_and_non_bool_values() -> None:
    class Tagged(Module):
        a: jax.Array = field(metadata={"group": True})
        b: jax.Array = field(metadata={"lr_scale": 0.1})

    tagged = Tagged(jnp.ones(1), jnp.ones(1))
    assert jtu.tree_leaves(field_mask(tagged, "group", False)) == [True, False]
    with pytest.raises(TypeError, match=r"Tagged\.b` has metadata 'lr_scale': 0\.1"):
        field_mask(tagged, "lr_scale", True)
