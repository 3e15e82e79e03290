"""The release flow (scripts/release.py), run on throwaway clones of this repository.

The end-to-end test cuts a real patch release of eqx-tree in a clone (build, twine,
fresh venv, a reduced test selection against the wheel, commit, tag, releases.toml) and
then checks a second run refuses. The other tests stop before building: bad input must
be refused with a message that says what to do, and a minor 0.x bump must widen and
release the dependents.
"""

from __future__ import annotations

import datetime
import importlib.util
import pathlib
import shutil
import subprocess
import sys
import tomllib
from types import ModuleType

import pytest
from packaging.requirements import Requirement
from packaging.version import Version

ROOT = pathlib.Path(__file__).resolve().parents[1]
SCRIPT = ROOT / "scripts" / "release.py"
DATE = datetime.date(2030, 1, 2)

pytestmark = pytest.mark.skipif(
    shutil.which("git") is None or shutil.which("uv") is None or not (ROOT / ".git").exists(),
    reason="the release flow needs git, uv and a git checkout of this repository",
)


def _load_script() -> ModuleType:
    spec = importlib.util.spec_from_file_location("eqx_release_script", SCRIPT)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses look their module up by name
    spec.loader.exec_module(module)
    return module


rel = _load_script()


def git(repo: pathlib.Path, *args: str) -> str:
    return subprocess.run(
        ["git", *args], cwd=repo, capture_output=True, text=True, check=True
    ).stdout.strip()


def version_of(repo: pathlib.Path, package: str) -> Version:
    with open(repo / "packages" / package / "pyproject.toml", "rb") as f:
        return Version(tomllib.load(f)["project"]["version"])


def set_unreleased(repo: pathlib.Path, package: str, notes: str) -> None:
    """Replaces `package`'s [Unreleased] notes and commits (also when they were already so)."""
    path = repo / "packages" / package / "CHANGELOG.md"
    head, _, tail = rel.split_unreleased(path.read_text())
    path.write_text(head + ("\n" + notes + "\n\n" if notes else "\n") + tail)
    git(repo, "commit", "-q", "--allow-empty", "-am", f"{package}: changelog for the test")


@pytest.fixture(scope="module")
def _one_clone(tmp_path_factory: pytest.TempPathFactory) -> tuple[pathlib.Path, str, set[str]]:
    """One clone of this repository's HEAD (tags included) per module: its HEAD, tags."""
    repo = tmp_path_factory.mktemp("release") / "repo"
    subprocess.run(["git", "clone", "-q", str(ROOT), str(repo)], check=True)
    return repo, git(repo, "rev-parse", "HEAD"), set(git(repo, "tag").splitlines())


@pytest.fixture
def clone(
    _one_clone: tuple[pathlib.Path, str, set[str]], monkeypatch: pytest.MonkeyPatch
) -> pathlib.Path:
    """The clone, reset to the cloned HEAD and tags, with a committer identity set."""
    repo, head, tags = _one_clone
    git(repo, "reset", "-q", "--hard", head)
    git(repo, "clean", "-q", "-f", "-d", "-x")
    for tag in set(git(repo, "tag").splitlines()) - tags:
        git(repo, "tag", "-d", tag)
    for var in ("GIT_AUTHOR_NAME", "GIT_COMMITTER_NAME"):
        monkeypatch.setenv(var, "release test")
    for var in ("GIT_AUTHOR_EMAIL", "GIT_COMMITTER_EMAIL"):
        monkeypatch.setenv(var, "release-test@example.invalid")
    set_unreleased(repo, "eqx-tree", "### Fixed\n- A fix made for the release test.")
    return repo


# --------------------------------------------------------------------------- end to end


