"""The static import graph: no cycles inside a package, no reaching into a sibling's privates.

Both are read from the source with `ast` (nothing is imported), so a cycle that only a
lazy import inside a function, or one under `if TYPE_CHECKING:`, closes is found too:
it still ties two modules together so that neither can be understood, tested or moved
without the other.

- An import cycle inside a package: each package's modules and the imports they name
  (module level, inside functions, type-only) must form a DAG.
- A private cross-package import: the eqx packages are versioned separately, so one may
  use from another only its public API or its `internal` module (whose names that
  package lists, tests and records in its changelog). `from eqx_tree._warnings import x`
  in eqx_nn would tie each eqx_nn release to eqx_tree's private layout.
"""

from __future__ import annotations

import ast
import pathlib
import textwrap
from collections.abc import Iterator

import pytest

ROOT = pathlib.Path(__file__).resolve().parents[1]
PACKAGES = ("eqx_tree", "eqx_module", "eqx_filter", "eqx_nn", "eqx")


def package_dir(import_name: str) -> pathlib.Path:
    return ROOT / "packages" / import_name.replace("_", "-") / "src" / import_name


def module_files(src: pathlib.Path, import_name: str) -> dict[str, pathlib.Path]:
    """Dotted module name -> file, for every module of the package rooted at `src`."""
    modules = {}
    for path in sorted(src.rglob("*.py")):
        parts = (import_name, *path.relative_to(src).with_suffix("").parts)
        if parts[-1] == "__init__":
            parts = parts[:-1]
        modules[".".join(parts)] = path
    return modules


def _import_nodes(tree: ast.AST) -> Iterator[ast.Import | ast.ImportFrom]:
    """Every import statement: module level, inside functions, under `if TYPE_CHECKING:`."""
    for node in ast.walk(tree):
        if isinstance(node, ast.Import | ast.ImportFrom):
            yield node


def imported_modules(module: str, path: pathlib.Path) -> Iterator[tuple[str, str | None]]:
    """(absolute module, imported name or None) for each import in `module`'s source."""
    is_package = path.name == "__init__.py"
    tree = ast.parse(path.read_text(), filename=str(path))
    for node in _import_nodes(tree):
        if isinstance(node, ast.Import):
            for alias in node.names:
                yield alias.name, None
            continue
        base = node.module or ""
        if node.level:
            anchor = module.split(".")
            if not is_package:
                anchor = anchor[:-1]
            anchor = anchor[: len(anchor) - (node.level - 1)]
            base = ".".join(anchor + ([base] if base else []))
        for alias in node.names:
            yield base, alias.name


def import_graph(src: pathlib.Path, import_name: str) -> dict[str, set[str]]:
    """Module -> the modules of the same package it imports (a submodule named by
    `from pkg import sub` counts as importing `pkg.sub`)."""
    modules = module_files(src, import_name)
    graph: dict[str, set[str]] = {name: set() for name in modules}
    for name, path in modules.items():
        for base, imported in imported_modules(name, path):
            target = f"{base}.{imported}" if imported and f"{base}.{imported}" in modules else base
            if target in modules and target != name:
                graph[name].add(target)
    return graph


def find_cycle(graph: dict[str, set[str]]) -> list[str] | None:
    """One cycle of `graph` as a closed path [a, b, ..., a], or None if it is a DAG."""
    done: set[str] = set()
    for start in sorted(graph):
        if start in done:
            continue
        path: list[str] = []
        on_path: set[str] = set()
        stack: list[tuple[str, Iterator[str]]] = [(start, iter(sorted(graph[start])))]
        path.append(start)
        on_path.add(start)
        while stack:
            node, children = stack[-1]
            child = next(children, None)
            if child is None:
                stack.pop()
                path.pop()
                on_path.discard(node)
                done.add(node)
            elif child in on_path:
                return [*path[path.index(child) :], child]
            elif child not in done:
                stack.append((child, iter(sorted(graph[child]))))
                path.append(child)
                on_path.add(child)
    return None


def private_cross_package_imports(
    files: dict[str, pathlib.Path], owner: str, siblings: tuple[str, ...] = PACKAGES
) -> list[tuple[pathlib.Path, str]]:
    """(file, `module[:name]`) for each import of a sibling package's private module or name."""
    found = []
    for module, path in files.items():
        for base, imported in imported_modules(module, path):
            top, *rest = base.split(".")
            if top == owner or top not in siblings:
                continue
            private_module = any(p.startswith("_") and not p.startswith("__") for p in rest)
            private_name = imported is not None and imported.startswith("_")
            if private_module or private_name:
                found.append((path, f"{base}:{imported}" if private_name else base))
    return found


