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

# --- per-field metadata, freezing and model summaries ---
from ._freeze import freeze as freeze
from ._metadata import BUFFER as BUFFER
from ._metadata import SHARDING as SHARDING
from ._metadata import TRAINABLE as TRAINABLE
from ._metadata import WEIGHT_DECAY as WEIGHT_DECAY
from ._metadata import field_mask as field_mask
from ._summary import SummaryRow as SummaryRow
from ._summary import TreeSummary as TreeSummary
from ._summary import tree_summary as tree_summary

__version__: str  # resolved on first access by `__getattr__` (reading it costs milliseconds)


def __getattr__(name: str) -> str:
    if name == "__version__":
        return _read_version()
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