@pytest.mark.slow
def test_patch_release_on_a_clone_tags_dates_records_and_then_refuses(
    clone: pathlib.Path,
) -> None:
    pytest.importorskip("twine", reason="the `release` dependency group provides twine")
    before = git(clone, "rev-parse", "HEAD")
    old_releases = (clone / "releases.toml").read_text()
    old = version_of(clone, "eqx-tree")
    new = Version(f"{old.major}.{old.minor}.{old.micro + 1}")
    siblings = {p: version_of(clone, p) for p in ("eqx-module", "eqx-filter", "eqx-nn", "eqx")}

    rel.release(
        clone,
        [("eqx-tree", "patch")],
        date=DATE,
        # The wheel's own tests, reduced to one file to keep the default suite fast;
        # the nox release session runs the whole package suite.
        pytest_args=["packages/eqx-tree/tests/test_at.py", "-q"],
    )

    # The version and the dated changelog section holding the former [Unreleased] notes.
    assert version_of(clone, "eqx-tree") == new
    changelog = (clone / "packages/eqx-tree/CHANGELOG.md").read_text()
    assert rel.unreleased_notes(changelog) == ""
    dated = f"## [{new}] - 2030-01-02\n\n### Fixed\n- A fix made for the release test.\n"
    assert dated in changelog
    # An annotated tag on the release commit, which releases.toml records.
    tag = f"eqx-tree/v{new}"
    assert git(clone, "cat-file", "-t", f"refs/tags/{tag}") == "tag"
    release_commit = git(clone, "rev-parse", f"{tag}^{{commit}}")
    assert git(clone, "rev-parse", "HEAD~1") == release_commit
    releases_text = (clone / "releases.toml").read_text()
    assert releases_text.startswith(old_releases.rstrip("\n").split("[eqx-tree]")[0])
    assert all(line in releases_text for line in old_releases.splitlines())
    assert tomllib.loads(releases_text)["eqx-tree"][str(new)] == release_commit
    # Siblings untouched: same versions, no file of theirs changed, no tag of theirs.
    assert {p: version_of(clone, p) for p in siblings} == siblings
    changed = set(git(clone, "diff", "--name-only", before, "HEAD").splitlines())
    assert changed == {
        "packages/eqx-tree/CHANGELOG.md",
        "packages/eqx-tree/pyproject.toml",
        "uv.lock",
        "releases.toml",
    }
    assert git(clone, "tag", "--points-at", "HEAD~1") == tag
    # The distributions to upload by hand, and a clean tree.
    out = clone / "dist" / f"eqx-tree-{new}"
    assert sorted(p.name for p in out.iterdir() if p.name != ".gitignore") == [
        f"eqx_tree-{new}-py3-none-any.whl",
        f"eqx_tree-{new}.tar.gz",
    ]
    assert git(clone, "status", "--porcelain") == ""

    with pytest.raises(rel.ReleaseError, match=r"CHANGELOG\.md has nothing under"):
        rel.release(clone, [("eqx-tree", "patch")], date=DATE)


# --------------------------------------------------------------------------- refusals


def test_dirty_tree_is_refused_naming_the_file(clone: pathlib.Path) -> None:
    (clone / "packages/eqx-tree/notes.txt").write_text("work in progress\n")
    with pytest.raises(rel.ReleaseError, match=r"uncommitted changes.*Commit or stash") as info:
        rel.release(clone, [("eqx-tree", "patch")], date=DATE)
    assert "packages/eqx-tree/notes.txt" in str(info.value)


def test_empty_unreleased_is_refused(clone: pathlib.Path) -> None:
    set_unreleased(clone, "eqx-tree", "### Added\n")  # a heading without entries is empty
    with pytest.raises(rel.ReleaseError) as info:
        rel.release(clone, [("eqx-tree", "patch")], date=DATE)
    message = str(info.value)
    assert "packages/eqx-tree/CHANGELOG.md has nothing under `## [Unreleased]`" in message
    assert "Add the changes this release ships" in message


def test_a_version_not_higher_is_refused(clone: pathlib.Path) -> None:
    current = version_of(clone, "eqx-tree")
    with pytest.raises(rel.ReleaseError, match=rf"eqx-tree {current} is not higher than"):
        rel.release(clone, [("eqx-tree", str(current))], date=DATE)
    with pytest.raises(rel.ReleaseError, match=r"0\.0\.1 is not higher.*a version above"):
        rel.release(clone, [("eqx-tree", "0.0.1")], date=DATE)


def test_unknown_package_and_bump_are_refused(clone: pathlib.Path) -> None:
    with pytest.raises(rel.ReleaseError, match=r"no package `eqx-trees`.*eqx-tree"):
        rel.release(clone, [("eqx-trees", "patch")], date=DATE)
    with pytest.raises(rel.ReleaseError, match=r"`mini` is neither a bump"):
        rel.release(clone, [("eqx-tree", "mini")], date=DATE)


