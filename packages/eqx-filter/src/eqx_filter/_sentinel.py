"""The private "argument not given" marker used as a default (spec notation `sentinel`)."""

from __future__ import annotations

__all__ = ["sentinel"]


class _Sentinel:
    __slots__ = ()

    def __repr__(self) -> str:
        return "sentinel"


sentinel: object = _Sentinel()
