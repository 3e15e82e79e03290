"""The cross-version / cross-backend test matrix. Session names are the interface.

    uv run nox -l                          # list sessions
    uv run nox -s "tests(jax='0.4.38')"    # the suite on the oldest supported JAX
    uv run nox -s tests_python             # the suite on CPython 3.11, 3.12, 3.13 (3.14 if found)
    uv run nox -s release -- eqx-tree minor  # cut a release of one package (never uploads)
    uv run nox -s isolation                # each package built and installed alone
    uv run nox -s lint typecheck docs examples

New packages under `packages/` are picked up without edits: every session discovers
them from their `pyproject.toml`.
"""

from __future__ import annotations

import glob
import json
import os
import pathlib
import shutil
import subprocess
import tomllib

import nox
from nox.command import CommandFailed
from packaging.requirements import Requirement
from packaging.specifiers import SpecifierSet
from packaging.utils import canonicalize_name
from packaging.version import Version

ROOT = pathlib.Path(__file__).parent
nox.options.default_venv_backend = "uv"
nox.options.reuse_existing_virtualenvs = False
nox.options.error_on_missing_interpreters = True
nox.options.sessions = ["lint", "typecheck", "tests", "typechecked", "isolation", "multidevice"]

# Supported JAX: the oldest, the newest, and one release per minor in between that
# installs on CPython 3.11 (JAX 0.11+ needs CPython >= 3.12: `tests_python` covers it).
JAX_VERSIONS = ["0.4.38", "0.5.3", "0.6.2", "0.7.2", "0.8.3", "0.9.2", "0.10.2"]
OLDEST_JAX = JAX_VERSIONS[0]
PYTHONS = ["3.11", "3.12", "3.13"]
# CPython 3.14 joins the matrix when an interpreter for it can be found; until then its
# `tests_python` session skips and says why. The classifiers in each pyproject.toml list
# only what runs (tests/test_metadata.py checks they agree).
NEWEST_PYTHON = "3.14"
# pytest-xdist workers for the sessions that run a whole suite (the machine has 2 cores).
PYTEST_WORKERS = "2"


def _python_search_env() -> dict[str, str]:
    """`PATH` plus every pyenv CPython 3.11+ folder, for the sessions that look for one.

    pyenv keeps one interpreter per folder and its shims answer only for the active
    version, so without this uv cannot find `python3.12` etc.
    """
    folders = sorted(glob.glob(os.path.expanduser("~/.pyenv/versions/3.1[1-9]*/bin")))
    return {"PATH": os.pathsep.join([os.environ.get("PATH", ""), *folders])}


def _find_python(version: str) -> str | None:
    """The path of a CPython `version` interpreter uv can find without downloading."""
    found = subprocess.run(
        ["uv", "python", "find", "--no-python-downloads", version],
        capture_output=True,
        text=True,
        check=False,
        env={**os.environ, **_python_search_env()},
    )
    return found.stdout.strip() if found.returncode == 0 else None


def _pyproject(path: pathlib.Path) -> dict:
    with open(path, "rb") as f:
        return tomllib.load(f)


def _packages() -> list[pathlib.Path]:
    """Every workspace member, in dependency order (a package after those it needs)."""
    members = {
        _pyproject(p / "pyproject.toml")["project"]["name"]: p
        for p in sorted((ROOT / "packages").iterdir())
        if (p / "pyproject.toml").exists()
    }
    ordered: list[str] = []

    def visit(name: str) -> None:
        if name in ordered:
            return
        for dep in _pyproject(members[name] / "pyproject.toml")["project"]["dependencies"]:
            dep_name = canonicalize_name(Requirement(dep).name)
            if dep_name in members:
                visit(dep_name)
        ordered.append(name)

    for name in members:
        visit(name)
    return [members[n] for n in ordered]


def _dist_name(package: pathlib.Path) -> str:
    return _pyproject(package / "pyproject.toml")["project"]["name"]


def _group(name: str) -> list[str]:
    return [
        r
        for r in _pyproject(ROOT / "pyproject.toml")["dependency-groups"][name]
        if isinstance(r, str)
    ]


