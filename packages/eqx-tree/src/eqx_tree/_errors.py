"""Errors that carry the PyTree path of the leaf they concern."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

__all__ = ["TreePathError"]


class TreePathError(RuntimeError):
    """An operation failed on one leaf of a PyTree; `.path` is that leaf's key path.

    `path` is the raw tuple of JAX key entries (for example
    `(SequenceKey(idx=1), DictKey(key='a'))`), so `jax.tree_util.keystr(e.path)` gives
    the readable form. The original exception is chained as `__cause__`.
    """

    path: tuple[Any, ...]

    def __init__(self, message: str, path: Iterable[Any] = ()) -> None:
        super().__init__(message)
        self.path = tuple(path)
