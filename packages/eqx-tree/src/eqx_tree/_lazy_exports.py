"""`LazyExports`: a package's public names, each imported from its submodule on first use.

A package whose `__init__.py` imports every submodule makes `import package` pay for
all of them, even when a program uses one. With `LazyExports`, `__init__.py` keeps a
table from each public name to the module that defines it; the module-level
`__getattr__` imports that module the first time the name is read, and stores the
name in the package, so later reads are plain attribute reads. Type checkers do not
run `__getattr__`: the package repeats the imports under `typing.TYPE_CHECKING`.

```python
# package/__init__.py
from typing import TYPE_CHECKING

from eqx_tree.internal import LazyExports

if TYPE_CHECKING:
    from ._linear import Linear as Linear

_EXPORTS = LazyExports(__name__, {"Linear": "._linear"})
__all__ = _EXPORTS.names  # pyright: ignore[reportUnsupportedDunderAll]

if not TYPE_CHECKING:  # a visible `__getattr__` would hide misspelt names from mypy
    __getattr__ = _EXPORTS.load
    __dir__ = _EXPORTS.dir
```
"""

from __future__ import annotations

import importlib
import sys
from collections.abc import Mapping
from typing import Any

__all__ = ["LazyExports"]


class LazyExports:
    """The table `{public name: module defining it}` of a package, loaded name by name.

    Arguments:
        package: the package's `__name__`.
        sources: each public name and the module to import it from, relative to
            `package` (`"._linear"`) or absolute (`"eqx_nn"`).
    """

    __slots__ = ("names", "package", "sources")

    def __init__(self, package: str, sources: Mapping[str, str]) -> None:
        self.package = package
        self.sources = dict(sources)
        self.names: list[str] = sorted(self.sources)

    def load(self, name: str) -> Any:
        """The value of `package.<name>`: imports its module and caches it in the package.

        Raises `AttributeError` (naming the package and the attribute) for a name
        that is not in the table, as a plain module does.
        """
        source = self.sources.get(name)
        if source is None:
            # `name` and `obj` let Python suggest the closest public name.
            raise AttributeError(
                f"module {self.package!r} has no attribute {name!r}",
                name=name,
                obj=sys.modules.get(self.package),
            )
        value = getattr(importlib.import_module(source, self.package), name)
        setattr(sys.modules[self.package], name, value)  # later reads skip `__getattr__`
        return value

    def dir(self) -> list[str]:
        """The package's attributes, loaded or not, for `dir(package)` and completion."""
        return sorted(set(vars(sys.modules[self.package])) | set(self.sources))
