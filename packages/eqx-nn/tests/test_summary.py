"""`tree_summary` against hand counts on an MLP, a CNN and a transformer-like block."""

import jax
import jax.numpy as jnp
import jax.random as jr
import pytest

from eqx_filter import filter_eval_shape
from eqx_module import TRAINABLE, Module, field_mask, tree_summary
from eqx_nn import MLP, Conv2d, LayerNorm, Linear, MultiheadAttention, apply_lora
from eqx_tree import TreeSize, tree_at, tree_select


class CNN(Module):
    conv1: Conv2d
    conv2: Conv2d
    head: Linear

    def __init__(self, key: jax.Array) -> None:
        k1, k2, k3 = jr.split(key, 3)
        self.conv1 = Conv2d(3, 8, 3, key=k1)
        self.conv2 = Conv2d(8, 16, 3, use_bias=False, key=k2)
        self.head = Linear(16, 10, key=k3)


class Block(Module):
    norm1: LayerNorm
    attention: MultiheadAttention
    norm2: LayerNorm
    mlp: MLP

    def __init__(self, dim: int, heads: int, key: jax.Array) -> None:
        k1, k2 = jr.split(key)
        self.norm1 = LayerNorm(dim)
        self.attention = MultiheadAttention(heads, dim, key=k1)
        self.norm2 = LayerNorm(dim)
        self.mlp = MLP(dim, dim, 4 * dim, 1, key=k2)


def test_mlp_counts_by_hand() -> None:
    summary = tree_summary(MLP(5, 3, 7, 2, key=jr.key(0)))
    expected = (5 * 7 + 7) + (7 * 7 + 7) + (7 * 3 + 3)
    assert summary.total == TreeSize(expected, 4 * expected)
    assert summary.by_module == {"Linear": summary.total}
    assert summary.trainable == summary.total and summary.frozen == TreeSize(0, 0)
    assert [row.path for row in summary.rows][:2] == [".layers[0].weight", ".layers[0].bias"]
    assert summary.rows[0].shape == (7, 5) and summary.rows[0].params == 35


def test_cnn_counts_by_hand_with_mixed_dtypes() -> None:
    model = CNN(jr.key(0))
    model = tree_at(
        lambda m: m.head,
        model,
        replace_fn=lambda head: jax.tree.map(lambda x: x.astype(jnp.bfloat16), head),
    )
    summary = tree_summary(model)
    conv = (8 * 3 * 3 * 3 + 8) + 16 * 8 * 3 * 3
    head = 16 * 10 + 10
    assert summary.by_module == {
        "Conv2d": TreeSize(conv, 4 * conv),
        "Linear": TreeSize(head, 2 * head),
    }
    assert summary.by_dtype == {
        "float32": TreeSize(conv, 4 * conv),
        "bfloat16": TreeSize(head, 2 * head),
    }
    assert summary.total == TreeSize(conv + head, 4 * conv + 2 * head)


def test_transformer_block_counts_by_hand() -> None:
    dim, heads = 16, 4
    summary = tree_summary(Block(dim, heads, jr.key(0)))
    norms = 2 * (dim + dim)  # weight and bias each
    attention = 4 * dim * dim  # q, k, v, o projections, no biases by default
    mlp = (dim * 4 * dim + 4 * dim) + (4 * dim * dim + dim)
    assert summary.by_module["LayerNorm"].params == norms
    # The attention's arrays live in its Linear projections, as do the MLP's.
    assert set(summary.by_module) == {"LayerNorm", "Linear"}
    assert summary.by_module["Linear"].params == attention + mlp
    assert summary.total.params == norms + attention + mlp


def test_lora_summary_splits_trainable_and_frozen() -> None:
    base = MLP(6, 4, 8, 1, key=jr.key(0))
    adapted = apply_lora(base, rank=2, key=jr.key(1))
    summary = tree_summary(adapted)
    adapters = (2 * 6 + 8 * 2) + (2 * 8 + 4 * 2)
    assert summary.trainable.params == adapters
    assert summary.frozen.params == tree_summary(base).total.params
    assert summary.by_module["LoRALinear"].params == adapters


def test_abstract_and_concrete_trees_give_the_same_table() -> None:
    concrete = Block(8, 2, jr.key(0))
    abstract = filter_eval_shape(Block, 8, 2, jr.key(0))
    assert str(tree_summary(abstract)) == str(tree_summary(concrete))
    assert tree_summary(abstract).rows == tree_summary(concrete).rows


def test_table_shows_rows_and_totals() -> None:
    text = str(tree_summary(apply_lora(MLP(2, 2, 4, 1, key=jr.key(0)), rank=1, key=jr.key(1))))
    assert ".layers[0].lora_a" in text and "LoRALinear" in text
    frozen = (2 * 4 + 4) + (4 * 2 + 2)  # the two Linears
    adapters = (1 * 2 + 4 * 1) + (1 * 4 + 2 * 1)  # A is (rank, in), B is (out, rank)
    assert (frozen, adapters) == (22, 12)
    assert "total: 34 (136 B); trainable: 12 (48 B); frozen: 22 (88 B)" in text


def test_a_mask_that_is_not_a_prefix_names_the_path() -> None:
    model = MLP(2, 2, 4, 1, key=jr.key(0))
    bad = tree_select(model).mask()
    bad = tree_at(lambda m: m.layers, bad, [True])
    with pytest.raises(
        ValueError, match=r"not a prefix of the tree at \.layers: the tree has tuple"
    ):
        tree_summary(model, trainable=bad)
    with pytest.raises(TypeError, match=r"mask has str 'yes' at \.layers\[0\]\.weight"):
        tree_summary(
            model,
            trainable=tree_at(
                lambda m: m.layers[0].weight, field_mask(model, TRAINABLE, True), "yes"
            ),
        )
