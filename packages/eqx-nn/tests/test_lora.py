"""`LoRALinear`, `apply_lora` and `merge_lora`: exact no-op at init, merge, errors."""

import jax
import jax.numpy as jnp
import jax.random as jr
import jax.tree_util as jtu
import numpy as np
import pytest

from eqx_filter import combine, filter_grad, partition
from eqx_module import TRAINABLE, field_mask, freeze
from eqx_nn import MLP, Conv1d, Linear, LoRALinear, apply_lora, merge_lora
from eqx_tree import tree_at, tree_equal, tree_select


class ScaledLinear(Linear):
    """A Linear subclass, as downstream code defines them."""


def _trained(layer: LoRALinear) -> LoRALinear:
    """The adapter after some training: B no longer zero."""
    return tree_at(lambda lora: lora.lora_b, layer, jr.normal(jr.key(7), layer.lora_b.shape))


def test_initial_outputs_are_identical_and_only_the_adapter_trains() -> None:
    linear = Linear(5, 3, key=jr.key(0))
    layer = LoRALinear(linear, rank=2, key=jr.key(1))
    x = jr.normal(jr.key(2), (5,))
    assert jnp.array_equal(layer(x), linear(x))
    assert layer.lora_a.shape == (2, 5) and layer.lora_b.shape == (3, 2)
    assert jtu.tree_leaves(field_mask(layer, TRAINABLE, True)) == [False, False, True, True]


def test_adapters_inside_a_frozen_model_still_train_until_frozen_themselves() -> None:
    adapted = apply_lora(freeze(MLP(3, 2, 4, 1, key=jr.key(0))), rank=1, key=jr.key(1))
    # Leaves: per layer linear.weight, linear.bias, lora_a, lora_b; then two activations.
    mask = jtu.tree_leaves(field_mask(adapted, TRAINABLE, True))
    assert mask == [False, False, True, True] * 2 + [False, False]
    assert not any(jtu.tree_leaves(field_mask(freeze(adapted), TRAINABLE, True)))


def test_forward_is_the_low_rank_update_by_hand() -> None:
    layer = _trained(LoRALinear(Linear(4, 3, key=jr.key(0)), rank=2, alpha=6.0, key=jr.key(1)))
    x = jr.normal(jr.key(2), (4,))
    a, b = np.asarray(layer.lora_a, np.float64), np.asarray(layer.lora_b, np.float64)
    w, bias = np.asarray(layer.linear.weight, np.float64), np.asarray(layer.linear.bias, np.float64)
    expected = w @ np.asarray(x, np.float64) + bias + 3.0 * b @ (a @ np.asarray(x, np.float64))
    np.testing.assert_allclose(layer(x), expected, rtol=1e-5, atol=1e-6)


def test_merge_equals_the_adapted_layer_and_is_a_plain_linear() -> None:
    layer = _trained(LoRALinear(Linear(6, 4, key=jr.key(0)), rank=3, key=jr.key(1)))
    merged = layer.merge()
    assert type(merged) is Linear
    x = jr.normal(jr.key(2), (6,))
    np.testing.assert_allclose(merged(x), layer(x), rtol=1e-5, atol=1e-6)
    assert merged.bias is layer.linear.bias


def test_scalar_features_and_subclasses() -> None:
    layer = _trained(LoRALinear(ScaledLinear("scalar", 3, key=jr.key(0)), rank=1, key=jr.key(1)))
    assert layer(jnp.asarray(2.0)).shape == (3,)
    assert type(layer.merge()) is ScaledLinear
    np.testing.assert_allclose(layer.merge()(jnp.asarray(2.0)), layer(jnp.asarray(2.0)), rtol=1e-5)
    out_scalar = _trained(LoRALinear(Linear(3, "scalar", key=jr.key(0)), rank=1, key=jr.key(1)))
    assert out_scalar(jnp.ones(3)).shape == ()


def test_apply_lora_adapts_every_linear_including_subclasses() -> None:
    model = [MLP(3, 2, 4, 1, key=jr.key(0)), ScaledLinear(2, 2, key=jr.key(1))]
    adapted = apply_lora(model, rank=1, key=jr.key(2))
    paths = tree_select(adapted).at_instances_of(LoRALinear).paths()
    assert [jtu.keystr(p) for p in paths] == ["[0].layers[0]", "[0].layers[1]", "[1]"]
    x = jnp.ones(3)
    assert jnp.array_equal(adapted[0](x), model[0](x))
    # Different keys per layer; merging gives the original layers back (B is zero).
    assert not jnp.array_equal(adapted[0].layers[1].lora_a[:, :2], adapted[1].lora_a)
    assert tree_equal(merge_lora(adapted), model)
    # Adapting again adds nothing: every Linear is already inside an adapter.
    with pytest.raises(ValueError, match=r"no eqx\.nn\.Linear outside existing LoRALinear"):
        apply_lora(adapted, rank=1, key=jr.key(3))


def test_apply_lora_to_a_selection() -> None:
    model = MLP(3, 2, 4, 2, key=jr.key(0))
    first = tree_select(model).at(lambda m: m.layers[0])
    adapted = apply_lora(first, rank=2, key=jr.key(1))
    assert isinstance(adapted.layers[0], LoRALinear)
    assert [type(layer) for layer in adapted.layers[1:]] == [Linear, Linear]


def test_gradients_reach_only_the_adapter_through_partitioned_training() -> None:
    layer = LoRALinear(Linear(3, 2, key=jr.key(0)), rank=1, key=jr.key(1))
    mask = field_mask(layer, TRAINABLE, True)

    def loss(model: LoRALinear) -> jax.Array:
        return jnp.sum(model(jnp.ones(3)) ** 2)

    params, static = partition(layer, mask)
    grads = filter_grad(lambda p: loss(combine(p, static)))(params)
    assert grads.linear.weight is None and grads.linear.bias is None
    assert grads.lora_b.shape == (2, 1) and bool(jnp.any(grads.lora_b != 0))


@pytest.mark.usefixtures("not_under_import_hook")
def test_bad_inputs_name_the_argument_or_path() -> None:
    with pytest.raises(TypeError, match=r"`linear` argument is a Conv1d"):
        LoRALinear(Conv1d(1, 1, 3, key=jr.key(0)), rank=1, key=jr.key(1))  # type: ignore[arg-type]
    linear = Linear(5, 3, key=jr.key(0))
    for rank in (0, -1, 4):
        with pytest.raises(
            ValueError, match=rf"`rank` must be between 1 and .*= 3; got rank={rank}"
        ):
            LoRALinear(linear, rank=rank, key=jr.key(1))
    with pytest.raises(TypeError, match=r"`rank` must be an int; got 2\.0"):
        LoRALinear(linear, rank=2.0, key=jr.key(1))  # type: ignore[arg-type]
    with pytest.raises(ValueError, match=r"the Linear at \[1\]: LoRALinear: `rank` must be"):
        apply_lora([Linear(8, 8, key=jr.key(0)), linear], rank=4, key=jr.key(1))
    conv_selection = tree_select([linear, Conv1d(1, 1, 3, key=jr.key(0))]).at(lambda t: t[1])
    with pytest.raises(TypeError, match=r"node at \[1\] is a Conv1d, not an eqx.nn.Linear"):
        apply_lora(conv_selection, rank=1, key=jr.key(1))
    with pytest.raises(ValueError, match="nothing would be adapted"):
        apply_lora([Conv1d(1, 1, 3, key=jr.key(0))], rank=1, key=jr.key(1))
