"""Run every `bench/bench_*.py` in turn, and optionally record the tables in the docs.

    uv run python bench/run_all.py                  # everything, printed
    uv run python bench/run_all.py tree filter      # only files whose name contains a word
    uv run python bench/run_all.py --write          # ... and update docs/benchmark-results.md
    uv run nox -s bench                             # the same as --write

Each file runs in a fresh interpreter, as a user's program would: no compilation cache,
device setting or allocation carries over from one benchmark to the next (the sharding
benchmark asks for 8 CPU devices, which only a fresh process can). Each prints its
results as Markdown tables, the form the docs keep.

`--write` replaces, in `docs/benchmark-results.md`, the tables of the files that ran,
inside the section of the backend they ran on (CPU, GPU, ...), stamped with the date, the
JAX version and the machine. A GPU run therefore adds a GPU section beside the CPU one
instead of replacing it, and a partial run refreshes only its own files' tables.
"""

from __future__ import annotations

import argparse
import datetime
import os
import platform
import re
import subprocess
import sys
from pathlib import Path

HERE = Path(__file__).parent
RESULTS = HERE.parent / "docs" / "benchmark-results.md"

_PREAMBLE = """\
# Benchmark results

The latest tables printed by `bench/`, one section per backend, written by
`uv run nox -s bench` (or `uv run python bench/run_all.py --write`). Every row is eqx
against plain JAX (or the named library) doing the same work, interleaved in one
process; read the ratio, not the absolute times, which belong to the machine named in
each stamp. [Performance](performance.md) explains the rows, the targets, and what
changed them.
"""

_SECTION = re.compile(r"^## backend: (?P<backend>\S+)$", re.MULTILINE)
_FILE = re.compile(r"<!-- bench:(?P<stem>\w+) -->\n(?P<body>.*?)<!-- /bench -->\n", re.DOTALL)


def _backend_and_machine() -> tuple[str, str]:
    """The default JAX backend and a one-line description of this machine, asked of a fresh
    interpreter so that this process never initialises JAX itself."""
    probe = (
        "import jax; d = jax.devices()[0]; "
        "print(jax.default_backend()); print(jax.__version__, len(jax.devices()), d.device_kind)"
    )
    out = subprocess.run(
        [sys.executable, "-c", probe], check=True, capture_output=True, text=True
    ).stdout.split("\n")
    backend = out[0].strip()
    version, count, kind = out[1].split(" ", 2)
    machine = (
        f"JAX {version}, {count} × {kind.strip()}, {os.cpu_count()} CPU cores, "
        f"Python {platform.python_version()}, {platform.system()}"
    )
    return backend, machine


def _run(path: Path) -> str:
    """Run one benchmark file in a fresh interpreter; echo and return what it printed."""
    print(f"\n## {path.stem}\n", flush=True)
    proc = subprocess.Popen(
        [sys.executable, str(path)], stdout=subprocess.PIPE, text=True, cwd=HERE.parent
    )
    assert proc.stdout is not None
    lines = []
    for line in proc.stdout:
        print(line, end="", flush=True)
        lines.append(line)
    if proc.wait() != 0:
        raise SystemExit(f"{path.name} failed (exit status {proc.returncode}); nothing written")
    return "".join(lines)


def _demote(text: str) -> str:
    """Tables' own `###` headings sit one level below the file headings of the results page."""
    return re.sub(r"^(#+) ", r"#\1 ", text, flags=re.MULTILINE)


def _parse(text: str) -> dict[str, dict[str, str]]:
    """{backend: {file stem: its block}} from an existing results page."""
    sections: dict[str, dict[str, str]] = {}
    matches = list(_SECTION.finditer(text))
    for i, match in enumerate(matches):
        end = matches[i + 1].start() if i + 1 < len(matches) else len(text)
        body = text[match.end() : end]
        sections[match["backend"]] = {m["stem"]: m["body"] for m in _FILE.finditer(body)}
    return sections


def _render(sections: dict[str, dict[str, str]]) -> str:
    parts = [_PREAMBLE]
    for backend in sorted(sections):
        parts.append(f"\n## backend: {backend}\n")
        for stem in sorted(sections[backend]):
            parts.append(f"\n<!-- bench:{stem} -->\n{sections[backend][stem]}<!-- /bench -->\n")
    return "".join(parts)


def write_results(outputs: dict[str, str], backend: str, machine: str) -> None:
    """Replace the blocks of the files that ran, in `backend`'s section of the results page."""
    sections = _parse(RESULTS.read_text()) if RESULTS.exists() else {}
    today = datetime.date.today().isoformat()
    load = f", load average {os.getloadavg()[0]:.1f}" if hasattr(os, "getloadavg") else ""
    clock = "CPU time" if os.environ.get("EQX_BENCH_CLOCK") == "cpu" else "wall clock"
    for stem, text in outputs.items():
        stamp = f"`bench/{stem}.py`, {today}: {machine}{load}, {clock}.\n\n"
        sections.setdefault(backend, {})[stem] = f"### {stem}\n\n{stamp}{_demote(text).strip()}\n"
    RESULTS.write_text(_render(sections))
    print(f"\nwrote {RESULTS} (backend {backend})")


def main(argv: list[str]) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("words", nargs="*", help="run only files whose name contains a word")
    parser.add_argument("--write", action="store_true", help=f"update {RESULTS.name}")
    args = parser.parse_args(argv)
    paths = [
        path
        for path in sorted(HERE.glob("bench_*.py"))
        if not args.words or any(word in path.stem for word in args.words)
    ]
    if not paths:
        raise SystemExit(f"no benchmark file matches {args.words}")
    outputs = {path.stem: _run(path) for path in paths}
    if args.write:
        write_results(outputs, *_backend_and_machine())


if __name__ == "__main__":
    main(sys.argv[1:])
