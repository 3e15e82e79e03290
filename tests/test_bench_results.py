"""`bench/run_all.py --write` keeps one results section per backend and replaces only the
tables of the files that ran, so a GPU run or a partial run never erases other results."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path
from types import ModuleType

import pytest

ROOT = Path(__file__).parent.parent


@pytest.fixture
def run_all(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> ModuleType:
    spec = importlib.util.spec_from_file_location("run_all", ROOT / "bench" / "run_all.py")
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    monkeypatch.setitem(sys.modules, "run_all", module)
    spec.loader.exec_module(module)
    monkeypatch.setattr(module, "RESULTS", tmp_path / "results.md")
    return module


TABLE_A = "### eqx-tree\n\n| benchmark | eqx | plain JAX | ratio |\n| a | 1 | 1 | 1.00× |\n"
TABLE_B = "### eqx-filter\n\n| benchmark | eqx | plain JAX | ratio |\n| b | 2 | 1 | 2.00× |\n"


def test_a_partial_run_replaces_only_its_own_tables(run_all: ModuleType) -> None:
    run_all.write_results({"bench_tree": TABLE_A, "bench_filter": TABLE_B}, "cpu", "machine 1")
    run_all.write_results({"bench_tree": TABLE_A.replace("1.00×", "0.50×")}, "cpu", "machine 2")
    text = run_all.RESULTS.read_text()
    assert text.count("<!-- bench:bench_tree -->") == 1
    assert "0.50×" in text and "| a | 1 | 1 | 1.00× |" not in text
    assert "| b | 2 | 1 | 2.00× |" in text  # bench_filter's table was kept
    assert "machine 2" in text and "machine 1" in text  # each table keeps its own stamp


def test_each_backend_keeps_its_own_section(run_all: ModuleType) -> None:
    run_all.write_results({"bench_tree": TABLE_A}, "cpu", "a CPU machine")
    run_all.write_results({"bench_tree": TABLE_B}, "gpu", "a GPU machine")
    sections = run_all._parse(run_all.RESULTS.read_text())
    assert set(sections) == {"cpu", "gpu"}
    assert "| a | 1 | 1 | 1.00× |" in sections["cpu"]["bench_tree"]
    assert "| b | 2 | 1 | 2.00× |" in sections["gpu"]["bench_tree"]


def test_table_headings_sit_below_the_file_heading(run_all: ModuleType) -> None:
    run_all.write_results({"bench_tree": TABLE_A}, "cpu", "m")
    text = run_all.RESULTS.read_text()
    assert "### bench_tree" in text and "#### eqx-tree" in text
