"""Versions across the workspace: sibling ranges admit the current versions, changelogs keep up.

Inside a uv workspace siblings always resolve to the workspace copy, so a package
bumped out of a dependent's declared range still syncs: only built wheels would catch
it. These tests catch it at once.
"""

from __future__ import annotations

import importlib.metadata
import pathlib
import re
import tomllib

import pytest
from packaging.requirements import Requirement
from packaging.version import Version

ROOT = pathlib.Path(__file__).resolve().parents[1]
PACKAGE_DIRS = sorted(p for p in (ROOT / "packages").iterdir() if (p / "pyproject.toml").exists())


def _project(package_dir: pathlib.Path) -> dict:
    with open(package_dir / "pyproject.toml", "rb") as f:
        return tomllib.load(f)["project"]


def workspace_versions() -> dict[str, Version]:
    return {_project(p)["name"]: Version(_project(p)["version"]) for p in PACKAGE_DIRS}


def range_violations(
    dependencies: list[str], versions: dict[str, Version], dependent: str
) -> list[str]:
    """Sibling requirements in `dependencies` that do not admit the workspace version."""
    problems = []
    for text in dependencies:
        req = Requirement(text)
        if req.name in versions:
            if not str(req.specifier):
                problems.append(f"{dependent}: {req.name} has no version range")
            elif versions[req.name] not in req.specifier:
                problems.append(
                    f"{dependent} requires {req.name}{req.specifier}, "
                    f"but the workspace has {req.name} {versions[req.name]}"
                )
    return problems


def test_every_package_is_a_workspace_member_with_a_static_version() -> None:
    names = {_project(p)["name"] for p in PACKAGE_DIRS}
    assert names == {"eqx", "eqx-tree", "eqx-module", "eqx-filter", "eqx-nn"}


@pytest.mark.parametrize("package_dir", PACKAGE_DIRS, ids=lambda p: p.name)
def test_sibling_ranges_admit_the_workspace_versions(package_dir: pathlib.Path) -> None:
    project = _project(package_dir)
    assert range_violations(project["dependencies"], workspace_versions(), project["name"]) == []


@pytest.mark.parametrize("package_dir", PACKAGE_DIRS, ids=lambda p: p.name)
def test_every_direct_dependency_has_a_floor(package_dir: pathlib.Path) -> None:
    for text in _project(package_dir)["dependencies"]:
        req = Requirement(text)
        assert any(s.operator in (">=", "==", "~=") for s in req.specifier), (
            f"{package_dir.name}: dependency {text!r} has no floor; add '>=X'"
        )


@pytest.mark.parametrize("package_dir", PACKAGE_DIRS, ids=lambda p: p.name)
def test_changelog_has_an_entry_for_the_current_version(package_dir: pathlib.Path) -> None:
    version = _project(package_dir)["version"]
    changelog = (package_dir / "CHANGELOG.md").read_text()
    assert re.search(rf"^## \[{re.escape(version)}\]", changelog, re.MULTILINE), (
        f"{package_dir.name}/CHANGELOG.md has no '## [{version}]' section"
    )


@pytest.mark.parametrize("package_dir", PACKAGE_DIRS, ids=lambda p: p.name)
def test_installed_version_matches_pyproject(package_dir: pathlib.Path) -> None:
    project = _project(package_dir)
    assert importlib.metadata.version(project["name"]) == project["version"]


def test_meta_test_range_check_catches_a_sibling_bumped_out_of_range() -> None:
    versions = {"eqx-tree": Version("0.2.0"), "eqx-module": Version("0.1.0")}
    problems = range_violations(["eqx-tree>=0.1,<0.2", "jax>=0.4.38"], versions, "eqx-module")
    assert problems == [
        "eqx-module requires eqx-tree<0.2,>=0.1, but the workspace has eqx-tree 0.2.0"
    ]


def test_meta_test_range_check_catches_a_sibling_without_a_range() -> None:
    problems = range_violations(["eqx-tree"], {"eqx-tree": Version("0.1.0")}, "eqx-nn")
    assert problems == ["eqx-nn: eqx-tree has no version range"]
