# pyright: reportUnnecessaryTypeIgnoreComment=error
"""Type-checking fixture for freezing, selections, LoRA and summaries (only checked).

    .venv/bin/mypy tests/typing
    .venv/bin/basedpyright tests/typing

The functions that return "the same kind of tree" keep the caller's type, so an
adapted or frozen model is still typed as the model.
"""

from __future__ import annotations

from typing import Literal, assert_type

import jax

import eqx

linear = eqx.nn.Linear(3, 2, key=jax.random.key(0))
mlp = eqx.nn.MLP(3, 2, 4, 1, key=jax.random.key(0))

assert_type(eqx.freeze(linear), eqx.nn.Linear)
assert_type(eqx.nn.apply_lora(mlp, 1, key=jax.random.key(1)), eqx.nn.MLP)
assert_type(eqx.nn.merge_lora(mlp), eqx.nn.MLP)
assert_type(eqx.nn.LoRALinear(linear, 1, key=jax.random.key(1)).merge(), eqx.nn.Linear)
assert_type(eqx.tree_summary(mlp), eqx.TreeSummary)
assert_type(eqx.tree_summary(mlp).total, eqx.TreeSize)
assert_type(eqx.tree_size(mlp).params, int)
assert_type(eqx.tree_select(mlp).at_instances_of(eqx.nn.Linear), eqx.TreeSelection)
assert_type(eqx.TRAINABLE, Literal["trainable"])

eqx.field_mask(mlp, 3, True)  # type: ignore[arg-type]
eqx.nn.LoRALinear(linear, 1)  # type: ignore[call-arg]
