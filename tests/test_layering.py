"""The strict package order: a package loads only itself and the packages to its left."""

from __future__ import annotations

import json
import pathlib
import subprocess
import sys
import textwrap
from collections.abc import Sequence

import pytest

# Left to right: a package may import only those to its left.
ORDER = ("eqx_tree", "eqx_module", "eqx_filter", "eqx_nn", "eqx")


def loaded_top_level_modules(import_name: str, extra_path: Sequence[str] = ()) -> set[str]:
    """Import all of `import_name` in a fresh interpreter; return the top-level modules loaded."""
    code = (
        "import sys, json\n"
        f"sys.path[:0] = {list(extra_path)!r}\n"
        f"import {import_name}\n"
        # Packages that import their submodules on first use (eqx_nn): load them all.
        f"from {import_name} import *\n"
        "print(json.dumps(sorted({m.split('.')[0] for m in sys.modules})))\n"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True
    ).stdout
    return set(json.loads(out.strip().splitlines()[-1]))


def layering_violations(
    import_name: str, loaded: set[str], order: Sequence[str] = ORDER
) -> list[str]:
    """The eqx packages in `loaded` that `import_name` may not load (those to its right)."""
    allowed = set(order[: order.index(import_name) + 1])
    return sorted(m for m in loaded if m in order and m not in allowed)


@pytest.mark.parametrize("package", ORDER)
def test_package_loads_only_packages_to_its_left(package: str) -> None:
    loaded = loaded_top_level_modules(package)
    assert package in loaded
    assert layering_violations(package, loaded) == []


def test_eqx_tree_loads_no_other_eqx_package_and_no_optional_dependency() -> None:
    loaded = loaded_top_level_modules("eqx_tree")
    assert {m for m in loaded if m.startswith("eqx")} == {"eqx_tree"}
    # Optional dependencies (checkpoint format, plotting, optimisers) load lazily.
    assert loaded.isdisjoint({"safetensors", "optax", "matplotlib", "equinox"})


def test_meta_test_layering_check_catches_a_package_importing_to_its_right(
    tmp_path: pathlib.Path,
) -> None:
    # A stand-in for eqx_tree that (wrongly) imports eqx_module: the check must object.
    bad = tmp_path / "bad_tree"
    bad.mkdir()
    (bad / "__init__.py").write_text(textwrap.dedent("import eqx_module\n"))
    order = ("bad_tree", "eqx_module")
    loaded = loaded_top_level_modules("bad_tree", extra_path=[str(tmp_path)])
    assert layering_violations("bad_tree", loaded, order) == ["eqx_module"]


def test_meta_test_layering_check_accepts_a_package_importing_to_its_left(
    tmp_path: pathlib.Path,
) -> None:
    good = tmp_path / "good_module"
    good.mkdir()
    (good / "__init__.py").write_text("import eqx_tree\n")
    order = ("eqx_tree", "good_module")
    loaded = loaded_top_level_modules("good_module", extra_path=[str(tmp_path)])
    assert layering_violations("good_module", loaded, order) == []
