"""Model-scale costs: eqx Modules against the same model as a dict of arrays.

Models (small widths: the leaf structure, not the FLOPs, is what costs Python time):
- a GPT-2-small-shaped transformer from `eqx.nn`: token and position embeddings,
  12 pre-LayerNorm blocks (multi-head attention with biases, an MLP), a final
  LayerNorm and an unembedding: 200 array leaves, width 64, 16 tokens;
- a 1,000-leaf model: `eqx.nn.MLP` of depth 499 (500 Linear layers), width 8.

(The training loops of `examples/` themselves are timed by `bench_examples.py`.)

The plain-JAX side holds the very same arrays as a flat `{"blocks.0.attn.query_proj.
weight": array, ...}` dict (what a plain-JAX user keeps), or as nested dicts that mirror
the Module tree (`{"blocks": {"0": {"attn": {...}}}}`: the structurally same plain-JAX
model, rows marked "nested"), and rebuilds the Module from it inside the traced
function, so both sides compile to the same computation and differ only in the Python
work around it. Rows:

- construction: building the model from a key (eqx: the Module's `__init__`; plain:
  the same eqx constructor, then `tree_to_flat_dict`): the cost of Module construction
  relative to the array initialisation both share;
- flatten+unflatten: `jax.tree_util` on the Module against the dict; dicts flatten in
  C++, a Module node costs one Python callback each way. The "floor" row is the
  cheapest Python-callback node with the Module tree's node structure (a `__slots__`
  class holding its children tuple and aux data; `_MinimalNode`) against the nested
  dict: what any Python-level PyTree node pays, however it is written;
- dispatch: `filter_jit` of an already-compiled forward pass against `jax.jit`;
- training step: one AdamW step (`optax.adamw`) with `filter_value_and_grad` under
  `filter_jit`, as in `examples/`, against `jax.value_and_grad` under `jax.jit`; the
  ratio of times is the inverse of the ratio of steps/s.

Run: `uv run python bench/bench_scale.py`.
"""

from __future__ import annotations

import operator
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).parent))

import jax
import jax.numpy as jnp
import jax.random as jr
import jax.tree_util as jtu
import optax
from _harness import Comparison, Result, report

import eqx_filter
import eqx_module
import eqx_nn
import eqx_tree

WIDTH, HEADS, TOKENS, VOCAB, BLOCKS = 64, 4, 16, 256, 12


class Block(eqx_module.Module):
    norm1: eqx_nn.LayerNorm
    attn: eqx_nn.MultiheadAttention
    norm2: eqx_nn.LayerNorm
    mlp: eqx_nn.MLP

    def __init__(self, key: jax.Array) -> None:
        k1, k2 = jr.split(key)
        self.norm1 = eqx_nn.LayerNorm(WIDTH)
        bias = {f"use_{n}_bias": True for n in ("query", "key", "value", "output")}
        self.attn = eqx_nn.MultiheadAttention(HEADS, WIDTH, **bias, key=k1)
        self.norm2 = eqx_nn.LayerNorm(WIDTH)
        self.mlp = eqx_nn.MLP(WIDTH, WIDTH, 4 * WIDTH, 1, activation=jax.nn.gelu, key=k2)

    def __call__(self, x: jax.Array) -> jax.Array:
        y = jax.vmap(self.norm1)(x)
        x = x + self.attn(y, y, y)
        return x + jax.vmap(self.mlp)(jax.vmap(self.norm2)(x))


class GPT(eqx_module.Module):
    tokens: eqx_nn.Embedding
    positions: jax.Array
    blocks: tuple[Block, ...]
    norm: eqx_nn.LayerNorm
    unembed: eqx_nn.Linear

    def __init__(self, key: jax.Array) -> None:
        keys = jr.split(key, BLOCKS + 3)
        self.tokens = eqx_nn.Embedding(VOCAB, WIDTH, key=keys[0])
        self.positions = 0.02 * jr.normal(keys[1], (TOKENS, WIDTH))
        self.blocks = tuple(Block(k) for k in keys[3:])
        self.norm = eqx_nn.LayerNorm(WIDTH)
        self.unembed = eqx_nn.Linear(WIDTH, VOCAB, use_bias=False, key=keys[2])

    def __call__(self, ids: jax.Array) -> jax.Array:
        x = jax.vmap(self.tokens)(ids) + self.positions
        for block in self.blocks:
            x = block(x)
        return jax.vmap(self.unembed)(jax.vmap(self.norm)(x))


