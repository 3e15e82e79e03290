"""Sharding and sharded checkpoints against plain JAX / plain Orbax doing the same work.

- `filter_jit(in_shardings=..., out_shardings=...)` dispatch of an already-compiled
  data-parallel forward pass (MLP Modules of depth 8 and 32, width 32; the model
  replicated, the batch split over every device) against `jax.jit` with the same
  shardings on the same arrays held as a plain PyTree;
- checkpoint write and read of the same arrays (16 float32 arrays, 16 MiB in all):
  `tree_save_orbax` / `tree_load_orbax` against Orbax used directly
  (`PyTreeCheckpointer`, the same arrays in a dict), and eqx's single-file
  `tree_save` / `tree_load` against the same Orbax baseline.

Run: `python bench/bench_sharding.py` (add `--quick` for a short smoke run). Run alone, it
asks XLA for 8 CPU devices; under `run_all.py` it uses the devices JAX already has.
"""

from __future__ import annotations

import os
import sys

if "jax" not in sys.modules and "xla_force_host_platform_device_count" not in os.environ.get(
    "XLA_FLAGS", ""
):
    os.environ["XLA_FLAGS"] = (
        os.environ.get("XLA_FLAGS", "") + " --xla_force_host_platform_device_count=8"
    ).strip()

import shutil
import tempfile
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np
from _harness import Comparison, Result, report
from bench_filter import MLP, WIDTH, as_plain, make_mlp, plain_forward
from jax.sharding import Mesh, NamedSharding, PartitionSpec

import eqx_filter
import eqx_tree


def batched_plain_forward(params: list[dict[str, jax.Array]], xs: jax.Array) -> jax.Array:
    return jax.vmap(plain_forward, in_axes=(None, 0))(params, xs)


def eqx_forward(model: MLP, xs: jax.Array) -> jax.Array:
    return jax.vmap(model)(xs)


def dispatch_rows(repeat: int, target_s: float) -> list[Result]:
    mesh = Mesh(np.array(jax.devices()), ("data",))
    replicated = NamedSharding(mesh, PartitionSpec())
    data = NamedSharding(mesh, PartitionSpec("data"))
    xs = jax.device_put(jnp.ones((4 * jax.device_count(), WIDTH)), data)
    rows = []
    for depth in (8, 32):
        model = eqx_filter.filter_device_put(make_mlp(depth, jax.random.key(0)), replicated)
        params = as_plain(model)
        eqx_fn = eqx_filter.filter_jit(
            eqx_forward, in_shardings=((replicated, data), None), out_shardings=data
        )
        jax_fn = jax.jit(batched_plain_forward, in_shardings=(replicated, data), out_shardings=data)
        rows.append(
            Comparison(
                f"filter_jit dispatch with in/out shardings, depth {depth}, "
                f"{jax.device_count()} devices",
                lambda eqx_fn=eqx_fn, model=model: eqx_fn(model, xs),
                lambda jax_fn=jax_fn, params=params: jax_fn(params, xs),
                repeat=repeat,
                target_s=target_s,
            ).run()
        )
    return rows


def checkpoint_rows(repeat: int, quick: bool) -> list[Result]:
    try:
        import orbax.checkpoint as ocp
    except ImportError:
        print("orbax-checkpoint is not installed: checkpoint rows skipped")
        return []
    n, size = (4, 256 * 1024) if quick else (16, 256 * 1024)  # float32: 1 MiB each
    tree = {f"w{i}": jnp.full((size,), float(i)) for i in range(n)}
    like = {k: jax.ShapeDtypeStruct(v.shape, v.dtype, sharding=v.sharding) for k, v in tree.items()}
    root = tempfile.mkdtemp(prefix="eqx_bench_")
    glue, direct, single = (os.path.join(root, n) for n in ("glue", "direct", "file.st"))
    checkpointer = ocp.PyTreeCheckpointer()
    restore_args = ocp.checkpoint_utils.construct_restore_args(like)

    def orbax_save() -> None:
        checkpointer.save(direct, tree, force=True)

    def orbax_load() -> Any:
        return checkpointer.restore(
            direct, args=ocp.args.PyTreeRestore(like, restore_args=restore_args)
        )

    def glue_save() -> None:
        eqx_tree.tree_save_orbax(glue, tree, overwrite=True)

    def glue_load() -> Any:
        return eqx_tree.tree_load_orbax(glue, like)

    def file_save() -> None:
        eqx_tree.tree_save(single, tree)

    def file_load() -> Any:
        return eqx_tree.tree_load(single, like)

    megabytes = n * size * 4 / 2**20
    rows = []
    try:
        for name, eqx_fn, jax_fn in [
            ("write: tree_save_orbax vs Orbax directly", glue_save, orbax_save),
            ("read: tree_load_orbax vs Orbax directly", glue_load, orbax_load),
            ("write: tree_save (one file) vs Orbax directly", file_save, orbax_save),
            ("read: tree_load (one file) vs Orbax directly", file_load, orbax_load),
        ]:
            rows.append(
                Comparison(
                    f"{name}, {megabytes:.0f} MiB", eqx_fn, jax_fn, repeat=repeat, target_s=0.0
                ).run()
            )
    finally:
        shutil.rmtree(root, ignore_errors=True)
    return rows


def main(quick: bool = False) -> list[Result]:
    repeat = 5 if quick else 15
    target_s = 0.01 if quick else 0.05
    results = dispatch_rows(repeat, target_s)
    results += checkpoint_rows(3 if quick else 7, quick)
    report("sharding and sharded checkpoints", results)
    return results


if __name__ == "__main__":
    main(quick="--quick" in sys.argv)
