"""Checks of layer hyperparameters at construction: a clear `ValueError`, not a crash later.

Without them a negative size fails deep inside JAX ("math domain error", an MLIR
"invalid tensor dimension size") and an out-of-range probability silently computes
nonsense. Each check names the layer, the parameter and its valid range. Arrays are
checked only when concrete (a traced hyperparameter keeps JAX's semantics).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

__all__ = ["check_at_least", "check_in_range", "check_size", "check_sizes"]


def _is_int(value: Any) -> bool:
    return isinstance(value, (int, np.integer)) and not isinstance(value, bool)


def check_size(layer: str, name: str, value: Any, minimum: int = 0, scalar: bool = False) -> None:
    """`value` is an int `>= minimum` (or the string `"scalar"` when `scalar`)."""
    if scalar and value == "scalar":
        return
    if not _is_int(value) or value < minimum:
        also = ' (or "scalar")' if scalar else ""
        raise ValueError(f"`{layer}`: `{name}` must be an int >= {minimum}{also}; got {value!r}.")


def check_sizes(layer: str, name: str, values: Any, minimum: int = 0) -> None:
    """`values` is an int, or a sequence of ints (or of int pairs), each `>= minimum`."""
    items = values if isinstance(values, Sequence) and not isinstance(values, str) else [values]
    for item in items:
        pair = item if isinstance(item, Sequence) and not isinstance(item, str) else [item]
        for entry in pair:
            if not _is_int(entry) or entry < minimum:
                raise ValueError(
                    f"`{layer}`: every entry of `{name}` must be an int >= {minimum}; got "
                    f"{values!r}."
                )


def _concrete_values(value: Any) -> np.ndarray | None:
    """`value` as a float array, or `None` when it is traced (or not numeric at all)."""
    try:
        return np.asarray(value, dtype=float)
    except Exception:  # a tracer cannot be converted: JAX's semantics apply
        return None


def check_in_range(layer: str, name: str, value: Any, low: int | float, high: int | float) -> None:
    """Every element of a concrete `value` lies in `[low, high]`."""
    values = _concrete_values(value)
    if values is None:
        return
    if values.size and (np.any(values < low) or np.any(values > high) or np.any(np.isnan(values))):
        raise ValueError(f"`{layer}`: `{name}` must be in [{low}, {high}]; got {value!r}.")


def check_at_least(layer: str, name: str, value: Any, low: int | float) -> None:
    """Every element of a concrete `value` is `>= low` (for example an `eps`)."""
    values = _concrete_values(value)
    if values is None:
        return
    if values.size and (np.any(values < low) or np.any(np.isnan(values))):
        raise ValueError(f"`{layer}`: `{name}` must be >= {low}; got {value!r}.")
