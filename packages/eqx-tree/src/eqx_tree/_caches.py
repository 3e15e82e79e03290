"""A process-wide registry of cache clearers, run by `clear_caches()`.

Every cache in eqx (the `filter_jit` compile cache, the eval-shape helper, the RoPE
tables, ...) registers a function that empties it, so one call frees them all, for
example between experiments in a long-lived notebook. `clear_caches` does not call
`jax.clear_caches()`: JAX's own caches are JAX's business.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TypeVar

__all__ = ["clear_caches", "register_cache_clearer"]

_Clearer = TypeVar("_Clearer", bound=Callable[[], object])
_clearers: list[Callable[[], object]] = []


def register_cache_clearer(fn: _Clearer) -> _Clearer:
    """Add `fn` to the functions `clear_caches()` runs; usable as a decorator.

    Registering the same function twice does nothing.

    Example:
        >>> _cache: dict[str, int] = {}
        >>> @register_cache_clearer
        ... def _clear() -> None:
        ...     _cache.clear()
    """
    if not any(existing is fn for existing in _clearers):
        _clearers.append(fn)
    return fn


def clear_caches() -> None:
    """Empty every eqx cache, in registration order.

    Every clearer runs even if an earlier one raises; the first exception is then
    re-raised.
    """
    first_error: BaseException | None = None
    for clearer in list(_clearers):
        try:
            clearer()
        except Exception as error:  # re-raised below, after the others ran
            if first_error is None:
                first_error = error
    if first_error is not None:
        raise first_error
