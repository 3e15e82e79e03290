"""The eqx Module base class: frozen dataclasses that are PyTrees.

`Module` subclasses are frozen-after-init dataclasses, PyTrees (children keyed by
`GetAttrKey(field)`) and ABCs. `field` adds `converter=` and `static=` options;
`AbstractVar`/`AbstractClassVar` declare abstract attributes; `Partial`, `Static` and
`BoundMethod` are small Modules the transforms build on.
"""

from ._abstract import AbstractClassVar as AbstractClassVar
from ._abstract import AbstractVar as AbstractVar
from ._bound_method import BoundMethod as BoundMethod
from ._field import field as field
from ._field import static_field as static_field
from ._module import Module as Module
from ._partial import Partial as Partial
from ._static import Static as Static
from ._version import version as _read_version
from ._wrapper import StrictConfig as StrictConfig
from ._wrapper import module_update_wrapper as module_update_wrapper

__version__: str  # resolved on first access by `__getattr__` (reading it costs milliseconds)


def __getattr__(name: str) -> str:
    if name == "__version__":
        return _read_version()
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
