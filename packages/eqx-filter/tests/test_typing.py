"""Static typing of `filter_jit`: a misspelt `donate` is a type error, not only a ValueError.

The passing checks live in the repository's `tests/typing/check_filter_jit.py` (run by
`nox -s typecheck`); this test runs mypy on a fixture that must fail.
"""

import pathlib
import subprocess
import sys

import pytest

HERE = pathlib.Path(__file__).parent
ROOT_CONFIG = HERE.parents[2] / "pyproject.toml"


def test_mypy_rejects_a_misspelt_donate():
    pytest.importorskip("mypy")
    if not ROOT_CONFIG.exists():  # pragma: no cover - the package tested on its own
        pytest.skip("needs the repository's mypy configuration")
    fixture = HERE / "typing_errors" / "misspelt_donate.py"
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "mypy",
            "--config-file",
            str(ROOT_CONFIG),
            str(fixture),
        ],
        capture_output=True,
        text=True,
        check=False,
        cwd=ROOT_CONFIG.parent,
    )
    assert result.returncode == 1, result.stdout + result.stderr
    # One error, at the misspelt call, naming the valid modes.
    assert "Found 1 error in 1 file" in result.stdout
    assert 'misspelt_donate.py:12: error: No overload variant of "filter_jit"' in result.stdout
    assert "[call-overload]" in result.stdout
    assert "donate: Literal['all', 'all-except-first', 'warn'" in result.stdout
