"""`filter_jit`: `jax.jit` where array leaves are traced and every other leaf is static.

The dispatch path and the compile cache live in `_jit_cache.py`; this file holds the
public wrapper Module, argument checking and ahead-of-time lowering.
"""

from __future__ import annotations

import contextlib
import functools
import types
import warnings
from collections.abc import Callable, Iterator
from typing import Any, cast

from eqx_module import Module, field, module_update_wrapper

from ._compat import block_until_ready
from ._jit_cache import (
    JitConfig,
    dispatch,
    function_cache,
    get_config,
    lookup_plan,
    plan_call,
    prepare,
    registry,
    trace_signatures,
    up_to_failed,
)
from ._jit_errors import (
    DONATED_BUFFERS_MESSAGE,
    call_silenced,
    finish_after_retrace,
    translate_hot_path_error,
)
from ._sentinel import sentinel
from ._wrapper import TransformWrapper

__all__ = ["Compiled", "Lowered", "filter_jit", "trace_signatures"]

DONATE_MODES = ("all", "all-except-first", "warn", "warn-except-first", "none")

_RESERVED_JITKWARGS = {
    "static_argnums": "array leaves are traced and every other leaf is static already",
    "static_argnames": "array leaves are traced and every other leaf is static already",
    "donate_argnums": "use `donate='all'` or `donate='all-except-first'` instead",
    "donate_argnames": "use `donate='all'` or `donate='all-except-first'` instead",
    "in_shardings": "it is not supported yet; use `filter_shard` on the inputs instead",
    "out_shardings": "it is not supported yet; use `filter_shard` on the outputs instead",
}
_LEGACY_JITKWARGS = ("default", "fn", "args", "kwargs", "out")


def check_jitkwargs(jitkwargs: dict[str, Any]) -> None:
    for name in jitkwargs:
        if name in _RESERVED_JITKWARGS:
            raise ValueError(f"filter_jit does not accept `{name}`: {_RESERVED_JITKWARGS[name]}.")
        if name in _LEGACY_JITKWARGS:
            raise ValueError(
                f"filter_jit no longer accepts `{name}` (a pre-0.10 filter keyword): "
                "array leaves are traced and every other leaf is static. Remove it."
            )


def check_donate(donate: str, valid: tuple[str, ...] = DONATE_MODES) -> None:
    if donate not in valid:
        raise ValueError(
            f"`donate` must be one of {', '.join(repr(v) for v in valid)}; got {donate!r}."
        )


_FunctionType = types.FunctionType
_registry = registry


class _JitWrapper(TransformWrapper):
    _fun: Callable[..., Any]
    _config: JitConfig = field(static=True)

    # `(fun, its cache)` when `fun` is a plain function: set by `filter_jit` on the
    # wrapper it returns, so the hot path needs no lookup in `config.function_caches`.
    # Not a field: neither flattened nor compared, and a copy made by unflattening (or
    # one whose `_fun` was replaced) falls back to the lookup.
    _jit_hot = cast(Any, None)

    @property
    def __wrapped__(self) -> Callable[..., Any]:
        return self._fun

    def __call__(self, /, *args: Any, **kwargs: Any) -> Any:
        # The hot path (DESIGN §5), inlined because every frame shows at depth 2: check
        # the positional arguments against the plan used last with one C++
        # `flatten_up_to` (it walks the call only as far as the plan's treedef and
        # compares every node on the way; see `_Plan`) plus the leaf types, which also
        # gives the leaves; else one full flatten and a lookup of the plan for
        # (treedef, leaf types) (which leaves are arrays). Then one lookup of the static
        # leaves giving the entry, and the entry's `jax.jit` of the flat array leaves.
        # A plan exists only for a treedef that an earlier call bound successfully to
        # `fun`'s signature, and the treedef fixes the number of positional arguments,
        # so a hit needs no binding. Anything else (keywords, a miss, runtime checks)
        # goes through `dispatch`.
        fun = self._fun
        if not kwargs:
            hot = self._jit_hot
            if hot is not None and hot[0] is fun:
                cache = hot[1]
                tree: Any = args
            elif type(fun) is _FunctionType:
                config = self._config
                hit = config.function_caches.get(id(fun))
                if hit is None or hit[0]() is not fun:
                    return dispatch(fun, config, args, kwargs)
                cache = hit[1]
                tree = args
            else:
                config = self._config
                cache = config.general_cache
                tree = (fun, args)
            plan: Any = cache.last
            leaves: Any = None  # a fresh list (in JAX 0.4.38 through 0.10), ours to edit
            if plan is not None and plan.up_to_size == len(_registry):
                try:
                    leaves = plan.positional_treedef.flatten_up_to(tree)
                except Exception:  # another structure
                    up_to_failed(plan)
                else:
                    if [*map(type, leaves)] != plan.type_list:  # a list is built faster
                        leaves = None
            if leaves is None:
                plan, leaves = lookup_plan(cache, tree)
                if plan is None:
                    return dispatch(fun, self._config, args, kwargs)
            try:
                entry = plan.entries[plan.static_key(leaves)]
            except (KeyError, TypeError):  # a miss, or unhashable: `dispatch` says where
                return dispatch(fun, self._config, args, kwargs)
            if entry.plain:
                # `plan.take_dynamic`, inlined: drop the few static leaves in place.
                back = plan.static_back
                if back is None:
                    leaves = plan.dynamic_of(leaves)
                else:
                    for i in back:
                        del leaves[i]
                try:
                    out = entry.jitted(*leaves)
                except Exception as e:
                    translated = translate_hot_path_error(entry, e)
                    if translated is not None:
                        raise translated from None
                    raise
                # `jax.jit` may have retraced (new shapes) and the new trace staged a
                # check or changed the output's static parts: either clears `plain`
                # (which only ever goes from True to False after the entry completed).
                if entry.plain:
                    return out
                return finish_after_retrace(entry, out)
            if entry.fast:
                return _call_fast(entry, plan, leaves)
        return dispatch(fun, self._config, args, kwargs)

    def lower(self, /, *args: Any, **kwargs: Any) -> Lowered:
        """Trace and lower for these arguments, without compiling: a `Lowered`."""
        entry, dynamic = prepare(self._fun, self._config, args, kwargs)
        with _maybe_silenced(self._config):
            lowered = entry.jitted.lower(*dynamic)
        return Lowered(lowered, entry, self._fun, self._config)


