"""The "argument not given" marker (distinct from `None`, which is a meaningful value)."""

from __future__ import annotations

import enum

__all__ = ["sentinel"]


class _Sentinel(enum.Enum):
    sentinel = enum.auto()

    def __repr__(self) -> str:
        return "sentinel"


sentinel = _Sentinel.sentinel