def _install_workspace(
    session: nox.Session, *extra: str, lowest: bool = False, venv: str | None = None
) -> None:
    """Install every package (editable) plus the test tools, resolved afresh.

    Resolving afresh (rather than `uv sync --locked`) lets the solver pick test tools
    that fit the JAX version under test. `lowest` installs every direct dependency at
    its declared floor (`--resolution lowest-direct`), into this session's own venv
    (or `venv`); it never touches `uv.lock`.
    """
    args = ["uv", "pip", "install", "--python", venv or session.virtualenv.location]
    if lowest:
        args += ["--resolution", "lowest-direct"]
    for package in _packages():
        args += ["-e", str(package)]
    args += _group("test")
    args += list(extra)
    session.run_install(*args, external=True)


def _pytest(
    session: nox.Session,
    *args: str,
    parallel: bool = True,
    python: str = "python",
    env: dict[str, str] | None = None,
) -> None:
    """pytest in `python` (the session's venv by default), on `PYTEST_WORKERS` workers
    unless `parallel=False` (GPU and multi-process runs share one device or port)."""
    workers = ["-n", PYTEST_WORKERS] if parallel else []
    session.run(
        python,
        "-m",
        "pytest",
        "-p",
        "no:cacheprovider",
        *workers,
        *args,
        *session.posargs,
        env=env,
        external=python != "python",
    )


@nox.session(python="3.11")
@nox.parametrize("jax", JAX_VERSIONS)
def tests(session: nox.Session, jax: str) -> None:
    """The whole suite against one JAX version (the oldest at every dependency's floor)."""
    _install_workspace(session, f"jax=={jax}", f"jaxlib=={jax}", lowest=jax == OLDEST_JAX)
    session.run("python", "-c", "import jax; print('jax', jax.__version__)")
    _pytest(session)


@nox.session(python="3.11")
def typechecked(session: nox.Session) -> None:
    """The whole suite under jaxtyping's import hook with beartype over every eqx package.

    The compatibility suite runs this way, so an annotation narrower than what
    a function really accepts is a bug this session catches.
    """
    _install_workspace(session)
    packages = ",".join(p.name.replace("-", "_") for p in _packages())
    _pytest(session, f"--jaxtyping-packages={packages},beartype.beartype")


@nox.session(venv_backend="none")
@nox.parametrize("python", [*PYTHONS, NEWEST_PYTHON])
def tests_python(session: nox.Session, python: str) -> None:
    """The whole suite on one CPython, with the newest JAX that supports it.

    The session makes its own venv: the interpreter is looked up here, with pyenv's
    folders on the search path, and a missing one (CPython 3.14 until it is installed)
    skips the session with the reason instead of failing the matrix.
    """
    interpreter = _find_python(python)
    if interpreter is None:
        session.skip(
            f"no CPython {python} interpreter found (`uv python find {python}` failed and "
            f"it cannot be downloaded here); install one (`uv python install {python}` or "
            "pyenv) and this session runs the suite"
        )
    venv = pathlib.Path(session.create_tmp()) / f"venv-{python}"
    session.run("uv", "venv", "-q", "--clear", "-p", interpreter, str(venv), external=True)
    _install_workspace(session, venv=str(venv))
    py = str(venv / "bin" / "python")
    session.run(
        py, "-c", "import sys, jax; print(sys.version, 'jax', jax.__version__)", external=True
    )
    _pytest(session, python=py)


_SYSTEM_JAX = os.environ.get("EQX_GPU_SYSTEM_JAX", "") == "1"


@nox.session(
    python="3.12" if _SYSTEM_JAX else "3.11",
    tags=["gpu"],
    venv_params=["--system-site-packages"] if _SYSTEM_JAX else [],
)
def gpu(session: nox.Session) -> None:
    """The suite on a CUDA GPU; skips with a reason when none is visible.

    `JAX_PLATFORMS=cuda` stops JAX from silently falling back to the CPU, and a
    fixture (root conftest.py, EQX_EXPECT_BACKEND) asserts the backend is the GPU.
    On a machine that already has a CUDA JAX and no package index, set
    `EQX_GPU_SYSTEM_JAX=1`: the venv then sees the system site-packages and only the
    eqx packages are installed (no dependencies fetched).
    """
    nvidia_smi = shutil.which("nvidia-smi")
    if nvidia_smi is None or subprocess.run([nvidia_smi, "-L"], capture_output=True).returncode:
        session.skip("no NVIDIA GPU visible (`nvidia-smi -L` failed); the gpu session needs one")
    if _SYSTEM_JAX:
        args = ["uv", "pip", "install", "--python", session.virtualenv.location, "--no-deps"]
        for package in _packages():
            args += ["-e", str(package)]
        session.run_install(*args, external=True)
    else:
        _install_workspace(session, "jax[cuda12]")
    env = {"JAX_PLATFORMS": "cuda", "EQX_EXPECT_BACKEND": "gpu"}
    session.run("python", "-c", "import jax; print(jax.devices())", env=env)
    _pytest(session, parallel=False, env=env)


