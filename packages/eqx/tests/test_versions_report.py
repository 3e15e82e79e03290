"""`python -m eqx` prints one version line per eqx package, JAX, Python and the platform."""

import importlib.metadata
import subprocess
import sys

import pytest

from eqx import _versions_report


def test_report_lists_every_eqx_distribution_with_its_installed_version() -> None:
    report = _versions_report.versions_report()
    for name in ("eqx", "eqx-tree", "eqx-module", "eqx-filter", "eqx-nn", "jax", "jaxlib"):
        line = next(line for line in report.splitlines() if line.split()[0] == name)
        assert line.split()[1] == importlib.metadata.version(name)
    assert any(line.split()[0] == "python" for line in report.splitlines())


def test_report_says_not_installed_for_a_missing_distribution(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(_versions_report, "_DISTRIBUTIONS", ("eqx", "no-such-eqx-distribution"))
    report = _versions_report.versions_report()
    assert "no-such-eqx-distribution  not installed" in report


def test_python_dash_m_eqx_prints_the_report() -> None:
    result = subprocess.run(
        [sys.executable, "-m", "eqx"], capture_output=True, text=True, check=True
    )
    assert result.stdout.strip() == _versions_report.versions_report()
