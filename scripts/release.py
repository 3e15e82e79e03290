"""Cut a release of one workspace package, checked end to end. It never uploads.

    uv run --group nox nox -s release -- eqx-tree minor      # the usual way
    uv run python scripts/release.py eqx-tree patch --dry-run  # print the plan only
    uv run python scripts/release.py eqx-tree 0.3.0            # an explicit version
    uv run --group nox nox -s release -- eqx-tree minor eqx-nn minor  # several, one commit

What it does, in order, stopping with a message that says what to do at the first
problem (nothing is committed until every check has passed):

1. Refuses a dirty working tree, an unknown package, an empty `## [Unreleased]`
   changelog section, a version that is not higher than every released one, and a tag
   that already exists.
2. Plans the dependents: a sibling whose range on the package would exclude the new
   version is widened when the bump is a 0.x minor one (`<0.2` becomes `<0.3`) and is
   released too (a patch, unless it was asked for), with a changelog line saying why.
   Its floor stays when it has no changes of its own, and otherwise rises to the new
   version (its new code was tested against nothing older). Any other exclusion (a
   major bump, a pin) stops: the dependent needs a human look.
3. Bumps the version(s) with `uv version --package`, moves `[Unreleased]` to a dated
   `## [x.y.z] - YYYY-MM-DD` section, and re-locks.
4. Builds sdist and wheel (`uv build --package --no-sources`) into
   `dist/<package>-<version>/`, checks metadata and README rendering with
   `twine check --strict`, and checks the wheel ships `py.typed` and no tests or caches.
5. Installs each released wheel alone in a fresh venv (its eqx dependencies from wheels
   freshly built from the same tree, everything else from the package index), checks
   it imports from that venv, and runs that package's tests there.
6. Commits the release, creates the annotated tag `<package>/v<version>` on that commit,
   and appends `"<version>" = "<commit>"` to the package's table in `releases.toml`
   (a second commit, since a commit cannot name itself).

Publishing is the one manual step (docs/releasing.md): `uv publish dist/<package>-<version>/*`.
"""

from __future__ import annotations

import argparse
import datetime
import os
import re
import shlex
import shutil
import subprocess
import sys
import tempfile
import tomllib
import zipfile
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

from packaging.requirements import Requirement
from packaging.specifiers import Specifier, SpecifierSet
from packaging.version import InvalidVersion, Version

BUMPS = ("major", "minor", "patch")
UNRELEASED = "## [Unreleased]"
RELEASES_FILE = "releases.toml"
# Paths a wheel must never contain: test suites, bytecode and tool caches.
FORBIDDEN_IN_WHEEL = re.compile(
    r"(^|/)(tests?|__pycache__|\.pytest_cache|\.mypy_cache|\.ruff_cache|\.hypothesis)/"
    r"|(^|/)(conftest\.py|test_[^/]*\.py)$|\.py[co]$"
)


class ReleaseError(Exception):
    """Bad input or a failed check; the message says what is wrong and what to do."""


@dataclass(frozen=True)
class Package:
    """One workspace member, as its pyproject.toml describes it."""

    name: str
    directory: Path
    version: Version
    dependencies: tuple[str, ...]

    @property
    def module(self) -> str:
        return self.name.replace("-", "_")

    @property
    def changelog(self) -> Path:
        return self.directory / "CHANGELOG.md"

    @property
    def pyproject(self) -> Path:
        return self.directory / "pyproject.toml"

    def tag(self, version: Version) -> str:
        return f"{self.name}/v{version}"


@dataclass
class Bump:
    """One package to release: its new version and why (for a dependent)."""

    package: Package
    version: Version
    kind: str  # "major" / "minor" / "patch", or "explicit"
    # (old requirement, new requirement) pairs widened in this package's dependencies.
    widened: list[tuple[str, str]] = field(default_factory=list)
    reason: str | None = None  # set for a dependent released because of a widening


# --------------------------------------------------------------------------- reading


