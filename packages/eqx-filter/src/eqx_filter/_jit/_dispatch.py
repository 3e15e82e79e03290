"""The slow path of `filter_jit`: bind, flatten, find or make the plan and the entry.

The wrapper's `__call__` (`_wrapper.py`) inlines the cache hit and comes here for
everything else: calls with keywords (bound to the signature first, so the positional
and keyword spellings share a plan), first calls, entries that are not in a hot-path
state. The caches hang off the wrapped function (held weakly when it is a plain
function) under the config, never off the wrapper Module, so `filter_jit(g)(x)` in a
loop traces once.
"""

from __future__ import annotations

import threading
import types
import weakref
from collections.abc import Callable, Sequence
from typing import Any

import jax.tree_util as jtu

from eqx_tree import register_cache_clearer

from ._bind import bind_general, general_binders, wrapped_binders
from ._config import JitConfig, all_configs
from ._entry import UNSTABLE, Entry
from ._history import clear_histories, note_call_keywords
from ._messages import unhashable_leaf_error, unhashable_node_error
from ._plan import FunctionCache, Plan, registry
from ._shardings import flat_in_shardings

__all__ = ["dispatch", "function_cache", "plan_call", "prepare"]

_function_caches_lock = threading.Lock()
_entries_lock = threading.Lock()


def function_cache(fun: Callable[..., Any], config: JitConfig) -> FunctionCache:
    """The cache of plain function `fun` under `config` (made once, even across threads)."""
    caches = config.function_caches
    key = id(fun)
    hit = caches.get(key)
    if hit is not None and hit[0]() is fun:
        return hit[1]
    cache = FunctionCache(fun)
    try:
        ref: Callable[[], Any] = weakref.ref(fun, lambda _, key=key: caches.pop(key, None))  # type: ignore[misc]
    except TypeError:

        def ref() -> Any:
            return fun

    with _function_caches_lock:
        hit = caches.get(key)
        if hit is not None and hit[0]() is fun:
            return hit[1]
        caches[key] = (ref, cache)
    return cache


def _groups(has_fun: bool) -> tuple[str, ...]:
    return ("fun", "args", "kwargs") if has_fun else ("args", "kwargs")


def plan_call(
    fun: Callable[..., Any], config: JitConfig, args: tuple[Any, ...], kwargs: dict[str, Any]
) -> tuple[Plan, list[Any], Any]:
    """Bind and flatten a call; return its plan, its leaves and the flattened tree."""
    if type(fun) is types.FunctionType:
        cache = function_cache(fun, config)
        binder = cache.binder
        assert binder is not None
        if kwargs or not (binder.min_positional <= len(args) <= binder.max_positional):
            args, kwargs = binder.bind(args, kwargs)
        tree: Any = (args, kwargs)
        has_fun = False
    else:
        cache = config.general_cache
        if kwargs:
            args, kwargs = bind_general(fun, args, kwargs)
        tree = (fun, args, kwargs)
        has_fun = True
    size = len(registry)  # before flattening: see `Plan.up_to_size`
    leaves, treedef = jtu.tree_flatten(tree)
    key = (treedef, tuple(map(type, leaves)))
    try:
        plan = cache.plans.get(key)
    except TypeError as e:
        raise unhashable_node_error(tree, _groups(has_fun), e) from None
    if plan is None:
        first = _first_arg_leaves(fun, args, has_fun)
        new_plan = Plan(
            treedef, leaves, has_fun, config.donate, config.silence_donation, first, size
        )
        with cache.lock:
            plan = cache.plans.setdefault(key, new_plan)
            if not kwargs and plan.positional_treedef is None:
                # Bound positional arguments always make a valid positional call.
                positional = jtu.tree_structure((fun, args) if has_fun else args)
                plan.positional_treedef = positional
                cache.positional[(positional, plan.types)] = plan
    return plan, leaves, tree


def prepare(
    fun: Callable[..., Any], config: JitConfig, args: tuple[Any, ...], kwargs: dict[str, Any]
) -> tuple[Entry, Sequence[Any]]:
    """Find (or make) the entry for this call, and the call's array leaves."""
    plan, leaves, tree = plan_call(fun, config, args, kwargs)
    key = plan.static_key(leaves)
    try:
        entry: Entry | None = plan.entries.get(key)
    except TypeError as e:
        groups = _groups(plan.has_fun)
        raise unhashable_leaf_error(tree, plan.static_positions, groups, fun, e) from None
    if entry is None:
        fun_ref = None if plan.has_fun else config.function_caches[id(fun)][0]
        name = getattr(fun, "__name__", None) or type(fun).__name__
        jitkwargs = config.jitkwargs
        if config.in_shardings is not None:
            in_shardings = flat_in_shardings(config.in_shardings, tree, plan.has_fun)
            jitkwargs = {**jitkwargs, "in_shardings": in_shardings}
        new_entry = Entry(
            plan, plan.static_of(leaves), fun_ref, jitkwargs, name, config.out_shardings
        )
        with _entries_lock:
            entry = plan.entries.setdefault(key, new_entry)
    return entry, plan.take_dynamic(leaves)


def _first_arg_leaves(fun: Any, args: tuple[Any, ...], has_fun: bool) -> range:
    """The leaf positions of the first positional argument (exempt from some donation)."""
    if not args:
        return range(0)
    start = len(jtu.tree_leaves(fun)) if has_fun else 0
    return range(start, start + len(jtu.tree_leaves(args[0])))


def dispatch(
    fun: Callable[..., Any], config: JitConfig, args: tuple[Any, ...], kwargs: dict[str, Any]
) -> Any:
    """Call `fun(*args, **kwargs)` through the `filter_jit` cache (the slow path)."""
    if not kwargs:
        return _call(fun, config, args, kwargs)
    # A trace this call starts shows the function the call as it was made.
    note_call_keywords(tuple(kwargs))
    try:
        return _call(fun, config, args, kwargs)
    finally:
        note_call_keywords(())


def _call(
    fun: Callable[..., Any], config: JitConfig, args: tuple[Any, ...], kwargs: dict[str, Any]
) -> Any:
    entry, dynamic = prepare(fun, config, args, kwargs)
    if entry.state is UNSTABLE:
        entry = entry.for_shapes(dynamic)
    return entry.call(dynamic)


def _clear_caches() -> None:
    for config in all_configs():
        # Emptied in place, not dropped: a wrapper holds its function's cache, and must
        # see the same cache as `dispatch`.
        for _, cache in list(config.function_caches.values()):
            cache.clear()
        config.general_cache.clear()
    general_binders.clear()
    wrapped_binders.clear()
    clear_histories()


register_cache_clearer(_clear_caches)
