"""Tests for `inference_mode`."""

import jax.random as jr
import pytest

import eqx_filter
import eqx_nn
import eqx_tree
from eqx_module import Module


class Block(Module):
    dropout: eqx_nn.Dropout
    attention: eqx_nn.MultiheadAttention
    linear: eqx_nn.Linear


class WithFlag(Module):
    inference: bool
    inner: eqx_nn.Dropout


def _block() -> Block:
    k1, k2 = jr.split(jr.key(0))
    return Block(
        eqx_nn.Dropout(0.5),
        eqx_nn.MultiheadAttention(2, 4, dropout_p=0.1, key=k1),
        eqx_nn.Linear(2, 2, key=k2),
    )


def test_sets_every_inference_flag_including_nested_dropout_of_attention() -> None:
    block = eqx_nn.inference_mode(_block())
    assert block.dropout.inference is True
    assert block.attention.dropout.inference is True


def test_value_false_switches_back_to_training() -> None:
    block = eqx_nn.inference_mode(eqx_nn.inference_mode(_block()), value=False)
    assert block.dropout.inference is False
    assert block.attention.dropout.inference is False


def test_root_is_included_and_matches_are_recursed_into() -> None:
    tree = WithFlag(False, eqx_nn.Dropout(0.5))
    new = eqx_nn.inference_mode(tree)
    assert new.inference is True
    assert new.inner.inference is True
    assert tree.inference is False  # input untouched


def test_runs_no_init() -> None:
    class Checked(Module):
        inference: bool

        def __check_init__(self) -> None:
            if self.inference:
                raise AssertionError("__check_init__ ran")

    assert eqx_nn.inference_mode(Checked(False)).inference is True


def test_tree_without_flags_is_returned_unchanged() -> None:
    linear = eqx_nn.Linear(2, 2, key=jr.key(0))
    assert eqx_tree.tree_equal(eqx_nn.inference_mode(linear), linear)


def test_works_on_partitioned_trees_with_none_leaves() -> None:
    block = _block()
    params, static = eqx_filter.partition(block, eqx_tree.is_array)
    # `p` of the attention's dropout is a float, so the array half holds None for it,
    # and every `inference` flag is None there.
    new_params = eqx_nn.inference_mode(params)
    assert new_params.dropout.inference is True
    new_static = eqx_nn.inference_mode(static)
    assert new_static.attention.dropout.inference is True
    combined = eqx_filter.combine(new_params, new_static)
    assert combined.dropout.inference is True


def test_dropout_is_identity_in_inference_mode() -> None:
    dropout = eqx_nn.inference_mode(eqx_nn.Dropout(0.9))
    x = jr.normal(jr.key(0), (4,))
    assert (dropout(x) == x).all()
    with pytest.raises(RuntimeError, match="Dropout requires a key"):
        eqx_nn.inference_mode(dropout, value=False)(x)