def load_workspace(root: Path) -> dict[str, Package]:
    """Every package under `root/packages`, by distribution name, in dependency order."""
    packages: dict[str, Package] = {}
    for directory in sorted((root / "packages").iterdir()):
        if not (directory / "pyproject.toml").exists():
            continue
        with open(directory / "pyproject.toml", "rb") as f:
            project = tomllib.load(f)["project"]
        packages[project["name"]] = Package(
            name=project["name"],
            directory=directory,
            version=Version(project["version"]),
            dependencies=tuple(project.get("dependencies", [])),
        )
    ordered: dict[str, Package] = {}

    def visit(name: str) -> None:  # a package after the siblings it needs
        if name not in ordered:
            for requirement in packages[name].dependencies:
                if Requirement(requirement).name in packages:
                    visit(Requirement(requirement).name)
            ordered[name] = packages[name]

    for name in packages:
        visit(name)
    return ordered


def recorded_releases(root: Path) -> dict[str, list[Version]]:
    """The versions `releases.toml` records for each package."""
    path = root / RELEASES_FILE
    if not path.exists():
        return {}
    with open(path, "rb") as f:
        table = tomllib.load(f)
    return {name: [Version(v) for v in versions] for name, versions in table.items()}


def split_unreleased(changelog: str) -> tuple[str, str, str]:
    """(text through the `## [Unreleased]` line, its notes, the rest from the next `## `)."""
    start = changelog.find(UNRELEASED)
    if start < 0:
        raise ReleaseError(f"no `{UNRELEASED}` heading")
    head_end = changelog.find("\n", start)
    head_end = len(changelog) if head_end < 0 else head_end + 1
    following = re.search(r"^## ", changelog[head_end:], re.M)
    tail_start = head_end + following.start() if following else len(changelog)
    return changelog[:head_end], changelog[head_end:tail_start], changelog[tail_start:]


def unreleased_notes(changelog: str) -> str:
    """The text under `## [Unreleased]`, up to the next `## ` heading, stripped."""
    return split_unreleased(changelog)[1].strip()


def has_entries(notes: str) -> bool:
    """Whether changelog notes hold more than blank lines and `###` headings."""
    return any(line.strip() and not line.startswith("#") for line in notes.splitlines())


# --------------------------------------------------------------------------- planning


def next_version(current: Version, bump: str) -> tuple[Version, str]:
    """The version after `current` for a bump kind, or an explicit version string."""
    major, minor, patch = (*current.release, 0, 0)[:3]
    if bump == "major":
        return Version(f"{major + 1}.0.0"), bump
    if bump == "minor":
        return Version(f"{major}.{minor + 1}.0"), bump
    if bump == "patch":
        return Version(f"{major}.{minor}.{patch + 1}"), bump
    try:
        return Version(bump), "explicit"
    except InvalidVersion:
        raise ReleaseError(
            f"`{bump}` is neither a bump ({', '.join(BUMPS)}) nor a version such as 0.2.0"
        ) from None


def is_zero_minor_bump(old: Version, new: Version) -> bool:
    """A 0.x minor bump: 0.1.* to 0.2.0, which a `<0.2` range excludes by design."""
    return old.major == new.major == 0 and new.minor > old.minor


def widen(requirement: str, old: Version, new: Version) -> str:
    """`requirement` with its upper bound raised to admit `new` (the floor stays).

    Only a 0.x minor bump is widened automatically: semver allows it to break, and the
    release's own test runs are what check each dependent against it. Anything else
    raises `ReleaseError` naming the requirement.
    """
    req = Requirement(requirement)
    if req.specifier.contains(new, prereleases=True):
        return requirement
    uppers = [s for s in req.specifier if s.operator in ("<", "<=")]
    others = [s for s in req.specifier if s.operator not in ("<", "<=", ">=", ">")]
    if not is_zero_minor_bump(old, new) or len(uppers) != 1 or others:
        raise ReleaseError("only a 0.x minor bump is widened automatically")
    bound = Specifier(f"<0.{new.minor + 1}")
    rest = [str(s) for s in req.specifier if s is not uppers[0]]
    specifiers = SpecifierSet(",".join([*rest, str(bound)]))
    floor_first = sorted(specifiers, key=lambda s: s.operator.startswith("<"))
    return (
        req.name
        + "".join(f"[{e}]" for e in sorted(req.extras))
        + ",".join(str(s) for s in floor_first)
    )


