"""What a package registry shows for each package: URLs, classifiers, keywords, Python.

The Python classifiers must name exactly the CPythons the nox matrix tests (`PYTHONS` in
noxfile.py), and `requires-python` must start at the oldest of them, so the registry
page never promises a Python nobody ran the suite on.
"""

from __future__ import annotations

import ast
import pathlib
import tomllib

import pytest
from packaging.specifiers import SpecifierSet

ROOT = pathlib.Path(__file__).resolve().parents[1]
PACKAGE_DIRS = sorted(p for p in (ROOT / "packages").iterdir() if (p / "pyproject.toml").exists())
PYTHON_PREFIX = "Programming Language :: Python :: 3."


def _project(package_dir: pathlib.Path) -> dict:
    with open(package_dir / "pyproject.toml", "rb") as f:
        return tomllib.load(f)["project"]


def nox_pythons() -> list[str]:
    """The `PYTHONS = [...]` list of noxfile.py, read without importing nox."""
    tree = ast.parse((ROOT / "noxfile.py").read_text())
    for node in tree.body:
        if isinstance(node, ast.Assign) and any(
            isinstance(t, ast.Name) and t.id == "PYTHONS" for t in node.targets
        ):
            return list(ast.literal_eval(node.value))
    raise AssertionError("noxfile.py has no `PYTHONS = [...]` list")


def python_classifiers(project: dict) -> list[str]:
    return sorted(
        "3." + c.removeprefix(PYTHON_PREFIX)
        for c in project["classifiers"]
        if c.startswith(PYTHON_PREFIX)
    )


@pytest.mark.parametrize("package_dir", PACKAGE_DIRS, ids=lambda p: p.name)
def test_project_urls_name_docs_source_and_this_packages_changelog(
    package_dir: pathlib.Path,
) -> None:
    urls = _project(package_dir)["urls"]
    assert {"Documentation", "Source", "Changelog"} <= set(urls)
    assert urls["Changelog"].endswith(f"/packages/{package_dir.name}/CHANGELOG.md")
    assert urls["Source"].endswith(f"/packages/{package_dir.name}")
    assert all(url.startswith("https://") for url in urls.values())


@pytest.mark.parametrize("package_dir", PACKAGE_DIRS, ids=lambda p: p.name)
def test_classifiers_name_the_licence_and_exactly_the_tested_pythons(
    package_dir: pathlib.Path,
) -> None:
    project = _project(package_dir)
    assert project["license"] == "Apache-2.0"
    assert "License :: OSI Approved :: Apache Software License" in project["classifiers"]
    assert "Typing :: Typed" in project["classifiers"]
    assert python_classifiers(project) == sorted(nox_pythons())
    assert project["keywords"]


@pytest.mark.parametrize("package_dir", PACKAGE_DIRS, ids=lambda p: p.name)
def test_requires_python_starts_at_the_oldest_tested_python(package_dir: pathlib.Path) -> None:
    spec = SpecifierSet(_project(package_dir)["requires-python"])
    pythons = nox_pythons()
    oldest = min(pythons, key=lambda v: tuple(map(int, v.split("."))))
    assert all(spec.contains(v + ".0") for v in pythons)
    previous = f"3.{int(oldest.split('.')[1]) - 1}.0"
    assert not spec.contains(previous), f"requires-python admits untested {previous}"


def test_meta_test_classifier_check_notices_an_untested_python() -> None:
    project = {"classifiers": [PYTHON_PREFIX + "11", PYTHON_PREFIX + "14"]}
    assert python_classifiers(project) != sorted(nox_pythons())