@nox.session(python="3.11")
def multidevice(session: nox.Session) -> None:
    """Sharding / pmap tests and the data-parallel and FSDP examples on 8 simulated CPU devices."""
    _install_workspace(session)
    env = {"XLA_FLAGS": "--xla_force_host_platform_device_count=8"}
    session.run("python", "-c", "import jax; assert jax.device_count() == 8", env=env)
    _pytest(session, "-m", "multidevice", parallel=False, env=env)
    for name in ("data_parallel.py", "fsdp.py"):
        example = ROOT / "examples" / name
        if example.exists():
            session.run("python", str(example), "--quick", env={**env, "MPLBACKEND": "Agg"})


@nox.session(python="3.11")
def multihost(session: nox.Session) -> None:
    """Two JAX processes on 127.0.0.1 (gloo CPU collectives) train and checkpoint together.

    Installs the `orbax` extra (sharded checkpoints go through orbax-checkpoint) and runs
    the tests marked `multihost`, which skip themselves otherwise.
    """
    _install_workspace(session, "-e", f"{ROOT / 'packages' / 'eqx'}[orbax]")
    _pytest(
        session, "-m", "multihost", "-p", "no:randomly", parallel=False, env={"EQX_MULTIHOST": "1"}
    )


@nox.session(python="3.11")
def isolation(session: nox.Session) -> None:
    """Build every wheel without workspace sources; install each package ALONE, check it.

    Inside the workspace uv does not enforce the version ranges siblings declare on
    each other; only built wheels do. For each package: a fresh venv, install it from
    the wheels (`--no-sources --find-links dist`), `uv pip check`, check what got
    installed, then add the test tools and run that package's tests against the wheel.
    """
    tmp = pathlib.Path(session.create_tmp())
    dist = tmp / "dist"
    shutil.rmtree(dist, ignore_errors=True)
    session.run("uv", "build", "--all-packages", "--no-sources", "-o", str(dist), external=True)
    names = {_dist_name(p): p for p in _packages()}

    # What JAX alone installs: the reference for "eqx-tree pulls in nothing else" (but
    # two small packages of its own: wadler-lindig, and xxhash for checkpoint checksums).
    ref = tmp / "venv-jax-only"
    session.run("uv", "venv", "-q", "-p", "3.11", str(ref), external=True)
    session.run("uv", "pip", "install", "-q", "-p", str(ref), "jax", external=True)
    jax_only = _installed(session, ref)

    for name, package in names.items():
        venv = tmp / f"venv-{name}"
        session.run("uv", "venv", "-q", "-p", "3.11", str(venv), external=True)
        session.run(
            "uv",
            "pip",
            "install",
            "-q",
            "-p",
            str(venv),
            "--no-sources",
            "--find-links",
            str(dist),
            # Every build is 0.1.0 until a release: without a refresh, uv would reuse
            # the wheel it cached for that version from an earlier build.
            *(arg for dist_name in names for arg in ("--refresh-package", dist_name)),
            name,
            external=True,
        )
        session.run("uv", "pip", "check", "-p", str(venv), external=True)
        installed = _installed(session, venv)
        ours = {n for n in installed if n in names}
        if name == "eqx-tree":
            extra = installed - jax_only - {"eqx-tree", "wadler-lindig", "xxhash"}
            if extra:
                session.error(
                    f"eqx-tree installed more than jax (+ wadler-lindig, xxhash): {sorted(extra)}"
                )
        session.log(f"{name}: installs eqx packages {sorted(ours)}")
        python = str(venv / "bin" / "python")
        session.run(python, "-c", f"import {name.replace('-', '_')}", external=True)
        session.run("uv", "pip", "install", "-q", "-p", str(venv), *_group("test"), external=True)
        _pytest(session, "-q", str(package / "tests"), python=python)