def raise_floor(requirement: str, version: Version) -> str:
    """`requirement` with its lower bound replaced by `>=version` (upper bound kept)."""
    req = Requirement(requirement)
    floor = f"{version.major}.{version.minor}" if version.micro == 0 else str(version)
    kept = [str(s) for s in req.specifier if s.operator not in (">=", ">", "~=", "==")]
    return (
        req.name + "".join(f"[{e}]" for e in sorted(req.extras)) + ",".join([f">={floor}", *kept])
    )


def plan_release(root: Path, requests: Sequence[tuple[str, str]]) -> list[Bump]:
    """Every package this release touches, in dependency order; validates the input.

    `requests` pairs a package with its bump; several packages released together share
    one commit, and a dependent that is itself requested is widened but not bumped twice.
    """
    workspace = load_workspace(root)
    if not requests:
        raise ReleaseError("name a package and a bump, e.g. `eqx-tree minor`")
    plan: list[Bump] = []
    for name, bump in requests:
        if name not in workspace:
            raise ReleaseError(f"no package `{name}`; the packages are: {', '.join(workspace)}")
        if any(b.package.name == name for b in plan):
            raise ReleaseError(f"{name} is named twice; give each package one bump")
        plan.append(_requested_bump(root, workspace[name], bump))
    queue = list(plan)
    while queue:
        current = queue.pop(0)
        for dependent in workspace.values():
            _widen_dependent(root, current, dependent, plan, queue)
    _raise_floors(plan)
    plan.sort(key=lambda b: list(workspace).index(b.package.name))
    for item in plan:
        tag = item.package.tag(item.version)
        if git(root, "tag", "--list", tag):
            raise ReleaseError(
                f"tag {tag} already exists; releases.toml or the tag is out of step with "
                f"{item.package.pyproject.relative_to(root)}: fix that first."
            )
    return plan


def _requested_bump(root: Path, package: Package, bump: str) -> Bump:
    """The bump asked for `package`, once its changelog and version check out."""
    if not has_entries(unreleased_notes(package.changelog.read_text())):
        raise ReleaseError(
            f"{package.changelog.relative_to(root)} has nothing under `{UNRELEASED}`: "
            "there is nothing to release. Add the changes this release ships there "
            "(Added / Changed / Fixed ...), commit, and run again."
        )
    version, kind = next_version(package.version, bump)
    released = recorded_releases(root).get(package.name, [])
    highest = max([package.version, *released])
    if version <= highest:
        raise ReleaseError(
            f"{package.name} {version} is not higher than {highest} (the current or a "
            f"released version); ask for a bump ({', '.join(BUMPS)}) or a version above "
            f"{highest}."
        )
    return Bump(package, version, kind)


def _widen_dependent(
    root: Path, released: Bump, dependent: Package, plan: list[Bump], queue: list[Bump]
) -> None:
    """Adds `dependent` to `plan` if its range on `released` must widen."""
    old = released.package.version
    for requirement in dependent.dependencies:
        if Requirement(requirement).name != released.package.name:
            continue
        if Requirement(requirement).specifier.contains(released.version, prereleases=True):
            return
        try:
            wider = widen(requirement, old, released.version)
        except ReleaseError as error:
            raise ReleaseError(
                f"{dependent.name} requires `{requirement}`, which excludes "
                f"{released.package.name} {released.version}: {error}. Check that "
                f"{dependent.name} works with {released.package.name} {released.version}, "
                f"widen the range in {dependent.pyproject.relative_to(root)} by hand (and "
                f"note it in {dependent.changelog.relative_to(root)}), commit, and run again."
            ) from None
        entry = next((b for b in plan if b.package.name == dependent.name), None)
        if entry is None:
            version, _ = next_version(dependent.version, "patch")
            entry = Bump(dependent, version, "patch")
            plan.append(entry)
            queue.append(entry)
        entry.widened.append((requirement, wider))
        why = f"{released.package.name} {released.version}"
        entry.reason = f"{entry.reason}, {why}" if entry.reason else why
        return


