"""Tests for `Shared`: tied weights, gradients on the source, optax updates."""

import dataclasses

import jax
import jax.numpy as jnp
import jax.random as jr
import numpy as np
import optax
import pytest

import eqx_filter
import eqx_nn
import eqx_tree
from eqx_module import Module


class Tied(Module):
    """An embedding whose matrix doubles as the output projection's weight."""

    shared: eqx_nn.Shared

    def __init__(self, key: jax.Array) -> None:
        ekey, lkey = jr.split(key)
        embedding = eqx_nn.Embedding(5, 3, key=ekey)
        head = eqx_nn.Linear(3, 5, use_bias=False, key=lkey)
        self.shared = eqx_nn.Shared(
            (embedding, head), where=lambda p: p[1].weight, get=lambda p: p[0].weight
        )

    def __call__(self, token: jax.Array) -> jax.Array:
        embedding, head = self.shared()
        return head(jnp.tanh(embedding(token)))


def _hand_tied_loss(weight: jax.Array, token: jax.Array) -> jax.Array:
    # The same model in plain JAX, with one matrix used twice.
    return jnp.sum(weight @ jnp.tanh(weight[token]) * jnp.arange(5.0))


def _loss(model: Tied, token: jax.Array) -> jax.Array:
    return jnp.sum(model(token) * jnp.arange(5.0))


def test_fields_are_pytree_where_get() -> None:
    model = Tied(jr.key(0))
    assert [f.name for f in dataclasses.fields(model.shared)] == ["pytree", "where", "get"]


def test_stored_tree_holds_a_placeholder_instead_of_the_destination() -> None:
    shared = Tied(jr.key(0)).shared
    placeholder = shared.pytree[1].weight
    assert not eqx_tree.is_array(placeholder)
    assert type(placeholder).__name__ == "SharedNode"
    arrays = [x for x in jax.tree_util.tree_leaves(shared) if eqx_tree.is_array(x)]
    assert len(arrays) == 1


def test_call_reinserts_the_source_at_the_destination() -> None:
    embedding, head = Tied(jr.key(0)).shared()
    assert head.weight is embedding.weight


def test_gradients_of_tied_weights_are_the_sum_of_both_uses() -> None:
    model = Tied(jr.key(0))
    token = jnp.array(2)
    grads = eqx_filter.filter_grad(_loss)(model, token)
    weight = model.shared()[0].weight
    expected = jax.grad(_hand_tied_loss)(weight, token)
    assert np.allclose(grads.shared.pytree[0].weight, expected, atol=1e-6)
    # And it is not just the head's use.
    head_only = jax.grad(
        lambda w: jnp.sum(w @ jnp.tanh(jax.lax.stop_gradient(w)[token]) * jnp.arange(5.0))
    )(weight)
    assert not np.allclose(grads.shared.pytree[0].weight, head_only, atol=1e-3)


def test_tied_weights_stay_identical_after_an_optax_update() -> None:
    model = Tied(jr.key(0))
    optimiser = optax.adam(1e-1)
    opt_state = optimiser.init(eqx_filter.filter(model, eqx_tree.is_array))
    token = jnp.array(1)
    for _ in range(2):
        grads = eqx_filter.filter_grad(_loss)(model, token)
        # optax's bias correction mixes a Python float with an int32 count.
        with jax.numpy_dtype_promotion("standard"):
            updates, opt_state = optimiser.update(grads, opt_state)
        model = eqx_tree.apply_updates(model, updates)
    embedding, head = model.shared()
    assert np.array_equal(embedding.weight, head.weight)
    assert not np.allclose(embedding.weight, Tied(jr.key(0)).shared()[0].weight)


def test_tuples_tie_several_pairs() -> None:
    a = eqx_nn.Linear(2, 2, key=jr.key(0))
    b = eqx_nn.Linear(2, 2, key=jr.key(1))
    shared = eqx_nn.Shared(
        (a, b),
        where=lambda p: (p[1].weight, p[1].bias),
        get=lambda p: (p[0].weight, p[0].bias),
    )
    new_a, new_b = shared()
    assert new_b.weight is new_a.weight
    assert new_b.bias is new_a.bias