def make_gpt() -> tuple[Any, Any, Any]:
    ids = jr.randint(jr.key(1), (TOKENS,), 0, VOCAB)
    targets = jnp.roll(ids, -1)

    def loss(model: GPT, ids: jax.Array, targets: jax.Array) -> jax.Array:
        logits = model(ids)
        return optax.softmax_cross_entropy_with_integer_labels(logits, targets).mean()

    return GPT(jr.key(0)), (ids, targets), loss


def make_deep_mlp() -> tuple[Any, Any, Any]:
    model = eqx_nn.MLP(8, 8, 8, 499, key=jr.key(0))
    x, y = jnp.ones((4, 8)), jnp.zeros((4, 8))

    def loss(model: eqx_nn.MLP, x: jax.Array, y: jax.Array) -> jax.Array:
        return jnp.mean((jax.vmap(model)(x) - y) ** 2)

    return model, (x, y), loss


def as_plain(model: Any) -> tuple[dict[str, jax.Array], Callable[[dict[str, jax.Array]], Any]]:
    """The model's arrays as a flat dict, and how to rebuild the Module from one."""
    arrays, static = eqx_filter.partition(model, eqx_filter.is_array)
    flat = eqx_tree.tree_to_flat_dict(arrays)

    def rebuild(params: dict[str, jax.Array]) -> Any:
        return eqx_filter.combine(eqx_tree.tree_from_flat_dict(arrays, params), static)

    return flat, rebuild


def _as_nested(model: Any) -> tuple[dict[str, Any], Callable[[dict[str, Any]], Any]]:
    """The model's arrays as nested dicts mirroring the Module tree, and how to rebuild it."""
    flat, rebuild_flat = as_plain(model)
    nested: dict[str, Any] = {}
    for path, array in flat.items():
        *parents, name = path.split(".")
        node = nested
        for part in parents:
            node = node.setdefault(part, {})
        node[name] = array

    def rebuild(params: dict[str, Any]) -> Any:
        def walk(node: dict[str, Any], prefix: str) -> dict[str, jax.Array]:
            out: dict[str, jax.Array] = {}
            for name, value in node.items():
                path = prefix + name
                out.update(walk(value, path + ".") if type(value) is dict else {path: value})
            return out

        return rebuild_flat(walk(params, ""))

    return nested, rebuild


class _MinimalNode:
    """The cheapest Python-callback PyTree node: it keeps its children and aux as given."""

    __slots__ = ("aux", "children")

    def __init__(self, children: tuple[Any, ...], aux: Any) -> None:
        self.children = children
        self.aux = aux


jtu.register_pytree_node(
    _MinimalNode, lambda node: (node.children, node.aux), lambda aux, c: _MinimalNode(c, aux)
)


def _as_minimal_nodes(tree: Any) -> Any:
    """`tree` with every Module replaced by a `_MinimalNode` of the same children and aux."""

    def convert(x: Any) -> Any:
        if not isinstance(x, eqx_module.Module):
            return x
        children, treedef = jtu.tree_flatten(x, is_leaf=lambda child: child is not x)
        _, aux = treedef.node_data()
        return _MinimalNode(tuple(map(_as_minimal_nodes, children)), aux)

    return jtu.tree_map(convert, tree, is_leaf=lambda x: isinstance(x, eqx_module.Module))


def _train_steps(loss: Callable[..., jax.Array], rebuild: Callable[..., Any]) -> tuple[Any, Any]:
    optimiser = optax.adamw(1e-3)

    @eqx_filter.filter_jit
    def eqx_step(model: Any, opt_state: Any, *batch: Any) -> tuple[Any, Any, jax.Array]:
        value, grads = eqx_filter.filter_value_and_grad(loss)(model, *batch)
        params = eqx_filter.filter(model, eqx_filter.is_inexact_array)
        updates, opt_state = optimiser.update(grads, opt_state, params)
        return eqx_tree.apply_updates(model, updates), opt_state, value

    @jax.jit
    def plain_step(params: Any, opt_state: Any, *batch: Any) -> tuple[Any, Any, jax.Array]:
        value, grads = jax.value_and_grad(lambda p: loss(rebuild(p), *batch))(params)
        updates, opt_state = optimiser.update(grads, opt_state, params)
        return optax.apply_updates(params, updates), opt_state, value

    return (optimiser, eqx_step), plain_step