def _raise_floors(plan: list[Bump]) -> None:
    """Raises a released dependent's floor on each sibling released with it.

    A dependent with changes of its own ships code that was built and tested only
    against the siblings' new versions, and may use what is new there. Without changes
    its code is the code released before, which worked with the old floor.
    """
    released = {b.package.name: b.version for b in plan}
    for item in plan:
        if not has_entries(unreleased_notes(item.package.changelog.read_text())):
            continue
        widened = dict(item.widened)
        for requirement in item.package.dependencies:
            name = Requirement(requirement).name
            if name in released and name != item.package.name:
                current = widened.get(requirement, requirement)
                raised = raise_floor(current, released[name])
                if raised != requirement:
                    widened[requirement] = raised
                    why = f"{name} {released[name]}"
                    if item.reason is None:
                        item.reason = why
                    elif why not in item.reason:
                        item.reason += f", {why}"
        item.widened = list(widened.items())


# --------------------------------------------------------------------------- changing


def move_unreleased(changelog: str, version: Version, date: datetime.date) -> str:
    """`changelog` with its `[Unreleased]` notes under a new dated version heading."""
    heading = f"## [{version}] - {date.isoformat()}"
    return changelog.replace(UNRELEASED, f"{UNRELEASED}\n\n{heading}", 1).replace(
        f"{heading}\n\n\n", f"{heading}\n\n", 1
    )


def add_unreleased_entry(changelog: str, section: str, entry: str) -> str:
    """`changelog` with `- entry` under `### section` of `[Unreleased]` (made if absent)."""
    head, notes, tail = split_unreleased(changelog)
    lines = notes.strip("\n").splitlines()
    heading = f"### {section}"
    if heading in lines:
        at = lines.index(heading) + 1
        while at < len(lines) and lines[at].strip() and not lines[at].startswith("#"):
            at += 1
        lines.insert(at, f"- {entry}")
    else:
        lines += ["", heading, f"- {entry}"] if lines else [heading, f"- {entry}"]
    return head + "\n" + "\n".join(lines) + "\n\n" + tail


def apply_plan(root: Path, plan: list[Bump], date: datetime.date) -> None:
    """Bumps versions (uv version), widens ranges, dates changelogs, re-locks."""
    for item in plan:
        for old, new in item.widened:
            text = item.package.pyproject.read_text()
            if f'"{old}"' not in text:
                raise ReleaseError(f"cannot find `{old}` in {item.package.pyproject}")
            item.package.pyproject.write_text(text.replace(f'"{old}"', f'"{new}"', 1))
        changelog = item.package.changelog.read_text()
        if item.reason is not None:
            ranges = ", ".join(f"`{new}` (was `{old}`)" for old, new in item.widened)
            changelog = add_unreleased_entry(
                changelog,
                "Changed",
                f"Requires {ranges}: released together with {item.reason}.",
            )
        item.package.changelog.write_text(move_unreleased(changelog, item.version, date))
        bump = ["--bump", item.kind] if item.kind in BUMPS else [str(item.version)]
        run(root, "uv", "version", *bump, "--package", item.package.name, "--no-sync")
        now = load_workspace(root)[item.package.name].version
        if now != item.version:
            raise ReleaseError(f"uv version set {item.package.name} to {now}, not {item.version}")
    run(root, "uv", "lock")


# --------------------------------------------------------------------------- checking


def build(root: Path, item: Bump) -> list[Path]:
    """sdist and wheel of one planned release, in `dist/<package>-<version>/`."""
    out = root / "dist" / f"{item.package.name}-{item.version}"
    shutil.rmtree(out, ignore_errors=True)
    run(root, "uv", "build", "--package", item.package.name, "--no-sources", "-o", str(out))
    files = sorted(out.glob("*.whl")) + sorted(out.glob("*.tar.gz"))
    if len(files) != 2:
        raise ReleaseError(f"expected one wheel and one sdist in {out}, found {files}")
    return files


