"""The one place eqx_tree touches JAX internals, each access guarded.

Checked against JAX 0.4.38 to 0.12. Each lookup degrades to a harmless default when
the private symbol is absent.
"""

from __future__ import annotations

import importlib

__all__ = ["LITERAL_ARRAY_TYPES"]


def _literal_array_types() -> tuple[type, ...]:
    # Newer JAX (≈0.7+) has typed Python-scalar literals (int/float/complex subclasses
    # carrying a dtype); they are concrete arrays for eqx's purposes. Absent in older JAX.
    try:
        literals = importlib.import_module("jax._src.literals")
    except ImportError:
        return ()
    names = ("TypedInt", "TypedFloat", "TypedComplex", "TypedNdArray")
    return tuple(t for t in (getattr(literals, n, None) for n in names) if isinstance(t, type))


LITERAL_ARRAY_TYPES: tuple[type, ...] = _literal_array_types()
