"""What `import eqx` and `import eqx_tree` add to `import jax` (the floor).

Each row is the CPU time of one import statement run right after `import jax`, in a
fresh interpreter: `import jax` itself is the floor that every JAX library pays, so
only what eqx adds is reported. CPU time, because wall time on a shared machine swings
by several times while CPU time moves by ~10%; the minimum over fresh interpreters,
because an import does a fixed amount of work and anything above the minimum is
interference. Bytecode is cached first (one warm-up interpreter that may write
`__pycache__`, whatever `PYTHONDONTWRITEBYTECODE` says), as for any installed package.

`eqx_filter`'s and `eqx_nn`'s names load their modules on first use: the rows after
`import eqx` add the first use of `filter_pmap`, of `nn.Linear`, and of everything.

Run: `uv run python bench/bench_import.py [--runs N]`.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys

# (the statement timed after `import jax`, the target in ms or None)
ROWS: list[tuple[str, float | None]] = [
    ("import eqx_tree", 15.0),
    ("import eqx_module", None),
    ("import eqx", 50.0),
    ("import eqx; eqx.filter_pmap", None),
    ("import eqx; eqx.nn.Linear", None),
    ("import eqx; from eqx_filter import *; from eqx_nn import *", None),
]

_TIMER = """
import time
import jax
start = time.process_time()
{statement}
print(time.process_time() - start)
"""


def _environment() -> dict[str, str]:
    env = dict(os.environ)
    env.pop("PYTHONDONTWRITEBYTECODE", None)  # cached bytecode, as installed packages have
    return env


def import_cost(statement: str, runs: int) -> float:
    """Minimum CPU seconds of `statement` after `import jax`, over `runs` interpreters."""
    code = _TIMER.format(statement=statement)
    env = _environment()
    subprocess.run([sys.executable, "-c", code], env=env, check=True, capture_output=True)
    times = []
    for _ in range(runs):
        out = subprocess.run(
            [sys.executable, "-c", code], env=env, check=True, capture_output=True, text=True
        )
        times.append(float(out.stdout.split()[-1]))
    return min(times)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=7, help="fresh interpreters per row")
    args = parser.parse_args()
    print(f"CPU time after `import jax`, minimum of {args.runs} fresh interpreters\n")
    print("| import | added to `import jax` | target |")
    print("| --- | ---: | ---: |")
    for statement, target in ROWS:
        cost_ms = import_cost(statement, args.runs) * 1e3
        target_text = f"≤ {target:.0f} ms" if target is not None else "—"
        print(f"| `{statement}` | {cost_ms:.1f} ms | {target_text} |", flush=True)


if __name__ == "__main__":
    main()