@nox.session(python="3.11")
def siblings_oldest(session: nox.Session) -> None:
    """Each package from the working tree with the OLDEST eqx siblings its ranges allow.

    A package promises to work with any sibling version in its ranges
    (`eqx-tree>=0.1,<0.2`), but the workspace only ever tests the newest. For each
    package: pick, for every eqx sibling it needs (directly or through those siblings),
    the oldest released version inside every range that applies; build that version
    from the commit `releases.toml` records for it (else the git tag
    `<package>/v<version>`) with `git archive` + `uv build`; install the package
    (`--no-sources`) with those wheels into a fresh venv; `uv pip check`; run its tests.
    Slow (one build per sibling version), so not in `.ci/run`.
    """
    tmp = pathlib.Path(session.create_tmp()).resolve()  # `uv --directory` moves the cwd
    members = {_dist_name(p): p for p in _packages()}
    releases = _releases()
    wheels: dict[tuple[str, Version], pathlib.Path] = {}
    failed: list[str] = []
    for name, package in members.items():
        pins = _oldest_siblings(session, package, members, releases)
        if not pins:
            session.log(f"{name}: needs no eqx sibling; `isolation` covers it alone")
            continue
        session.log(f"{name}: oldest siblings " + ", ".join(f"{d}=={v}" for d, v in pins.items()))
        for dist, version in pins.items():
            if (dist, version) not in wheels:
                wheels[dist, version] = _build_release(session, tmp, dist, version, releases)
        venv = tmp / f"venv-{name}"
        session.run("uv", "venv", "-q", "--clear", "-p", "3.11", str(venv), external=True)
        # The sibling wheels are given as files, so the resolver takes every eqx name
        # from them (never from an index) and fails if the package's ranges exclude one.
        session.run(
            "uv",
            "pip",
            "install",
            "-q",
            "-p",
            str(venv),
            "--no-sources",
            *(arg for dist_name in members for arg in ("--refresh-package", dist_name)),
            str(package),
            *(str(wheels[dist, version]) for dist, version in pins.items()),
            *_group("test"),
            external=True,
        )
        session.run("uv", "pip", "check", "-p", str(venv), external=True)
        try:
            _pytest(session, "-q", str(package / "tests"), python=str(venv / "bin" / "python"))
        except CommandFailed:
            failed.append(f"{name} with " + ", ".join(f"{d}=={v}" for d, v in pins.items()))
    if failed:
        session.error("tests failed against the oldest siblings: " + "; ".join(failed))


def _releases() -> dict[str, dict[Version, str]]:
    """Every released version of each package, with its commit: `releases.toml` at the
    root, completed by the git tags `<package>/v<version>` (a tag names its commit)."""
    recorded = _pyproject(ROOT / "releases.toml") if (ROOT / "releases.toml").exists() else {}
    releases: dict[str, dict[Version, str]] = {
        canonicalize_name(dist): {Version(v): sha for v, sha in versions.items()}
        for dist, versions in recorded.items()
    }
    tags = subprocess.run(
        ["git", "tag", "--list", "*/v*"], cwd=ROOT, capture_output=True, text=True, check=True
    ).stdout.split()
    for tag in tags:
        dist, _, version = tag.rpartition("/v")
        releases.setdefault(canonicalize_name(dist), {}).setdefault(Version(version), tag)
    return releases


