"""A small benchmark harness: eqx against plain JAX doing the same work, as ratios.

Every benchmark in `bench/` compares one eqx hot path with the nearest plain-JAX
equivalent, measured in the same process, interleaved (jax, eqx, jax, eqx, ..., jax)
so that drift in machine load hits both sides alike. The ratio is the median over
rounds of each eqx batch against the mean of the two jax batches around it: on a
shared, loaded machine that is far steadier than a ratio of two medians. Calls are made back to back, as a
training loop makes them; when the callables return JAX arrays, the harness blocks
once on the last result of each batch, never per call, so asynchronous dispatch is
measured the way users feel it.

Usage::

    from _harness import Comparison, report

    rows = [Comparison("tree_at 100 leaves", eqx_fn, jax_fn).run()]
    report("eqx-tree", rows)

Benchmarks measure; tests assert. Nothing here is a pass/fail threshold.

On a machine loaded by other work, wall-clock batches are inflated by preemption at
random (the same function timed against itself can read 0.5x or 2x). Set
`EQX_BENCH_CLOCK=cpu` to time with the process's CPU time instead: exact for
synchronous Python work under any load; for JAX dispatch it also counts the CPU time
of JAX's runtime threads.
"""

from __future__ import annotations

import dataclasses
import gc
import os
import statistics
import time
from collections.abc import Callable, Sequence
from typing import Any

import jax

__all__ = ["Comparison", "Result", "median_time", "report"]


def _block(value: Any) -> None:
    for leaf in jax.tree_util.tree_leaves(value):
        if isinstance(leaf, jax.Array):
            leaf.block_until_ready()


_CLOCK = time.process_time if os.environ.get("EQX_BENCH_CLOCK") == "cpu" else time.perf_counter


def _batch_time(fn: Callable[[], Any], number: int) -> float:
    """Seconds per call over `number` back-to-back calls, blocking once at the end."""
    start = _CLOCK()
    out = None
    for _ in range(number):
        out = fn()
    _block(out)
    return (_CLOCK() - start) / number


def _calibrate(fn: Callable[[], Any], target_s: float) -> int:
    number = 1
    while True:
        elapsed = _batch_time(fn, number) * number
        if elapsed >= target_s / 10 or number >= 1_000_000:
            return max(1, int(number * (target_s / max(elapsed, 1e-9)) / 10) or 1)
        number *= 4


def median_time(fn: Callable[[], Any], *, repeat: int = 15, target_s: float = 0.05) -> float:
    """Median seconds per call of `fn` (warmed up, calibrated batch size)."""
    _block(fn())
    number = _calibrate(fn, target_s)
    return statistics.median(_batch_time(fn, number) for _ in range(repeat))


@dataclasses.dataclass(frozen=True)
class Result:
    name: str
    eqx_s: float
    jax_s: float
    paired_ratio: float | None = None  # median of per-round ratios, when measured so

    @property
    def ratio(self) -> float:
        if self.paired_ratio is not None:
            return self.paired_ratio
        return self.eqx_s / self.jax_s


@dataclasses.dataclass(frozen=True)
class Comparison:
    """One eqx callable against the plain-JAX callable that does the same work."""

    name: str
    eqx_fn: Callable[[], Any]
    jax_fn: Callable[[], Any]
    repeat: int = 15
    target_s: float = 0.05

    def run(self) -> Result:
        _block(self.eqx_fn())
        _block(self.jax_fn())
        n_eqx = _calibrate(self.eqx_fn, self.target_s)
        n_jax = _calibrate(self.jax_fn, self.target_s)
        gc_was_enabled = gc.isenabled()
        gc.disable()
        try:
            # jax, eqx, jax, eqx, ..., jax: each eqx batch sits between two jax batches.
            eqx_times, jax_times = [], [_batch_time(self.jax_fn, n_jax)]
            for _ in range(self.repeat):
                eqx_times.append(_batch_time(self.eqx_fn, n_eqx))
                jax_times.append(_batch_time(self.jax_fn, n_jax))
        finally:
            if gc_was_enabled:
                gc.enable()
        ratios = [
            eqx / ((before + after) / 2)
            for eqx, before, after in zip(eqx_times, jax_times, jax_times[1:], strict=False)
        ]
        return Result(
            self.name,
            statistics.median(eqx_times),
            statistics.median(jax_times),
            statistics.median(ratios),
        )


def _fmt(seconds: float) -> str:
    if seconds < 1e-3:
        return f"{seconds * 1e6:9.2f} µs"
    return f"{seconds * 1e3:9.2f} ms"


def report(title: str, results: Sequence[Result]) -> str:
    """Print (and return) a Markdown table of the results."""
    lines = [
        f"### {title}",
        "",
        f"JAX {jax.__version__}, backend {jax.default_backend()}; medians, same process; "
        "ratio: median over rounds of eqx against the plain-JAX batches around it.",
        "",
        "| benchmark | eqx | plain JAX | ratio |",
        "|---|---:|---:|---:|",
    ]
    for r in results:
        lines.append(f"| {r.name} | {_fmt(r.eqx_s)} | {_fmt(r.jax_s)} | {r.ratio:5.2f}× |")
    text = "\n".join(lines)
    print(text, flush=True)
    return text
