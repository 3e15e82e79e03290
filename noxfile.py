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

ROOT = pathlib.Path(__file__).parent
nox.options.default_venv_backend = "uv"
nox.options.reuse_existing_virtualenvs = False
nox.options.error_on_missing_interpreters = True
nox.options.sessions = ["lint", "typecheck", "tests", "typechecked", "isolation", "multidevice"]

# Supported JAX: the oldest, the newest, and one release per minor in between that
# installs on CPython 3.11 (JAX 0.11+ needs CPython >= 3.12: `tests_python` covers it).
JAX_VERSIONS = ["0.4.38", "0.5.3", "0.6.2", "0.7.2", "0.8.3", "0.9.2", "0.10.2"]
OLDEST_JAX, NEWEST_JAX = JAX_VERSIONS[0], JAX_VERSIONS[-1]
PYTHONS = ["3.11", "3.12", "3.13"]
# CPython 3.14 joins the matrix when an interpreter for it can be found; otherwise a
# `tests_python-3.14` session of the same name skips and says why. The classifiers in
# each pyproject.toml list only what runs (tests/test_metadata.py checks they agree).
NEWEST_PYTHON = "3.14"

# pyenv keeps one interpreter per folder and its shims answer only for the active
# version; put every installed 3.11-3.13 on PATH so uv finds `python3.12` etc.
for _bin in sorted(glob.glob(os.path.expanduser("~/.pyenv/versions/3.1[1-9]*/bin"))):
    if _bin not in os.environ["PATH"]:
        os.environ["PATH"] = os.environ["PATH"] + os.pathsep + _bin


def _has_python(version: str) -> bool:
    """Whether uv can find (without downloading) a CPython `version` interpreter."""
    found = subprocess.run(
        ["uv", "python", "find", "--no-python-downloads", version],
        capture_output=True,
        check=False,
    )
    return found.returncode == 0


_HAS_NEWEST_PYTHON = _has_python(NEWEST_PYTHON)


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
            dep_name = dep.split(">")[0].split("<")[0].split("=")[0].split("[")[0].strip()
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


def _install_workspace(session: nox.Session, *extra: str, lowest: bool = False) -> None:
    """Install every package (editable) plus the test tools, resolved afresh.

    Resolving afresh (rather than `uv sync --locked`) lets the solver pick test tools
    that fit the JAX version under test. `lowest` installs every direct dependency at
    its declared floor (`--resolution lowest-direct`), into this session's own venv; it
    never touches `uv.lock`.
    """
    args = ["uv", "pip", "install", "--python", session.virtualenv.location]
    if lowest:
        args += ["--resolution", "lowest-direct"]
    for package in _packages():
        args += ["-e", str(package)]
    args += _group("test")
    args += list(extra)
    session.run_install(*args, external=True)


def _pytest(session: nox.Session, *args: str, env: dict[str, str] | None = None) -> None:
    session.run(
        "python", "-m", "pytest", "-p", "no:cacheprovider", *args, *session.posargs, env=env
    )


@nox.session(python="3.11")
@nox.parametrize("jax", JAX_VERSIONS)
def tests(session: nox.Session, jax: str) -> None:
    """The whole suite against one JAX version (the oldest at every dependency's floor)."""
    _install_workspace(session, f"jax=={jax}", f"jaxlib=={jax}", lowest=jax == OLDEST_JAX)
    session.run("python", "-c", "import jax; print('jax', jax.__version__)")
    _pytest(session, "-n", "2")


@nox.session(python="3.11")
def typechecked(session: nox.Session) -> None:
    """The whole suite under jaxtyping's import hook with beartype over every eqx package.

    The compatibility suite runs this way, so an annotation narrower than what
    a function really accepts is a bug this session catches.
    """
    _install_workspace(session)
    packages = ",".join(p.name.replace("-", "_") for p in _packages())
    _pytest(session, "-n", "2", f"--jaxtyping-packages={packages},beartype.beartype")


@nox.session(python=[*PYTHONS, NEWEST_PYTHON] if _HAS_NEWEST_PYTHON else PYTHONS)
def tests_python(session: nox.Session) -> None:
    """The whole suite on one CPython, with the newest JAX that supports it."""
    _install_workspace(session)
    session.run("python", "-c", "import sys, jax; print(sys.version, 'jax', jax.__version__)")
    _pytest(session, "-n", "2")


if not _HAS_NEWEST_PYTHON:

    @nox.session(name=f"tests_python-{NEWEST_PYTHON}", python=False)
    def tests_python_newest(session: nox.Session) -> None:
        """Stands in for the newest CPython's run while no interpreter for it exists."""
        session.skip(
            f"no CPython {NEWEST_PYTHON} interpreter found (`uv python find "
            f"{NEWEST_PYTHON}` failed and it cannot be downloaded here); install one "
            f"(`uv python install {NEWEST_PYTHON}` or pyenv) and this session runs the suite"
        )


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
    _pytest(session, env=env)


@nox.session(python="3.11")
def multidevice(session: nox.Session) -> None:
    """Sharding / pmap tests and the data-parallel and FSDP examples on 8 simulated CPU devices."""
    _install_workspace(session)
    env = {"XLA_FLAGS": "--xla_force_host_platform_device_count=8"}
    session.run("python", "-c", "import jax; assert jax.device_count() == 8", env=env)
    _pytest(session, "-m", "multidevice", env=env)
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
    _pytest(session, "-m", "multihost", "-p", "no:randomly", env={"EQX_MULTIHOST": "1"})


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

    # What JAX alone installs: the reference for "eqx-tree pulls in nothing else".
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
            extra = installed - jax_only - {"eqx-tree", "wadler-lindig"}
            if extra:
                session.error(
                    f"eqx-tree installed more than jax (+ wadler-lindig): {sorted(extra)}"
                )
        session.log(f"{name}: installs eqx packages {sorted(ours)}")
        python = str(venv / "bin" / "python")
        session.run(python, "-c", f"import {name.replace('-', '_')}", external=True)
        session.run("uv", "pip", "install", "-q", "-p", str(venv), *_group("test"), external=True)
        session.run(
            python,
            "-m",
            "pytest",
            "-p",
            "no:cacheprovider",
            "-q",
            "-n",
            "2",
            str(package / "tests"),
            external=True,
        )


def _installed(session: nox.Session, venv: pathlib.Path) -> set[str]:
    """Normalised names of the distributions installed in `venv`."""
    out = subprocess.run(
        ["uv", "pip", "list", "-p", str(venv), "--format", "json"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    return {entry["name"].lower().replace("_", "-") for entry in json.loads(out)}


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