def _oldest_siblings(
    session: nox.Session,
    package: pathlib.Path,
    members: dict[str, pathlib.Path],
    releases: dict[str, dict[Version, str]],
) -> dict[str, Version]:
    """Sibling -> the oldest release inside every range on it, following the ranges of
    the chosen releases themselves (read from their commits) to a fixed point."""
    ranges: dict[str, SpecifierSet] = {}
    pending = [_pyproject(package / "pyproject.toml")["project"]["dependencies"]]
    pins: dict[str, Version] = {}
    while pending:
        for dep in pending.pop():
            requirement = Requirement(dep)
            dist = canonicalize_name(requirement.name)
            if dist not in members:
                continue
            ranges[dist] = ranges.get(dist, SpecifierSet()) & requirement.specifier
            allowed = sorted(v for v in releases.get(dist, {}) if v in ranges[dist])
            if not allowed:
                session.error(f"no release of {dist} inside {ranges[dist]} (releases.toml, tags)")
            if pins.get(dist) != allowed[0]:
                pins[dist] = allowed[0]
                commit = releases[dist][allowed[0]]
                path = members[dist].relative_to(ROOT) / "pyproject.toml"
                text = subprocess.run(
                    ["git", "show", f"{commit}:{path.as_posix()}"],
                    cwd=ROOT,
                    capture_output=True,
                    text=True,
                    check=True,
                ).stdout
                pending.append(tomllib.loads(text)["project"]["dependencies"])
    return pins


def _build_release(
    session: nox.Session,
    tmp: pathlib.Path,
    dist: str,
    version: Version,
    releases: dict[str, dict[Version, str]],
) -> pathlib.Path:
    """Build `dist`'s wheel at the commit of its release `version`; return the wheel."""
    commit = releases[dist][version]
    source = tmp / f"src-{dist}-{version}"
    out = tmp / f"wheels-{dist}-{version}"
    shutil.rmtree(source, ignore_errors=True)
    shutil.rmtree(out, ignore_errors=True)
    source.mkdir(parents=True)
    archive = subprocess.run(
        ["git", "archive", "--format=tar", commit], cwd=ROOT, capture_output=True, check=True
    ).stdout
    subprocess.run(["tar", "-x", "-C", str(source)], input=archive, check=True)
    build = ["uv", "--directory", str(source), "build", "-q", "--package", dist, "--wheel"]
    session.run(*build, "--no-sources", "-o", str(out), external=True)
    (wheel,) = out.glob("*.whl")
    return wheel


def _installed(session: nox.Session, venv: pathlib.Path) -> set[str]:
    """Normalised names of the distributions installed in `venv`."""
    out = subprocess.run(
        ["uv", "pip", "list", "-p", str(venv), "--format", "json"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    return {canonicalize_name(entry["name"]) for entry in json.loads(out)}


@nox.session(python="3.11")
def lint(session: nox.Session) -> None:
    """ruff: lint and formatting."""
    session.install(*_group("lint"))
    session.run("ruff", "check", ".")
    session.run("ruff", "format", "--check", ".")


@nox.session(python="3.11")
def typecheck(session: nox.Session) -> None:
    """mypy --strict on every package's src and tests/typing; basedpyright on tests/typing."""
    _install_workspace(session, *_group("typing"))
    for package in _packages():
        session.run("mypy", str(package / "src"))
    if (ROOT / "tests" / "typing").exists():
        session.run("mypy", "tests/typing")
        session.run("basedpyright", "tests/typing")


@nox.session(python="3.11")
def docs(session: nox.Session) -> None:
    """Build the documentation site; broken links and missing references fail."""
    _install_workspace(session, *_group("docs"))
    session.run(
        "mkdocs", "build", "--strict", "-d", str(pathlib.Path(session.create_tmp()) / "site")
    )


@nox.session(python="3.11")
def examples(session: nox.Session) -> None:
    """Every example in its quick mode."""
    _install_workspace(session)
    env = {"MPLBACKEND": "Agg"}
    for script in sorted((ROOT / "examples").glob("*.py")):
        session.run("python", str(script), "--quick", env=env)


@nox.session(python="3.11")
def release(session: nox.Session) -> None:
    """Cut a release of one package, e.g. `nox -s release -- eqx-tree minor` (never uploads).

    Runs scripts/release.py (its docstring and docs/releasing.md list every step and
    check); `-- eqx-tree patch --dry-run` prints the plan only. Not in the default run.
    """
    if len(session.posargs) < 2:
        session.error("usage: nox -s release -- PACKAGE major|minor|patch|X.Y.Z [--dry-run]")
    session.install(*_group("release"), "packaging>=24.0")
    session.run("python", "scripts/release.py", *session.posargs)


@nox.session(python="3.11")
def bench(session: nox.Session) -> None:
    """The benchmarks: eqx against plain JAX doing the same work, as ratios."""
    _install_workspace(session)
    session.run("python", "bench/run_all.py", *session.posargs)