def _call_fast(entry: Any, plan: Any, leaves: list[Any]) -> Any:
    """The hot path of an entry that silences donation warnings or rebuilds its output."""
    try:
        if plan.silence:
            out = call_silenced(entry.jitted, plan.take_dynamic(leaves))
        else:
            out = entry.jitted(*plan.take_dynamic(leaves))
    except Exception as e:
        translated = translate_hot_path_error(entry, e)
        if translated is not None:
            raise translated from None
        raise
    if entry.has_checks or entry.unstable:  # see `__call__`
        return finish_after_retrace(entry, out)
    info: Any = entry.out_info  # set by the trace, before `fast`
    return out if info.all_dynamic else info.rebuild(out)


@contextlib.contextmanager
def _maybe_silenced(config: JitConfig) -> Iterator[None]:
    """Hide JAX's unusable-donation warning when `donate` is "all"/"all-except-first"."""
    if not config.silence_donation:
        yield
        return
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message=DONATED_BUFFERS_MESSAGE)
        yield


class Lowered(Module):
    """The result of `filter_jit(f).lower(*args, **kwargs)`: lowered, not yet compiled."""

    lowered: Any = field(static=True)
    _entry: Any = field(static=True)
    _fun: Callable[..., Any]
    _config: JitConfig = field(static=True)

    def as_text(self, *args: Any, **kwargs: Any) -> str:
        """The lowered program as text (StableHLO by default); see `jax.stages.Lowered`."""
        text: str = self.lowered.as_text(*args, **kwargs)
        return text

    def compile(self, compiler_options: dict[str, Any] | None = None) -> Compiled:
        """Compile; bad `compiler_options` raise JAX's `JaxRuntimeError`."""
        with _maybe_silenced(self._config):
            if compiler_options is None:
                compiled = self.lowered.compile()
            else:
                compiled = self.lowered.compile(compiler_options)
        return Compiled(compiled, self._entry, self._fun, self._config)


class Compiled(Module):
    """A compiled `filter_jit` function, called like the original.

    The static (non-array) arguments are those used at lowering.
    """

    compiled: Any = field(static=True)
    _entry: Any = field(static=True)
    _fun: Callable[..., Any]
    _config: JitConfig = field(static=True)

    def __call__(self, /, *args: Any, **kwargs: Any) -> Any:
        plan, leaves, _ = plan_call(self._fun, self._config, args, kwargs)
        entry = self._entry
        if plan is not entry.plan:
            raise ValueError(
                "This compiled function was called with arguments whose structure (PyTree "
                "structure, or which leaves are arrays) differs from the call it was "
                "lowered for. Lower it again for these arguments."
            )
        out = self.compiled(*plan.dynamic_of(leaves))
        if entry.has_checks:
            block_until_ready(out)
        return entry.out_info.rebuild(out)


def filter_jit(fun: Any = sentinel, *, donate: str = "none", **jitkwargs: Any) -> Any:
    """`jax.jit` for functions of arbitrary PyTrees: arrays are traced, the rest is static.

    **Arguments:**

    - `fun`: the function (or any callable, such as a Module) to compile. Omit it to
      use `filter_jit(donate=...)` as a decorator.
    - `donate`: `"none"` (default), `"all"` (every array, including `fun`'s),
      `"all-except-first"` (not the first positional argument), or `"warn"` /
      `"warn-except-first"`, which are the same but let JAX warn about donated buffers
      that could not be used.
    - `**jitkwargs`: passed to `jax.jit`.

    **Returns:** a Module wrapping `fun`, called like `fun`, with `.lower(...)`.

    **Raises:** `ValueError` for an unknown `donate`, or for `static_argnums`,
    `static_argnames`, `donate_argnums`, `in_shardings`, `out_shardings` or the pre-0.10
    keywords in `jitkwargs`; `TypeError` for a keyword `jax.jit` does not take. All
    raised when `filter_jit` is called, also in the decorator form `filter_jit(...)`.

    ```python
    @eqx_filter.filter_jit
    def loss(model, x, activation="relu"):
        ...
    ```
    """
    check_donate(donate)
    check_jitkwargs(jitkwargs)
    config = get_config(donate, jitkwargs)  # also rejects keywords `jax.jit` lacks
    if fun is sentinel:
        return functools.partial(filter_jit, donate=donate, **jitkwargs)
    wrapper = module_update_wrapper(_JitWrapper(fun, config))
    if type(fun) is _FunctionType:
        object.__setattr__(wrapper, "_jit_hot", (fun, function_cache(fun, config)))
    return wrapper