def test_mismatched_structures_raise_showing_both() -> None:
    a = eqx_nn.Linear(2, 3, key=jr.key(0))
    with pytest.raises(
        ValueError,
        match=r"(?s)Every node being shared together must have the same pytree structure.*"
        r"f32\[3\].*f32\[3,2\]",
    ):
        eqx_nn.Shared(a, where=lambda m: m.bias, get=lambda m: m.weight)


def test_shared_under_filter_jit_matches_eager() -> None:
    model = Tied(jr.key(0))
    token = jnp.array(3)
    assert np.allclose(eqx_filter.filter_jit(_loss)(model, token), _loss(model, token))


def test_mismatched_shapes_name_both_paths_in_the_pytree() -> None:
    a = eqx_nn.Linear(2, 3, key=jr.key(0))
    b = eqx_nn.Linear(3, 2, key=jr.key(1))
    with pytest.raises(
        ValueError,
        match=r"Every node being shared together must have the same pytree structure.*"
        r"`where` picks `\[1\]\.weight` of float32\[2, 3\] but `get` picks `\[0\]\.weight` of "
        r"float32\[3, 2\]",
    ):
        eqx_nn.Shared((a, b), where=lambda p: p[1].weight, get=lambda p: p[0].weight)


def test_mismatched_dtypes_name_the_first_differing_leaf_of_whole_layers() -> None:
    a = eqx_nn.Linear(2, 2, key=jr.key(0))
    b = eqx_nn.Linear(2, 2, dtype=jnp.float16, key=jr.key(0))
    with pytest.raises(
        ValueError,
        match=r"`where` picks `\[1\]\.weight` of float16\[2, 2\] but `get` picks "
        r"`\[0\]\.weight` of float32\[2, 2\]",
    ):
        eqx_nn.Shared((a, b), where=lambda p: p[1], get=lambda p: p[0])


def test_mismatched_structures_list_the_paths_each_side_picks() -> None:
    a = eqx_nn.Linear(2, 2, key=jr.key(0))
    b = eqx_nn.Linear(2, 2, key=jr.key(1))
    with pytest.raises(
        ValueError,
        match=r"`where` picks 2 leaves \(\[1\]\.weight, \[1\]\.bias\) but `get` picks 1 "
        r"\(\[0\]\.weight\), in different structures",
    ):
        eqx_nn.Shared((a, b), where=lambda p: (p[1].weight, p[1].bias), get=lambda p: p[0].weight)


def test_mismatch_from_a_computing_selector_falls_back_to_result_paths() -> None:
    a = eqx_nn.Linear(2, 2, key=jr.key(0))
    with pytest.raises(
        ValueError,
        match=r"`where` picks `\.weight` of float32\[2, 2\] but `get` picks a result "
        r"of float32\[1, 2\]",
    ):
        eqx_nn.Shared(a, where=lambda m: m.weight, get=lambda m: m.weight[:1])


def test_call_accepts_and_ignores_a_key() -> None:
    shared = Tied(jr.key(0)).shared
    embedding, head = shared(key=jr.key(1))
    assert head.weight is embedding.weight


def test_shared_is_generic_so_it_can_annotate_a_field() -> None:
    pair = (eqx_nn.Linear(2, 2, key=jr.key(0)), eqx_nn.Linear(2, 2, key=jr.key(1)))

    class Holder(Module):
        shared: eqx_nn.Shared[tuple[eqx_nn.Linear, eqx_nn.Linear]]

    alias = eqx_nn.Shared[tuple[eqx_nn.Linear, eqx_nn.Linear]]
    holder = Holder(alias(pair, lambda p: p[1].weight, lambda p: p[0].weight))
    assert type(holder.shared) is eqx_nn.Shared
    _, second = holder.shared()
    np.testing.assert_array_equal(second.weight, pair[0].weight)
    np.testing.assert_array_equal(second.bias, pair[1].bias)