def check_distributions(root: Path, files: Sequence[Path], module: str) -> None:
    """Metadata and README rendering (twine), then what the wheel contains."""
    run(root, sys.executable, "-m", "twine", "check", "--strict", *map(str, files))
    wheel = next(f for f in files if f.suffix == ".whl")
    with zipfile.ZipFile(wheel) as archive:
        names = archive.namelist()
    problems = [n for n in names if FORBIDDEN_IN_WHEEL.search(n)]
    if f"{module}/py.typed" not in names:
        problems.append(f"{module}/py.typed is missing (type checkers would ignore the hints)")
    if problems:
        raise ReleaseError(
            f"{wheel.name} ships what it must not (or lacks py.typed): {problems}; fix "
            "[tool.hatch.build.targets.wheel] in the package's pyproject.toml."
        )


def test_in_fresh_venv(
    root: Path, item: Bump, wheel: Path, pytest_args: Sequence[str] | None
) -> None:
    """Installs `wheel` alone in a new venv and runs the package's tests against it."""
    workspace = load_workspace(root)
    needed = _eqx_dependencies(workspace, item.package.name)
    with tempfile.TemporaryDirectory(prefix="eqx-release-") as tmp:
        siblings = Path(tmp) / "siblings"
        for name in needed:
            run(
                root,
                "uv",
                "build",
                "--package",
                name,
                "--no-sources",
                "--wheel",
                "-o",
                str(siblings),
            )
        venv = Path(tmp) / "venv"
        python_version = f"{sys.version_info.major}.{sys.version_info.minor}"
        run(root, "uv", "venv", "-q", "-p", python_version, str(venv))
        python = str(venv / "bin" / "python")
        wheels = [str(wheel), *map(str, sorted(siblings.glob("*.whl")))]
        run(root, "uv", "pip", "install", "-q", "-p", python, *wheels)
        run(root, "uv", "pip", "check", "-p", python)
        where = run(
            root,
            python,
            "-c",
            f"import {item.package.module}; print({item.package.module}.__file__)",
        )
        if not Path(where.strip()).is_relative_to(venv):
            raise ReleaseError(f"{item.package.module} imported from {where.strip()}, not the venv")
        run(root, "uv", "pip", "install", "-q", "-p", python, *_test_requirements(root))
        args = (
            list(pytest_args) if pytest_args else [str(item.package.directory / "tests"), "-n", "2"]
        )
        run(root, python, "-m", "pytest", "-p", "no:cacheprovider", "-q", *args, stream=True)


def _eqx_dependencies(workspace: dict[str, Package], name: str) -> list[str]:
    """The workspace packages `name` needs, directly or not (not itself)."""
    found: list[str] = []
    stack = [name]
    while stack:
        for requirement in workspace[stack.pop()].dependencies:
            dep = Requirement(requirement).name
            if dep in workspace and dep not in found:
                found.append(dep)
                stack.append(dep)
    return found


def _test_requirements(root: Path) -> list[str]:
    with open(root / "pyproject.toml", "rb") as f:
        groups = tomllib.load(f)["dependency-groups"]
    return [r for r in groups["test"] if isinstance(r, str)]


# --------------------------------------------------------------------------- recording


def record(root: Path, plan: list[Bump]) -> str:
    """Commits the release, tags it, appends releases.toml; returns the release commit."""
    names = ", ".join(f"{b.package.name} {b.version}" for b in plan)
    message = f"Release {names}"
    for item in plan:
        if item.reason:
            message += f"\n\n{item.package.name} {item.version}: widened for {item.reason}."
    run(root, "git", "add", "-A", "--", "uv.lock", *(str(b.package.directory) for b in plan))
    run(root, "git", "commit", "-q", "-m", message)
    commit = git(root, "rev-parse", "HEAD")
    for item in plan:
        run(
            root,
            "git",
            "tag",
            "-a",
            item.package.tag(item.version),
            "-m",
            f"{item.package.name} {item.version}",
        )
    releases = root / RELEASES_FILE
    text = releases.read_text() if releases.exists() else ""
    for item in plan:
        text = append_release(text, item.package.name, item.version, commit)
    releases.write_text(text)
    run(root, "git", "add", RELEASES_FILE)
    run(root, "git", "commit", "-q", "-m", f"{RELEASES_FILE}: {names} (cut from {commit[:10]})")
    return commit


