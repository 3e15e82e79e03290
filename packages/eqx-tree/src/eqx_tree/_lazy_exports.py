"""`LazyExports`: a package's public names, each imported from its submodule on first use.

A package whose `__init__.py` imports every submodule makes `import package` pay for
all of them, even when a program uses one. With `LazyExports`, `__init__.py` keeps a
table from each public name to the module that defines it; the module-level
`__getattr__` imports that module the first time the name is read, and stores the
name in the package, so later reads are plain attribute reads. Type checkers do not
run `__getattr__`: the package repeats the imports under `typing.TYPE_CHECKING`.
`__getattr__` also serves `__all__` (every public name, for `from package import *`).

```python
# package/__init__.py
from typing import TYPE_CHECKING

from eqx_tree.internal import LazyExports

if TYPE_CHECKING:
    from ._linear import Linear as Linear

_EXPORTS = LazyExports(__name__, {"Linear": "._linear"})

if not TYPE_CHECKING:  # a visible `__getattr__` would hide misspelt names from mypy
    __getattr__ = _EXPORTS.load
    __dir__ = _EXPORTS.dir
```
"""

from __future__ import annotations

import importlib
import sys
import types
from collections.abc import Callable, Mapping
from typing import Any

__all__ = ["LazyExports"]


class LazyExports:
    """The table `{public name: module defining it}` of a package, loaded name by name.

    Arguments:
        package: the package's `__name__`.
        sources: each name and the module to import it from, relative to `package`
            (`"._linear"`) or absolute (`"eqx_nn"`). A name mapped to the package's
            submodule of that name (`{"debug": ".debug"}`) is that submodule.
        version: reads the package's installed version, served as `__version__` on
            first access (reading distribution metadata scans `sys.path`: milliseconds).

    `load("__all__")` gives the package's public names (no leading underscore), for
    `from package import *`: the table's, and those the package bound before creating
    the table (its eager imports; modules only if they are its own submodules). Served
    by `__getattr__` rather than assigned, because documentation tools read `__all__`
    without running code and accept only a list of strings; without it they see the
    `TYPE_CHECKING` re-exports.
    """

    __slots__ = ("package", "public", "sources", "version")

    def __init__(
        self,
        package: str,
        sources: Mapping[str, str],
        version: Callable[[], str] | None = None,
    ) -> None:
        self.package = package
        self.sources = dict(sources)
        self.version = version
        bound = vars(sys.modules[package]).items()
        own = {name for name, value in bound if _is_own(package, value)}
        self.public = sorted(n for n in own | set(self.sources) if not n.startswith("_"))

    def load(self, name: str) -> Any:
        """The value of `package.<name>`: imports its module and caches it in the package.

        Raises `AttributeError` (naming the package and the attribute) for a name
        that is not in the table, as a plain module does.
        """
        if name == "__all__":
            value: Any = list(self.public)
        elif name == "__version__" and self.version is not None:
            value = self.version()
        elif name in self.sources:
            module = importlib.import_module(self.sources[name], self.package)
            is_submodule = module.__name__ == f"{self.package}.{name}"
            value = module if is_submodule else getattr(module, name)
        else:
            # `name` and `obj` let Python suggest the closest public name.
            raise AttributeError(
                f"module {self.package!r} has no attribute {name!r}",
                name=name,
                obj=sys.modules.get(self.package),
            )
        setattr(sys.modules[self.package], name, value)  # later reads skip `__getattr__`
        return value

    def dir(self) -> list[str]:
        """The package's attributes, loaded or not, for `dir(package)` and completion."""
        return sorted(set(vars(sys.modules[self.package])) | set(self.sources))


def _is_own(package: str, value: Any) -> bool:
    """Whether `value` bound in `package` is its API: not a module, or its own submodule.

    (An import hook may add `import jaxtyping` to every module it instruments.)
    """
    return not isinstance(value, types.ModuleType) or value.__name__.startswith(f"{package}.")