def _test_files(import_name: str) -> dict[str, pathlib.Path]:
    tests = ROOT / "packages" / import_name.replace("_", "-") / "tests"
    return {f"tests.{p.stem}": p for p in sorted(tests.rglob("*.py"))}


@pytest.mark.parametrize("import_name", PACKAGES)
def test_no_import_cycle_inside_the_package(import_name: str) -> None:
    graph = import_graph(package_dir(import_name), import_name)
    assert len(graph) > 1
    assert find_cycle(graph) is None, f"import cycle: {' -> '.join(find_cycle(graph) or [])}"


@pytest.mark.parametrize("import_name", PACKAGES)
def test_no_private_import_from_a_sibling_package(import_name: str) -> None:
    files = {**module_files(package_dir(import_name), import_name), **_test_files(import_name)}
    found = {
        (str(path.relative_to(ROOT)), what)
        for path, what in private_cross_package_imports(files, import_name)
    }
    unexpected = sorted(found)
    assert unexpected == [], (
        "import these through the sibling's public API or its `internal` module "
        f"(add the name there, with a changelog line): {unexpected}"
    )


def _write_package(root: pathlib.Path, name: str, modules: dict[str, str]) -> pathlib.Path:
    src = root / name
    for module, code in modules.items():
        path = src / (module.replace(".", "/") + ".py")
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(textwrap.dedent(code))
    return src


def test_meta_test_cycle_check_finds_a_cycle_closed_by_a_lazy_relative_import(
    tmp_path: pathlib.Path,
) -> None:
    src = _write_package(
        tmp_path,
        "pkg",
        {
            "__init__": "from ._a import f\n",
            "_a": "from ._b import g\ndef f(): return g()\n",
            "_b": "def g():\n    from ._a import f\n    return f\n",
        },
    )
    assert find_cycle(import_graph(src, "pkg")) == ["pkg._a", "pkg._b", "pkg._a"]


def test_meta_test_cycle_check_finds_a_cycle_closed_by_a_type_only_import(
    tmp_path: pathlib.Path,
) -> None:
    src = _write_package(
        tmp_path,
        "pkg",
        {
            "__init__": "",
            "_a": "from ._b import g\n",
            "_b": (
                "from typing import TYPE_CHECKING\n"
                "if TYPE_CHECKING:\n    from ._a import Thing\n"
                "def g(x: 'Thing'): return x\n"
            ),
        },
    )
    assert find_cycle(import_graph(src, "pkg")) == ["pkg._a", "pkg._b", "pkg._a"]


def test_meta_test_cycle_check_accepts_a_dag_of_nested_relative_imports(
    tmp_path: pathlib.Path,
) -> None:
    src = _write_package(
        tmp_path,
        "pkg",
        {
            "__init__": "from ._a import f\nfrom . import sub\n",
            "_a": "from .sub._c import h\ndef f(): return h()\n",
            "sub.__init__": "",
            "sub._c": "from .. import _d\ndef h(): return _d.ONE\n",
            "_d": "ONE = 1\n",
        },
    )
    graph = import_graph(src, "pkg")
    assert graph["pkg"] == {"pkg._a", "pkg.sub"}
    assert graph["pkg._a"] == {"pkg.sub._c"}
    assert graph["pkg.sub._c"] == {"pkg._d"}
    assert find_cycle(graph) is None


def test_meta_test_private_import_check_catches_modules_and_names(
    tmp_path: pathlib.Path,
) -> None:
    src = _write_package(
        tmp_path,
        "eqx_nn",
        {
            "_a": "from eqx_tree._warnings import warn_at_user_code\n",
            "_b": "from eqx_tree import _private_helper\nimport eqx_module._flatten\n",
            "_c": (
                "from eqx_tree.internal import sentinel\nfrom eqx_tree import tree_at\n"
                "from ._a import x\nfrom eqx_nn._b import y\nimport jax._src\n"
            ),
        },
    )
    found = private_cross_package_imports(module_files(src, "eqx_nn"), "eqx_nn")
    assert sorted((p.name, what) for p, what in found) == [
        ("_a.py", "eqx_tree._warnings"),
        ("_b.py", "eqx_module._flatten"),
        ("_b.py", "eqx_tree:_private_helper"),
    ]