def bench_training(
    name: str, model: Any, batch: tuple[Any, ...], loss: Any, *, nested: bool = False
) -> Result:
    """Steps of a training loop: the model and optimiser state carried from step to step."""
    flat, rebuild = _as_nested(model) if nested else as_plain(model)
    (optimiser, eqx_step), plain_step = _train_steps(loss, rebuild)
    eqx_state = [model, optimiser.init(eqx_filter.filter(model, eqx_filter.is_inexact_array))]
    plain_state = [flat, optimiser.init(flat)]

    def eqx_fn() -> Any:
        eqx_state[0], eqx_state[1], value = eqx_step(*eqx_state, *batch)
        return value

    def plain_fn() -> Any:
        plain_state[0], plain_state[1], value = plain_step(*plain_state, *batch)
        return value

    # Same numbers from both after the first step (the compiled maths is the same).
    assert jnp.allclose(eqx_step(*eqx_state, *batch)[2], plain_step(*plain_state, *batch)[2])
    label = f"training step (AdamW), {name}" + (", vs nested dict" if nested else "")
    return Comparison(label, eqx_fn, plain_fn).run()


def bench_model(name: str, make: Callable[[], tuple[Any, Any, Any]]) -> list[Result]:
    model, batch, loss = make()
    flat, rebuild = as_plain(model)
    leaves = len(flat)
    label = f"{name} ({leaves} arrays)"

    def forward(model: Any, *batch: Any) -> jax.Array:
        return loss(model, *batch)

    eqx_forward = eqx_filter.filter_jit(forward)
    plain_forward = jax.jit(lambda params, *batch: loss(rebuild(params), *batch))
    assert jnp.allclose(eqx_forward(model, *batch), plain_forward(flat, *batch))
    nested, rebuild_nested = _as_nested(model)
    nested_forward = jax.jit(lambda params, *batch: loss(rebuild_nested(params), *batch))
    assert jnp.allclose(eqx_forward(model, *batch), nested_forward(nested, *batch))
    minimal = _as_minimal_nodes(model)
    assert all(map(operator.is_, jtu.tree_leaves(minimal), jtu.tree_leaves(model)))

    def roundtrip(tree: Any) -> Any:
        children, treedef = jtu.tree_flatten(tree)
        return jtu.tree_unflatten(treedef, children)

    constructor = type(model) if name.startswith("GPT") else None

    def eqx_construct() -> Any:
        return constructor(jr.key(0)) if constructor else make()[0]

    def plain_construct() -> Any:
        return eqx_tree.tree_to_flat_dict(eqx_filter.filter(eqx_construct(), eqx_filter.is_array))

    return [
        Comparison(
            f"construction, {label}", eqx_construct, plain_construct, repeat=5, target_s=0.3
        ).run(),
        Comparison(
            f"flatten+unflatten, {label}", lambda: roundtrip(model), lambda: roundtrip(flat)
        ).run(),
        Comparison(
            f"flatten+unflatten, {label}, vs nested dict",
            lambda: roundtrip(model),
            lambda: roundtrip(nested),
        ).run(),
        Comparison(
            f"flatten+unflatten floor: minimal Python nodes vs nested dict, {label}",
            lambda: roundtrip(minimal),
            lambda: roundtrip(nested),
        ).run(),
        Comparison(
            f"filter_jit dispatch, {label}",
            lambda: eqx_forward(model, *batch),
            lambda: plain_forward(flat, *batch),
        ).run(),
        Comparison(
            f"filter_jit dispatch, {label}, vs nested dict",
            lambda: eqx_forward(model, *batch),
            lambda: nested_forward(nested, *batch),
        ).run(),
        bench_training(label, model, batch, loss),
        bench_training(label, model, batch, loss, nested=True),
    ]


def main() -> None:
    rows = bench_model("GPT-2-shaped, 12 blocks", make_gpt)
    rows += bench_model("MLP depth 499", make_deep_mlp)
    report("model scale", rows)


if __name__ == "__main__":
    main()
