"""`LazyExports`: a package's names, each imported from its submodule on first use."""

from __future__ import annotations

import importlib
import pathlib
import sys
import textwrap
from collections.abc import Iterator
from types import ModuleType

import pytest

from eqx_tree.internal import LazyExports

_INIT = """
import json  # a module bound in the package, not its API
from eqx_tree.internal import LazyExports

eager = 0
_version_reads = []


def _version():
    _version_reads.append(1)
    return "1.2.3"


_EXPORTS = LazyExports(
    __name__,
    {"one": "._one", "two": "._two", "broken": "._broken", "sub": ".sub", "_private": "._one"},
    version=_version,
)
__getattr__ = _EXPORTS.load
__dir__ = _EXPORTS.dir
"""


@pytest.fixture
def package(tmp_path: pathlib.Path) -> Iterator[ModuleType]:
    """A throwaway package `lazy_pkg` with two submodules and one that fails to import."""
    root = tmp_path / "lazy_pkg"
    root.mkdir()
    (root / "__init__.py").write_text(textwrap.dedent(_INIT))
    (root / "_two.py").write_text("two = [2]\n")
    (root / "_broken.py").write_text("import a_module_that_does_not_exist\nbroken = 0\n")
    (root / "sub.py").write_text("value = 3\n")
    (root / "_one.py").write_text("one = 1\n_private = -1\n")
    sys.path.insert(0, str(tmp_path))
    try:
        yield importlib.import_module("lazy_pkg")
    finally:
        sys.path.remove(str(tmp_path))
        for name in [n for n in sys.modules if n.split(".")[0] == "lazy_pkg"]:
            del sys.modules[name]


def test_a_submodule_is_imported_by_the_first_read_of_its_name_only(package: ModuleType) -> None:
    assert "lazy_pkg._one" not in sys.modules
    assert package.one == 1
    assert "lazy_pkg._one" in sys.modules
    assert "lazy_pkg._two" not in sys.modules


def test_the_value_is_the_submodule_object_and_is_stored_in_the_package(
    package: ModuleType,
) -> None:
    two = package.two
    assert two is sys.modules["lazy_pkg._two"].two
    assert vars(package)["two"] is two  # later reads are plain attribute reads


def test_from_import_and_all_and_dir_see_every_name(package: ModuleType) -> None:
    from lazy_pkg import one  # type: ignore[import-not-found]

    assert one == 1
    # The public names: the table's and the eager ones bound before it (modules aside).
    assert package.__all__ == ["LazyExports", "broken", "eager", "one", "sub", "two"]
    assert {"_private", "broken", "one", "sub", "two"} <= set(dir(package))
    assert package._private == -1


def test_a_name_mapped_to_its_own_submodule_is_that_submodule(package: ModuleType) -> None:
    assert package.sub is sys.modules["lazy_pkg.sub"]
    assert package.sub.value == 3


def test_an_unknown_name_is_an_attribute_error_naming_package_and_name(
    package: ModuleType,
) -> None:
    with pytest.raises(AttributeError, match="module 'lazy_pkg' has no attribute 'three'") as info:
        package.three
    # `name` and `obj` let Python's traceback suggest a listed name ("Did you mean").
    assert (info.value.name, info.value.obj) == ("three", package)
    assert not hasattr(package, "three")


def test_a_failing_submodule_import_is_reported_as_that_import_error(package: ModuleType) -> None:
    # Not turned into an AttributeError, which would hide the real cause.
    with pytest.raises(ModuleNotFoundError, match="a_module_that_does_not_exist"):
        package.broken


def test_version_is_read_on_first_access_only(package: ModuleType) -> None:
    assert package._version_reads == []  # importing the package does not read it
    assert package.__version__ == "1.2.3"
    assert package.__version__ == "1.2.3"
    assert package._version_reads == [1]  # stored in the package after the first read
    assert "__version__" not in package.__all__


def test_without_a_version_reader_version_is_an_attribute_error() -> None:
    exports = LazyExports(__name__, {})
    with pytest.raises(AttributeError, match="has no attribute '__version__'"):
        exports.load("__version__")