def test_a_dependent_range_that_cannot_be_widened_stops_the_release(
    clone: pathlib.Path,
) -> None:
    # A major bump: `<0.x` ranges exclude it and only 0.x minor bumps widen by themselves.
    with pytest.raises(rel.ReleaseError) as info:
        rel.release(clone, [("eqx-tree", "major")], date=DATE)
    message = str(info.value)
    assert "eqx-module requires `eqx-tree>=" in message
    assert "widen the range in packages/eqx-module/pyproject.toml by hand" in message
    assert git(clone, "status", "--porcelain") == ""


def test_cli_prints_the_refusal_and_exits_1(clone: pathlib.Path) -> None:
    (clone / "stray.txt").write_text("x\n")
    completed = subprocess.run(
        [sys.executable, str(SCRIPT), "eqx-tree", "patch", "--root", str(clone)],
        capture_output=True,
        text=True,
        check=False,
    )
    assert completed.returncode == 1
    assert "release refused: the working tree has uncommitted changes" in completed.stderr


def test_a_failed_check_leaves_the_tree_as_it_was(
    clone: pathlib.Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    def failing_build(root: pathlib.Path, item: object) -> list[pathlib.Path]:
        raise rel.ReleaseError("build failed (simulated)")

    monkeypatch.setattr(rel, "build", failing_build)
    head = git(clone, "rev-parse", "HEAD")
    with pytest.raises(rel.ReleaseError, match="simulated"):
        rel.release(clone, [("eqx-tree", "patch")], date=DATE)
    assert git(clone, "status", "--porcelain") == ""
    assert git(clone, "rev-parse", "HEAD") == head
    assert git(clone, "tag", "--list", "eqx-tree/v*") == git(ROOT, "tag", "--list", "eqx-tree/v*")


# --------------------------------------------------------------------------- widening


def test_a_zero_minor_bump_widens_and_releases_each_dependent(clone: pathlib.Path) -> None:
    # eqx-filter has no changes of its own: its released code worked with the old
    # eqx-tree, so only its upper bound moves. eqx-module has changes: they were tested
    # against the new eqx-tree only, so its floor rises to it.
    set_unreleased(clone, "eqx-filter", "")
    set_unreleased(clone, "eqx-module", "### Fixed\n- A fix made for the release test.")
    old = version_of(clone, "eqx-tree")
    new = Version(f"{old.major}.{old.minor + 1}.0")
    plan = rel.plan_release(clone, [("eqx-tree", "minor")])
    rel.apply_plan(clone, plan, DATE)

    assert plan[0].package.name == "eqx-tree"
    assert version_of(clone, "eqx-tree") == new
    for item in plan[1:]:
        name = item.package.name
        assert version_of(clone, name) == Version(
            f"{item.package.version.major}.{item.package.version.minor}."
            f"{item.package.version.micro + 1}"
        )
        changelog = (clone / "packages" / name / "CHANGELOG.md").read_text()
        section = changelog.split(f"## [{version_of(clone, name)}] - 2030-01-02\n", 1)[1]
        assert f"released together with eqx-tree {new}" in section.split("## [")[0]
    # Every package that declares a range on eqx-tree is in the plan.
    assert {b.package.name for b in plan[1:]} == {"eqx-module", "eqx-filter", "eqx-nn", "eqx"}

    def range_on_tree(package: str) -> Requirement:
        with open(clone / "packages" / package / "pyproject.toml", "rb") as f:
            deps = [Requirement(d) for d in tomllib.load(f)["project"]["dependencies"]]
        (on_tree,) = [d for d in deps if d.name == "eqx-tree"]
        return on_tree

    kept = range_on_tree("eqx-filter").specifier
    assert kept.contains(new) and kept.contains(old)
    raised = range_on_tree("eqx-module").specifier
    assert raised.contains(new) and not raised.contains(old)
    assert str(raised) == f"<{new.major}.{new.minor + 1},>={new.major}.{new.minor}"


def test_packages_released_together_are_widened_but_not_bumped_twice(
    clone: pathlib.Path,
) -> None:
    set_unreleased(clone, "eqx-module", "### Added\n- A feature made for the release test.")
    set_unreleased(clone, "eqx-nn", "")  # no changes: it is only widened
    tree, module = version_of(clone, "eqx-tree"), version_of(clone, "eqx-module")
    plan = rel.plan_release(clone, [("eqx-module", "minor"), ("eqx-tree", "minor")])
    by_name = {b.package.name: b for b in plan}
    # Dependency order, whatever order the request named them in.
    assert [b.package.name for b in plan][:2] == ["eqx-tree", "eqx-module"]
    assert by_name["eqx-module"].version == Version(f"{module.major}.{module.minor + 1}.0")
    assert by_name["eqx-module"].kind == "minor"
    new_tree = f"{tree.major}.{tree.minor + 1}"
    assert by_name["eqx-module"].reason == f"eqx-tree {new_tree}.0"
    # Released together: eqx-module's code was tested against the new eqx-tree only.
    ((_, raised),) = by_name["eqx-module"].widened
    assert raised == f"eqx-tree>={new_tree},<{tree.major}.{tree.minor + 2}"
    # eqx-nn needs both: one patch bump, two widened ranges.
    assert by_name["eqx-nn"].kind == "patch"
    assert sorted(Requirement(old).name for old, _ in by_name["eqx-nn"].widened) == [
        "eqx-module",
        "eqx-tree",
    ]
    with pytest.raises(rel.ReleaseError, match="eqx-tree is named twice"):
        rel.plan_release(clone, [("eqx-tree", "minor"), ("eqx-tree", "patch")])


@pytest.mark.parametrize(
    ("requirement", "old", "new", "expected"),
    [
        ("eqx-tree>=0.1,<0.2", "0.1.3", "0.2.0", "eqx-tree>=0.1,<0.3"),
        ("eqx-tree<0.2,>=0.1", "0.1.0", "0.2.0", "eqx-tree>=0.1,<0.3"),
        ("eqx-tree>=0.1,<0.3", "0.1.0", "0.2.0", "eqx-tree>=0.1,<0.3"),  # already admits it
    ],
)
def test_widen_raises_only_the_upper_bound(
    requirement: str, old: str, new: str, expected: str
) -> None:
    assert rel.widen(requirement, Version(old), Version(new)) == expected


@pytest.mark.parametrize(
    ("requirement", "old", "new"),
    [
        ("eqx-tree>=0.1,<0.2", "0.1.0", "1.0.0"),  # a major bump
        ("eqx-tree==0.1.0", "0.1.0", "0.1.1"),  # a pin excludes even a patch
        ("eqx-tree>=1.0,<2", "1.4.0", "2.0.0"),
    ],
)
def test_widen_refuses_what_is_not_a_zero_minor_bump(requirement: str, old: str, new: str) -> None:
    with pytest.raises(rel.ReleaseError, match=r"only a 0\.x minor bump is widened automatically"):
        rel.widen(requirement, Version(old), Version(new))


# --------------------------------------------------------------------------- text edits


CHANGELOG = """# Changelog

## [Unreleased]

### Added
- `f`.

## [0.1.0]

- First.
"""


def test_move_unreleased_dates_the_notes_and_leaves_unreleased_empty() -> None:
    moved = rel.move_unreleased(CHANGELOG, Version("0.2.0"), DATE)
    assert moved == CHANGELOG.replace(
        "## [Unreleased]\n", "## [Unreleased]\n\n## [0.2.0] - 2030-01-02\n"
    )
    assert rel.unreleased_notes(moved) == ""


def test_add_unreleased_entry_joins_an_existing_section_or_makes_one() -> None:
    into_added = rel.add_unreleased_entry(CHANGELOG, "Added", "`g`.")
    assert "### Added\n- `f`.\n- `g`.\n\n## [0.1.0]" in into_added
    new_section = rel.add_unreleased_entry(CHANGELOG, "Changed", "Wider range.")
    assert "### Added\n- `f`.\n\n### Changed\n- Wider range.\n\n## [0.1.0]" in new_section
    empty = CHANGELOG.replace("### Added\n- `f`.\n\n", "")
    assert "## [Unreleased]\n\n### Changed\n- Wider range.\n\n## [0.1.0]" in (
        rel.add_unreleased_entry(empty, "Changed", "Wider range.")
    )


def test_append_release_adds_a_line_to_the_package_table_only() -> None:
    text = '# note\n\n[a]\n"0.1.0" = "aaa"\n\n[b]\n"0.1.0" = "bbb"\n'
    out = rel.append_release(text, "a", Version("0.1.1"), "ccc")
    assert out == '# note\n\n[a]\n"0.1.0" = "aaa"\n"0.1.1" = "ccc"\n\n[b]\n"0.1.0" = "bbb"\n'
    last = rel.append_release(text, "b", Version("0.2.0"), "ddd")
    assert last == text + '"0.2.0" = "ddd"\n'
    assert tomllib.loads(rel.append_release(text, "c", Version("0.1.0"), "eee"))["c"] == {
        "0.1.0": "eee"
    }
