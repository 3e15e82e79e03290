"""The options of one `filter_jit`, checked once and interned as a `JitConfig`.

A new option goes in three places here: a field of `JitOptions` (what keys the
interned config), a check in `check_options` (raised when `filter_jit` is called, not
at the first call), and whatever the config derives from it in `JitConfig.__init__`.
The plan (`_plan.py`) reads the derived values when it builds the inner `jax.jit`.
"""

from __future__ import annotations

import threading
from typing import Any, Literal, NamedTuple, get_args

import jax

from ._plan import FunctionCache
from ._shardings import check_sharding_prefix

__all__ = ["DONATE_MODES", "DonateMode", "JitConfig", "JitOptions", "check_donate", "get_config"]

DonateMode = Literal["all", "all-except-first", "warn", "warn-except-first", "none"]
DONATE_MODES: tuple[str, ...] = get_args(DonateMode)

_RESERVED_JITKWARGS = {
    "static_argnums": "array leaves are traced and every other leaf is static already",
    "static_argnames": "array leaves are traced and every other leaf is static already",
    "donate_argnums": "use `donate='all'` or `donate='all-except-first'` instead",
    "donate_argnames": "use `donate='all'` or `donate='all-except-first'` instead",
}
_LEGACY_JITKWARGS = ("default", "fn", "args", "kwargs", "out")


class JitOptions(NamedTuple):
    """Everything that configures one `filter_jit` (hashable: it keys the config)."""

    donate: str
    jitkwargs: tuple[tuple[str, Any], ...]  # the other `jax.jit` keywords, sorted
    in_shardings: Any = None  # a prefix of `(args, kwargs)`; None: no constraint
    out_shardings: Any = None  # a prefix of the output; None: no constraint
    check_aliasing: bool = False


def check_donate(donate: object, valid: tuple[str, ...] = DONATE_MODES) -> None:
    """Raise a `ValueError` listing the valid modes for an unknown `donate`."""
    if donate not in valid:
        raise ValueError(
            f"`donate` must be one of {', '.join(repr(v) for v in valid)}; got {donate!r}."
        )


def check_options(
    donate: object,
    jitkwargs: dict[str, Any],
    in_shardings: Any = None,
    out_shardings: Any = None,
    *,
    check_aliasing: object = False,
) -> None:
    """Reject bad options when `filter_jit` is called (not at the first call)."""
    check_donate(donate)
    if not isinstance(check_aliasing, bool):
        raise TypeError(f"`check_aliasing` must be True or False; got {check_aliasing!r}.")
    check_sharding_prefix("in_shardings", in_shardings)
    check_sharding_prefix("out_shardings", out_shardings)
    for name in jitkwargs:
        if name in _RESERVED_JITKWARGS:
            raise ValueError(f"filter_jit does not accept `{name}`: {_RESERVED_JITKWARGS[name]}.")
        if name in _LEGACY_JITKWARGS:
            raise ValueError(
                f"filter_jit no longer accepts `{name}` (a pre-0.10 filter keyword): "
                "array leaves are traced and every other leaf is static. Remove it."
            )


class JitConfig:
    """The checked options of one `filter_jit`, and the compile caches made under them.

    Configs are interned (equal options give the same object), so they hash by
    identity and key the caches cheaply; the caches hang off the config, so every
    wrapper with these options (`filter_jit(f)` made again in a loop) shares them.
    """

    __slots__ = (
        "__weakref__",
        "check_aliasing",
        "donate",
        "function_caches",
        "general_cache",
        "in_shardings",
        "jitkwargs",
        "options",
        "out_shardings",
        "silence_donation",
    )

    def __init__(self, options: JitOptions) -> None:
        self.options = options
        self.donate = options.donate
        self.jitkwargs = dict(options.jitkwargs)
        self.in_shardings = options.in_shardings
        self.out_shardings = options.out_shardings
        # Read by `filter_jit` only, to pick its wrapper class: the default wrapper's
        # hot path has no aliasing branch at all.
        self.check_aliasing = options.check_aliasing
        # "all"/"all-except-first" promise that donation just happens: JAX's warning
        # about buffers it could not reuse is hidden. The "warn" modes show it.
        self.silence_donation = options.donate in ("all", "all-except-first")
        # id(fun) -> (weak reference to fun, its cache), for plain functions.
        self.function_caches: dict[int, tuple[Any, FunctionCache]] = {}
        # One cache for every other callable; its structure is part of the treedef.
        self.general_cache = FunctionCache(None)

    def __repr__(self) -> str:
        return (
            f"JitConfig(donate={self.donate!r}, jitkwargs={self.jitkwargs!r}, "
            f"in_shardings={self.in_shardings!r}, out_shardings={self.out_shardings!r}"
            f"{', check_aliasing=True' if self.check_aliasing else ''})"
        )


_configs: dict[JitOptions, JitConfig] = {}
_configs_lock = threading.Lock()


def get_config(
    donate: str,
    jitkwargs: dict[str, Any],
    in_shardings: Any = None,
    out_shardings: Any = None,
    *,
    check_aliasing: bool = False,
) -> JitConfig:
    """The interned config for these (checked) options; a fresh one if unhashable."""
    options = JitOptions(
        donate, tuple(sorted(jitkwargs.items())), in_shardings, out_shardings, check_aliasing
    )
    try:
        config = _configs.get(options)
    except TypeError:
        _check_jax_accepts(jitkwargs)
        return JitConfig(options)
    if config is None:
        _check_jax_accepts(jitkwargs)
        with _configs_lock:
            config = _configs.setdefault(options, JitConfig(options))
    return config


def all_configs() -> list[JitConfig]:
    return list(_configs.values())


def _check_jax_accepts(jitkwargs: dict[str, Any]) -> None:
    """Raise `jax.jit`'s own `TypeError` now for keywords it does not take."""
    if jitkwargs:
        jax.jit(_identity, **jitkwargs)


def _identity(x: Any) -> Any:
    return x
