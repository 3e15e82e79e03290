"""`filter_jit` (private subpackage; `eqx_filter` re-exports the public names).

- `_config.py`: the options of one `filter_jit`, checked and interned;
- `_plan.py`: which leaves of a call are arrays, and the hot path's structure check;
- `_entry.py`: one static configuration, its `jax.jit` and its state machine;
- `_dispatch.py`: the slow path (binding, flattening, finding or making entries);
- `_filter_jit.py`: the public wrapper with the inlined hot path, and lowering;
- `_messages.py`, `_bind.py`, `_history.py`: errors, signatures, retrace history.
"""

from ._filter_jit import Compiled as Compiled
from ._filter_jit import Lowered as Lowered
from ._filter_jit import filter_jit as filter_jit
from ._history import trace_signatures as trace_signatures

__all__ = ["Compiled", "Lowered", "filter_jit", "trace_signatures"]
