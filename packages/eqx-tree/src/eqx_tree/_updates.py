"""`apply_updates`: add an update tree (for example from an optimiser) to a model."""

from __future__ import annotations

from typing import Any

import jax.tree_util as jtu

__all__ = ["apply_updates"]


def _apply(update: Any, leaf: Any) -> Any:
    return leaf if update is None else leaf + update


def apply_updates(model: Any, updates: Any) -> Any:
    """`model + updates`, leaf by leaf; a `None` update keeps that part of the model.

    Arguments:
        model: the PyTree to update.
        updates: a prefix of `model` (with `None` counting as a leaf); typically the
            output of an optax optimiser, `None` where nothing is trained.

    Returns:
        The updated model. A failing `+` raises its own error (e.g. `TypeError`).

    Example:
        >>> apply_updates({"w": 1.0, "f": None}, {"w": 0.5, "f": None})
        {'w': 1.5, 'f': None}
    """
    return jtu.tree_map(_apply, updates, model, is_leaf=lambda x: x is None)
