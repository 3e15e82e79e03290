"""Run every `bench/bench_*.py` in turn (each is also runnable alone).

uv run python bench/run_all.py            # everything
uv run python bench/run_all.py tree jit   # only files whose name contains a word

Each file prints its results as Markdown tables, the form `docs/performance.md` keeps.
"""

from __future__ import annotations

import pathlib
import runpy
import sys

HERE = pathlib.Path(__file__).parent


def main(words: list[str]) -> None:
    sys.path.insert(0, str(HERE))
    for path in sorted(HERE.glob("bench_*.py")):
        if words and not any(w in path.stem for w in words):
            continue
        print(f"\n## {path.stem}\n", flush=True)
        sys.argv = [str(path)]  # each file runs with its defaults, not our filter words
        runpy.run_path(str(path), run_name="__main__")


if __name__ == "__main__":
    main(sys.argv[1:])
