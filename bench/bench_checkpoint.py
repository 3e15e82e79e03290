"""Checkpoint throughput: `tree_save` / `tree_load` against the `safetensors` library.

The same NumPy arrays (float32, 4 MiB each) are saved and loaded by both, interleaved
round by round (save, save, load, load; which library goes first alternates) so that load
on the machine hits both alike. Same durability on both sides: `tree_save` writes a
temporary file, fsyncs it, renames it and fsyncs the directory; the library's
`save_file` is followed by an fsync of the file. Loads read from the page cache (the
file was just written), so they measure the CPU cost: parsing, copying and, for eqx,
verifying every tensor's checksum (XXH3-64) and the header's. The ratio is eqx's
throughput over the library's (higher is better), the median over rounds.

Also reported: the peak extra memory `tree_save` allocates (tracemalloc), against the
largest single array: saving streams one leaf at a time.

Run:

    uv run python bench/bench_checkpoint.py [MB ...]      # default: 200 MB
    EQX_BENCH_CHECKPOINT_LARGE=1 uv run python bench/bench_checkpoint.py   # 200 MB, 2 GB

The 2 GB model needs ~8 GB of free memory (the model, a loaded copy on each side, page
cache) and ~4 GB of disk, so it runs only when asked. `EQX_BENCH_DIR` picks the folder
for the scratch files (default: a fresh folder in the working directory);
`EQX_BENCH_CLOCK=cpu` times CPU time instead of wall-clock time (see `_harness`).
"""

from __future__ import annotations

import os
import shutil
import statistics
import sys
import tempfile
import time
import tracemalloc
from collections.abc import Callable

import numpy as np
import safetensors.numpy as safetensors_numpy

import eqx_tree

_ARRAY_BYTES = 4 << 20


def make_tree(megabytes: int) -> dict[str, np.ndarray]:
    rng = np.random.default_rng(0)
    count = max(1, (megabytes << 20) // _ARRAY_BYTES)
    return {
        f"layer{i}": rng.standard_normal(_ARRAY_BYTES // 4, dtype=np.float32).reshape(1024, -1)
        for i in range(count)
    }


_CLOCK = time.process_time if os.environ.get("EQX_BENCH_CLOCK") == "cpu" else time.perf_counter
LARGE_MB = 2000


def _seconds(fn: Callable[[], object]) -> float:
    start = _CLOCK()
    fn()
    return _CLOCK() - start


def _safetensors_save(tree: dict[str, np.ndarray], path: str) -> None:
    safetensors_numpy.save_file(tree, path)
    descriptor = os.open(path, os.O_RDONLY)
    try:
        os.fsync(descriptor)
    finally:
        os.close(descriptor)


def _peak_save_bytes(tree: dict[str, np.ndarray], path: str) -> int:
    tracemalloc.start()
    try:
        tracemalloc.reset_peak()
        before = tracemalloc.get_traced_memory()[0]
        eqx_tree.tree_save(path, tree)
        return tracemalloc.get_traced_memory()[1] - before
    finally:
        tracemalloc.stop()


def bench(megabytes: int, directory: str, rounds: int) -> list[str]:
    tree = make_tree(megabytes)
    # Only the shapes and dtypes of `like` matter: zero-strided views take no memory.
    like = {name: np.broadcast_to(np.zeros((), a.dtype), a.shape) for name, a in tree.items()}
    total_mb = sum(array.nbytes for array in tree.values()) / 1e6
    ours, theirs = (
        os.path.join(directory, "eqx.safetensors"),
        os.path.join(directory, "st.safetensors"),
    )
    times: dict[str, list[float]] = {"eqx save": [], "st save": [], "eqx load": [], "st load": []}
    steps: dict[str, Callable[[], object]] = {
        "eqx save": lambda: eqx_tree.tree_save(ours, tree),
        "st save": lambda: _safetensors_save(tree, theirs),
        "eqx load": lambda: eqx_tree.tree_load(ours, like),
        "st load": lambda: safetensors_numpy.load_file(theirs),
    }
    order = list(steps)
    for _ in range(rounds + 1):  # the first round warms up (page cache, allocator)
        for name in order:
            times[name].append(_seconds(steps[name]))
        order = [order[1], order[0], order[3], order[2]]  # who goes first alternates
    loaded = eqx_tree.tree_load(ours, like)
    assert all(np.array_equal(loaded[k], tree[k]) for k in tree)
    rows = []
    for what in ("save", "load"):
        eqx_t, st_t = times[f"eqx {what}"][1:], times[f"st {what}"][1:]
        ratio = statistics.median(s / e for e, s in zip(eqx_t, st_t, strict=True))
        rows.append(
            f"| {what}, {total_mb:,.0f} MB ({len(tree)} arrays) | "
            f"{total_mb / statistics.median(eqx_t):,.0f} MB/s | "
            f"{total_mb / statistics.median(st_t):,.0f} MB/s | {ratio:.2f}× |"
        )
    peak = _peak_save_bytes(tree, ours)
    largest = max(array.nbytes for array in tree.values())
    rows.append(
        f"| peak extra memory during save, {total_mb:,.0f} MB | {peak / 1e6:.1f} MB | "
        f"largest array {largest / 1e6:.1f} MB | {peak / largest:.2f}× |"
    )
    return rows


def main(sizes: list[int]) -> None:
    # On the working disk, not /tmp (often RAM): the throughput must include a real disk.
    # A killed run may leave the folder behind; .gitignore keeps it out of commits.
    parent = os.environ.get("EQX_BENCH_DIR", os.getcwd())
    directory = tempfile.mkdtemp(prefix="eqx-bench-", dir=parent)
    try:
        rows = []
        for megabytes in sizes:
            rows += bench(megabytes, directory, rounds=5 if megabytes <= 500 else 3)
    finally:
        shutil.rmtree(directory)
    print(
        "### checkpoints\n\neqx throughput over the safetensors library's on the same arrays "
        "(median over interleaved rounds; higher is better).\n\n"
        "| benchmark | eqx | safetensors | ratio |\n|---|---:|---:|---:|\n" + "\n".join(rows),
        flush=True,
    )


if __name__ == "__main__":
    large = [LARGE_MB] if os.environ.get("EQX_BENCH_CHECKPOINT_LARGE") == "1" else []
    main([int(arg) for arg in sys.argv[1:]] or [200, *large])
