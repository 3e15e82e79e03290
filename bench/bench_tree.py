"""eqx-tree hot paths against plain `jax.tree_util` doing the nearest equivalent work.

On trees of 10, 100 and 1000 leaves (a dict of lists of small arrays):
- `tree_at` replacing one leaf vs flatten + replace one leaf by index + unflatten;
- `tree_equal` on two equal trees of NumPy arrays vs flatten both, compare treedefs,
  then `np.array_equal` leaf by leaf (both decided without JAX, returning `True`);
- `tree_flatten_one_level` + unflatten of the root vs `tree_flatten` + `tree_unflatten`
  of the whole tree (tree_at's building block against JAX's full flatten).

Run: `uv run python bench/bench_tree.py`.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).parent))

import jax.tree_util as jtu
import numpy as np
from _harness import Comparison, Result, report

import eqx_tree


def make_tree(num_leaves: int) -> dict[str, list[np.ndarray]]:
    """`num_leaves` small arrays in lists of 10 under string keys."""
    groups = max(1, num_leaves // 10)
    per_group = num_leaves // groups
    return {
        f"group{g}": [np.full((4,), float(g * per_group + i), np.float32) for i in range(per_group)]
        for g in range(groups)
    }


def bench_tree_at(num_leaves: int) -> Result:
    tree = make_tree(num_leaves)
    last_key = f"group{len(tree) - 1}"
    new = np.zeros((4,), np.float32)
    last_index = num_leaves - 1

    def eqx_fn() -> Any:
        return eqx_tree.tree_at(lambda t: t[last_key][-1], tree, new)

    def jax_fn() -> Any:
        leaves, treedef = jtu.tree_flatten(tree)
        leaves[last_index] = new
        return jtu.tree_unflatten(treedef, leaves)

    assert eqx_tree.tree_equal(eqx_fn(), jax_fn()) is True
    return Comparison(f"tree_at, one leaf of {num_leaves}", eqx_fn, jax_fn).run()


def bench_tree_equal(num_leaves: int) -> Result:
    a = make_tree(num_leaves)
    b = jtu.tree_map(np.copy, a)

    def eqx_fn() -> Any:
        return eqx_tree.tree_equal(a, b)

    def jax_fn() -> Any:
        leaves_a, treedef_a = jtu.tree_flatten(a)
        leaves_b, treedef_b = jtu.tree_flatten(b)
        if treedef_a != treedef_b:
            return False
        return all(
            x.shape == y.shape and x.dtype == y.dtype and np.array_equal(x, y)
            for x, y in zip(leaves_a, leaves_b, strict=True)
        )

    assert eqx_fn() is True
    assert jax_fn() is True
    return Comparison(f"tree_equal, {num_leaves} NumPy leaves", eqx_fn, jax_fn).run()


def bench_flatten_one_level(num_leaves: int) -> Result:
    tree = make_tree(num_leaves)

    def eqx_fn() -> Any:
        children, treedef = eqx_tree.tree_flatten_one_level(tree)
        return jtu.tree_unflatten(treedef, children)

    def jax_fn() -> Any:
        leaves, treedef = jtu.tree_flatten(tree)
        return jtu.tree_unflatten(treedef, leaves)

    return Comparison(f"flatten_one_level+unflatten, {num_leaves}", eqx_fn, jax_fn).run()


def main() -> None:
    rows = []
    for num_leaves in (10, 100, 1000):
        rows.append(bench_tree_at(num_leaves))
        rows.append(bench_tree_equal(num_leaves))
        rows.append(bench_flatten_one_level(num_leaves))
    report("eqx-tree", rows)


if __name__ == "__main__":
    main()