def append_release(text: str, name: str, version: Version, commit: str) -> str:
    """`text` (releases.toml) with `"version" = "commit"` added at the end of `[name]`."""
    line = f'"{version}" = "{commit}"'
    header = re.search(rf"^\[{re.escape(name)}\]\s*$", text, re.M)
    if header is None:
        return text.rstrip("\n") + f"\n\n[{name}]\n{line}\n"
    following = re.search(r"^\[", text[header.end() :], re.M)
    end = header.end() + following.start() if following else len(text)
    table = text[:end].rstrip("\n")
    return table + "\n" + line + "\n" + ("\n" + text[end:] if following else "")


# --------------------------------------------------------------------------- running


def run(root: Path, *args: str, stream: bool = False, echo: bool = True) -> str:
    """Runs a command in `root`; a failure becomes a `ReleaseError` with its output."""
    if echo:
        print("+", shlex.join(args), flush=True)
    # A streamed command (the test run) prints as it goes; others are shown on failure.
    completed = subprocess.run(args, cwd=root, capture_output=not stream, text=True, check=False)
    if completed.returncode != 0:
        output = "" if stream else completed.stdout + completed.stderr
        raise ReleaseError(f"`{shlex.join(args)}` failed (exit {completed.returncode}):\n{output}")
    return completed.stdout or ""


def git(root: Path, *args: str) -> str:
    return run(root, "git", *args, echo=False).strip()


def require_clean_tree(root: Path) -> None:
    status = git(root, "status", "--porcelain", "--untracked-files=normal")
    if status:
        raise ReleaseError(
            "the working tree has uncommitted changes; a release must be cut from a "
            f"commit. Commit or stash them, then run again:\n{status}"
        )


def release(
    root: Path,
    requests: Sequence[tuple[str, str]],
    *,
    date: datetime.date,
    pytest_args: Sequence[str] | None = None,
    dry_run: bool = False,
) -> list[Bump]:
    """The whole flow (see the module docstring); returns what was released."""
    require_clean_tree(root)
    plan = plan_release(root, requests)
    for item in plan:
        why = f" (widened for {item.reason})" if item.reason else ""
        print(f"plan: {item.package.name} {item.package.version} -> {item.version}{why}")
    if dry_run:
        return plan
    try:
        apply_plan(root, plan, date)
        built = {item.package.name: build(root, item) for item in plan}
        for item in plan:
            check_distributions(root, built[item.package.name], item.package.module)
        for item in plan:
            wheel = next(f for f in built[item.package.name] if f.suffix == ".whl")
            test_in_fresh_venv(root, item, wheel, pytest_args)
    except BaseException:
        git(root, "checkout", "--", ".")  # the tree was clean: this undoes only our edits
        raise
    commit = record(root, plan)
    for item in plan:
        out = root / "dist" / f"{item.package.name}-{item.version}"
        print(f"released {item.package.tag(item.version)} at {commit[:10]}; files in {out}")
    print("to publish (the one manual step): uv publish dist/<package>-<version>/*")
    return plan


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=(__doc__ or "").split("\n\n")[0])
    parser.add_argument(
        "request",
        nargs="+",
        metavar="PACKAGE BUMP",
        help="a package (e.g. eqx-tree) and major, minor, patch or an explicit version; "
        "several pairs release those packages together",
    )
    parser.add_argument("--root", type=Path, default=Path(__file__).resolve().parents[1])
    parser.add_argument("--date", type=datetime.date.fromisoformat, default=None)
    parser.add_argument(
        "--pytest-args",
        type=shlex.split,
        default=None,
        help="run these pytest arguments in the fresh venv instead of the whole package suite",
    )
    parser.add_argument("--dry-run", action="store_true", help="check and print the plan only")
    args = parser.parse_args(argv)
    if len(args.request) % 2:
        parser.error("give a bump after each package: PACKAGE BUMP [PACKAGE BUMP ...]")
    requests = list(zip(args.request[::2], args.request[1::2], strict=True))
    date = args.date or datetime.datetime.now(datetime.UTC).date()
    try:
        release(
            args.root.resolve(),
            requests,
            date=date,
            pytest_args=args.pytest_args,
            dry_run=args.dry_run,
        )
    except ReleaseError as error:
        print(f"release refused: {error}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    os.environ.setdefault("PYTHONUNBUFFERED", "1")
    sys.exit(main())
