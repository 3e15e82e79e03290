"""The `filter_jit` compile cache and its slow (first-call, keyword, checked) path.

A cache hit, inlined in the wrapper's `__call__` (`_jit.py`), takes four cheap steps
(DESIGN §5):

1. one C++ walk of the positional arguments (with `fun` first when `fun` is not a plain
   function): `flatten_up_to` against the treedef of the plan used last, which checks
   the structure as it goes and returns the leaves; when that plan does not fit, a full
   flatten instead;
2. `tuple(map(type, leaves))`: whether a leaf is an array depends only on its type, so
   a *plan* cached per `(treedef, leaf types)` knows which positions are arrays
   (dynamic) and which are static. After a full flatten, the plan used last is
   compared first, which spares hashing the treedef in a loop;
3. one dictionary lookup of the static leaves in that plan, giving an *entry*;
4. the entry's `jax.jit` of a function of the flat array leaves, whose static skeleton
   the entry captured. `jax.jit` itself keys on the arrays' shapes, dtypes, weak types
   and shardings, in C++.

Everything else comes here: calls with keywords (bound to the signature first, so the
positional and keyword spellings share a plan), first calls, entries whose trace staged
an `error_if` check (`_jit_errors.py` waits for those), and outputs whose static parts
depend on the input shapes. The caches hang off the wrapped function (held weakly when
it is a plain function), never off the wrapper Module, so `filter_jit(g)(x)` in a loop
traces once.
"""

from __future__ import annotations

import operator
import threading
import types
import warnings
import weakref
from collections.abc import Callable
from typing import Any

import jax
import jax.tree_util as jtu

from eqx_tree import is_array, register_cache_clearer

from ._compat import aval_weak_type, pytree_registry, same_structure
from ._jit_bind import Binder, bind_general, general_binders, wrapped_binders
from ._jit_errors import (
    DONATED_BUFFERS_MESSAGE,
    call_entry,
    unhashable_leaf_error,
    unhashable_treedef_error,
)
from ._jit_history import (
    clear_histories,
    note_call_keywords,
    record_signature,
    trace_signatures,
    unbind_call_keywords,
)
from ._tracing_hooks import record_checks

__all__ = [
    "JitConfig",
    "dispatch",
    "function_cache",
    "get_config",
    "lookup_plan",
    "plan_call",
    "prepare",
    "registry",
    "trace_signatures",
    "tree_flatten_fast",
    "up_to_failed",
]


class JitConfig:
    """The static options of one `filter_jit`: donation mode and `jax.jit` keywords.

    Configs are interned (equal options give the same object), so they hash by
    identity and key the caches cheaply.
    """

    __slots__ = (
        "__weakref__",
        "donate",
        "function_caches",
        "general_cache",
        "jitkwargs",
        "silence_donation",
    )

    def __init__(self, donate: str, jitkwargs: dict[str, Any]) -> None:
        self.donate = donate
        self.jitkwargs = jitkwargs
        self.silence_donation = donate in ("all", "all-except-first")
        # id(fun) -> (weakref to fun, its cache), for plain functions.
        self.function_caches: dict[int, tuple[Callable[[], Any], _FunctionCache]] = {}
        # One cache for every other callable; its structure is part of the treedef.
        self.general_cache = _FunctionCache(None)

    def __repr__(self) -> str:
        return f"JitConfig(donate={self.donate!r}, jitkwargs={self.jitkwargs!r})"


_configs: dict[Any, JitConfig] = {}
_configs_lock = threading.Lock()


def get_config(donate: str, jitkwargs: dict[str, Any]) -> JitConfig:
    """The interned config for these options (a fresh one if they are unhashable)."""
    try:
        key: Any = (donate, tuple(sorted(jitkwargs.items())))
        hash(key)
    except TypeError:
        _check_jax_accepts(jitkwargs)
        return JitConfig(donate, dict(jitkwargs))
    config = _configs.get(key)
    if config is None:
        _check_jax_accepts(jitkwargs)
        with _configs_lock:
            config = _configs.setdefault(key, JitConfig(donate, dict(jitkwargs)))
    return config


def _check_jax_accepts(jitkwargs: dict[str, Any]) -> None:
    """Raise `jax.jit`'s own `TypeError` now for keywords it does not take.

    Otherwise it would surface only at the first call. Run once per distinct options.
    """
    if jitkwargs:
        jax.jit(_identity, **jitkwargs)


def _identity(x: Any) -> Any:
    return x


# ---------------------------------------------------------------------------------------
# The cache: function -> plan (treedef, leaf types) -> entry (static leaves).


class _FunctionCache:
    """The plans of one function (or of every non-function callable, for one config).

    `plans` is keyed on the treedef of the bound call, `(args, kwargs)` or
    `(fun, args, kwargs)`, plus the leaf types. `positional` holds the same plans for
    calls without keywords, keyed on the treedef of `args` or `(fun, args)`, which the
    hot path flattens (two nodes fewer); `last` is the plan the hot path used last, so
    a loop over one structure compares treedefs without hashing them.
    """

    __slots__ = ("__weakref__", "binder", "last", "lock", "plans", "positional")

    def __init__(self, fun: Callable[..., Any] | None) -> None:
        self.binder = Binder(fun) if fun is not None else None
        self.plans: dict[tuple[Any, tuple[type, ...]], _Plan] = {}
        self.positional: dict[tuple[Any, tuple[type, ...]], _Plan] = {}
        self.last: _Plan | None = None
        self.lock = threading.Lock()

    def clear(self) -> None:
        self.last = None
        self.plans.clear()
        self.positional.clear()


def _getter(positions: tuple[int, ...]) -> Callable[[list[Any]], tuple[Any, ...]]:
    if not positions:
        return lambda leaves: ()
    if len(positions) == 1:
        (i,) = positions
        return lambda leaves: (leaves[i],)
    getter: Any = operator.itemgetter(*positions)
    return getter


_FEW_STATIC = 8


def _taker(
    static: tuple[int, ...], dynamic: tuple[int, ...]
) -> Callable[[list[Any]], list[Any] | tuple[Any, ...]]:
    """`dynamic_of` for the hot path, which may consume its (fresh) list of leaves.

    A Module usually has a few static leaves (activations, sizes) among many arrays:
    deleting those few from the list is cheaper than gathering every array.
    """
    if not static:
        return _same
    if len(static) > _FEW_STATIC:
        return _getter(dynamic)
    backwards = tuple(reversed(static))

    def take(leaves: list[Any]) -> list[Any]:
        for i in backwards:
            del leaves[i]
        return leaves

    return take


def _same(leaves: list[Any]) -> list[Any]:
    return leaves


class _Plan:
    """Which leaf positions are arrays, for one treedef and one tuple of leaf types."""

    __slots__ = (
        "donate_argnums",
        "dynamic_of",
        "dynamic_positions",
        "entries",
        "has_fun",
        "n_leaves",
        "positional_treedef",
        "retry_after",
        "silence",
        "static_back",
        "static_key",
        "static_of",
        "static_positions",
        "streak",
        "take_dynamic",
        "treedef",
        "type_list",
        "types",
        "up_to",
        "up_to_size",
    )

    def __init__(
        self,
        treedef: Any,
        leaves: list[Any],
        has_fun: bool,
        config: JitConfig,
        first_arg_leaves: range,
        registry_size: int,
    ) -> None:
        self.treedef = treedef
        self.types = tuple(map(type, leaves))
        self.type_list = list(self.types)
        # The treedef of `args` (or `(fun, args)`) when the bound call has no keywords.
        self.positional_treedef: Any = None
        # The hot path checks a call against this plan with one
        # `positional_treedef.flatten_up_to(args)`, which walks the call as far as the
        # treedef goes and raises where the structure differs (every node's kind,
        # type, arity, keys and aux data, as treedef equality compares them), plus the
        # leaf types. Whatever sits at a leaf position comes back whole, so a leaf
        # type must still be a leaf: true while no type has been registered as a node
        # since a full flatten gave these types (`up_to_size`, the size of JAX's
        # registry then; a full flatten that finds this plan again renews it).
        # `flatten_up_to` formats its error with the argument's repr (milliseconds for
        # a big model), so a plan whose check failed stops using it (`up_to`) until
        # `retry_after` calls in a row found it by a full flatten (`streak`); each
        # failure doubles that wait, so calls alternating between structures pay for
        # few failures, and a structure used alone again gets the fast check back.
        self.up_to = pytree_registry is not None
        # The registry size while `up_to`, else -1: the hot path's one test.
        self.up_to_size = registry_size if self.up_to else -1
        self.streak = 0
        self.retry_after = 16
        self.has_fun = has_fun
        self.n_leaves = len(leaves)
        dynamic = tuple(i for i, x in enumerate(leaves) if is_array(x))
        static = tuple(i for i, x in enumerate(leaves) if not is_array(x))
        self.dynamic_positions = dynamic
        self.static_positions = static
        self.dynamic_of = _getter(dynamic)
        self.take_dynamic = _taker(static, dynamic)
        # The hot path's inlined `take_dynamic`: the static positions to delete from
        # the (fresh) list of leaves, last first; `None` when gathering is cheaper.
        self.static_back: tuple[int, ...] | None = (
            tuple(reversed(static)) if len(static) <= _FEW_STATIC else None
        )
        self.static_of = _getter(static)
        # The entries' key: the static leaves, or the leaf itself when there is one (an
        # `itemgetter` in C instead of a Python lambda building a 1-tuple).
        self.static_key: Callable[[list[Any]], Any] = (
            operator.itemgetter(static[0]) if len(static) == 1 else self.static_of
        )
        self.entries: dict[Any, _Entry] = {}
        if config.donate in ("all", "warn"):
            self.donate_argnums: tuple[int, ...] = tuple(range(len(dynamic)))
        elif config.donate in ("all-except-first", "warn-except-first"):
            self.donate_argnums = tuple(
                k for k, i in enumerate(dynamic) if i not in first_arg_leaves
            )
        else:
            self.donate_argnums = ()
        self.silence = config.silence_donation and bool(self.donate_argnums)


class _OutInfo:
    """How to rebuild a trace's output from the arrays `jax.jit` returns."""

    __slots__ = (
        "all_dynamic",
        "dynamic_positions",
        "inserts",
        "skeleton",
        "static",
        "treedef",
        "unflatten",
    )

    def __init__(self, out: Any) -> None:
        leaves, treedef = jtu.tree_flatten(out)
        self.treedef: Any = treedef
        structure: Any = treedef  # `unflatten` is not in the stub mypy reads
        self.unflatten: Callable[[list[Any]], Any] = structure.unflatten
        self.dynamic_positions = tuple(i for i, x in enumerate(leaves) if is_array(x))
        self.all_dynamic = len(self.dynamic_positions) == len(leaves)
        self.static = tuple(x for x in leaves if not is_array(x))
        self.skeleton = [None if is_array(x) else x for x in leaves]
        # A few static leaves among many arrays (a returned Module's activation): insert
        # them, in increasing position, into the list of arrays, rather than copying
        # every array into the skeleton.
        statics = tuple((i, x) for i, x in enumerate(leaves) if not is_array(x))
        self.inserts = statics if len(statics) <= _FEW_STATIC else None

    def same_as(self, other: _OutInfo) -> bool:
        if self.all_dynamic and other.all_dynamic:
            return True
        if (
            not same_structure(self.treedef, other.treedef)
            or self.dynamic_positions != other.dynamic_positions
        ):
            return False
        return all(_static_equal(a, b) for a, b in zip(self.static, other.static, strict=True))

    def rebuild(self, dynamic: Any) -> Any:
        if self.all_dynamic:
            return dynamic
        inserts = self.inserts
        if inserts is None or len(dynamic) != len(self.dynamic_positions):
            leaves = list(self.skeleton)
            for position, value in zip(self.dynamic_positions, dynamic, strict=True):
                leaves[position] = value
        else:
            leaves = list(dynamic)
            for position, value in inserts:
                leaves.insert(position, value)
        return self.unflatten(leaves)


def _static_equal(a: Any, b: Any) -> bool:
    if a is b:
        return True
    if type(a) is not type(b):
        return False
    try:
        return bool(a == b)
    except Exception:
        return False


class _Entry:
    """One static configuration: a `jax.jit` of the flat array leaves."""

    __slots__ = (
        "__weakref__",
        "by_aval",
        "completed",
        "fast",
        "has_checks",
        "jitted",
        "out_info",
        "plain",
        "plan",
        "static",
        "unstable",
    )

    def __init__(
        self,
        plan: _Plan,
        static: tuple[Any, ...],
        fun_ref: Callable[[], Any] | None,
        config: JitConfig,
        name: str,
    ) -> None:
        self.plan = plan
        self.static = static
        self.has_checks = False
        self.completed = False
        self.unstable = False
        # The hot path's one test: completed, no runtime checks, stable outputs.
        # Cleared by any trace that breaks one of these.
        self.fast = False
        # `fast`, and the output needs no rebuilding and the call no silencing.
        self.plain = False
        self.out_info: _OutInfo | None = None
        self.by_aval: dict[tuple[Any, ...], _Entry] | None = None
        self.jitted = _make_jitted(self, fun_ref, config, name)


def _make_jitted(
    entry: _Entry, fun_ref: Callable[[], Any] | None, config: JitConfig, name: str
) -> Any:
    plan = entry.plan
    treedef = plan.treedef
    skeleton: list[Any] = [None] * plan.n_leaves
    for position, value in zip(plan.static_positions, entry.static, strict=True):
        skeleton[position] = value
    dynamic_positions = plan.dynamic_positions
    entry_ref = weakref.ref(entry)

    def flat_fun(*dynamic: Any) -> Any:
        leaves = list(skeleton)
        for position, value in zip(dynamic_positions, dynamic, strict=True):
            leaves[position] = value
        tree = jtu.tree_unflatten(treedef, leaves)
        if fun_ref is None:
            fun, args, kwargs = tree
        else:
            fun = fun_ref()
            if fun is None:  # pragma: no cover - the cache dies with the function
                raise RuntimeError("filter_jit: the wrapped function no longer exists.")
            args, kwargs = tree
        args, kwargs = unbind_call_keywords(fun, args, kwargs)
        record_signature(fun, args, kwargs)
        with record_checks() as record:
            out = fun(*args, **kwargs)
        live_entry = entry_ref()
        info = _OutInfo(out)
        if live_entry is not None:
            if record.count > 0:
                live_entry.has_checks = True
                live_entry.plain = live_entry.fast = False
            previous = live_entry.out_info
            if previous is not None and not previous.same_as(info):
                live_entry.unstable = True
                live_entry.plain = live_entry.fast = False
            live_entry.out_info = info
        if info.all_dynamic:
            return out
        out_leaves = jtu.tree_leaves(out)
        return [out_leaves[i] for i in info.dynamic_positions]

    flat_fun.__name__ = name
    flat_fun.__qualname__ = name
    return jax.jit(flat_fun, donate_argnums=plan.donate_argnums, **config.jitkwargs)


# ---------------------------------------------------------------------------------------
# Dispatch.


def function_cache(fun: Callable[..., Any], config: JitConfig) -> _FunctionCache:
    hit = config.function_caches.get(id(fun))
    if hit is not None and hit[0]() is fun:
        return hit[1]
    cache = _FunctionCache(fun)
    caches = config.function_caches
    key = id(fun)
    try:
        ref: Callable[[], Any] = weakref.ref(fun, lambda _, key=key: caches.pop(key, None))  # type: ignore[misc]
    except TypeError:

        def ref() -> Any:
            return fun

    with _function_caches_lock:  # two threads' first calls must share one cache
        hit = caches.get(key)
        if hit is not None and hit[0]() is fun:
            return hit[1]
        caches[key] = (ref, cache)
    return cache


def plan_call(
    fun: Callable[..., Any], config: JitConfig, args: tuple[Any, ...], kwargs: dict[str, Any]
) -> tuple[_Plan, list[Any], Any]:
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
    size = len(registry)  # before flattening: see `_Plan.up_to_size`
    leaves, treedef = jtu.tree_flatten(tree)
    key = (treedef, tuple(map(type, leaves)))
    try:
        plan = cache.plans.get(key)
    except TypeError as e:
        raise unhashable_treedef_error(tree, e, has_fun) from None
    if plan is None:
        first = _first_arg_leaves(fun, args, has_fun)
        with cache.lock:
            plan = cache.plans.setdefault(key, _Plan(treedef, leaves, has_fun, config, first, size))
            if not kwargs and plan.positional_treedef is None:
                # Bound positional arguments always make a valid positional call.
                positional = jtu.tree_structure((fun, args) if has_fun else args)
                plan.positional_treedef = positional
                cache.positional[(positional, plan.types)] = plan
    return plan, leaves, tree


def prepare(
    fun: Callable[..., Any], config: JitConfig, args: tuple[Any, ...], kwargs: dict[str, Any]
) -> tuple[_Entry, tuple[Any, ...]]:
    """Find (or create) the cache entry for this call, and the call's array leaves."""
    plan, leaves, tree = plan_call(fun, config, args, kwargs)
    key = plan.static_key(leaves)
    try:
        entry = plan.entries.get(key)
    except TypeError as e:
        raise unhashable_leaf_error(tree, plan.static_positions, plan.has_fun, e, fun) from None
    if entry is None:
        fun_ref = None if plan.has_fun else _function_ref(fun, config)
        name = getattr(fun, "__name__", None) or type(fun).__name__
        new_entry = _Entry(plan, plan.static_of(leaves), fun_ref, config, name)
        with _entries_lock:
            entry = plan.entries.setdefault(key, new_entry)
    return entry, plan.dynamic_of(leaves)


_entries_lock = threading.Lock()

# JAX's registry of PyTree node types (`{}` if this JAX lacks it: then no plan uses
# `flatten_up_to`, see `_Plan`).
registry: dict[Any, Any] = pytree_registry if pytree_registry is not None else {}


def lookup_plan(cache: _FunctionCache, tree: Any) -> tuple[_Plan | None, list[Any]]:
    """The hot path's plan for a positional call whose cheap check failed, if any.

    One full flatten of `tree` (`args`, or `(fun, args)`); the plan used last is
    compared first, then the plans of every structure seen, by hash.
    """
    size = len(registry)
    leaves, treedef = tree_flatten_fast(tree)
    types = tuple(map(type, leaves))
    plan = last = cache.last
    if plan is None or plan.types != types or plan.positional_treedef != treedef:
        try:
            plan = cache.positional.get((treedef, types))
        except TypeError:  # unhashable static data: `dispatch` says where
            return None, leaves
        if plan is None:
            return None, leaves
        cache.last = plan
    if plan.up_to:
        plan.up_to_size = size  # these types are leaves under this registry
    elif pytree_registry is not None:
        plan.streak = plan.streak + 1 if plan is last else 0
        if plan.streak >= plan.retry_after:
            plan.streak = 0
            plan.up_to = True
            plan.up_to_size = size
    return plan, leaves


def up_to_failed(plan: _Plan) -> None:
    """The hot path's `flatten_up_to` check of `plan` failed: back off (see `_Plan`)."""
    plan.up_to = False
    plan.up_to_size = -1
    plan.streak = 0
    plan.retry_after *= 2


# What `jtu.tree_flatten` calls; calling it directly saves a Python frame per dispatch.
# `jax.tree_util.default_registry` is public in JAX 0.4.38 through 0.10.
tree_flatten_fast: Callable[[Any], tuple[list[Any], Any]] = getattr(
    getattr(jtu, "default_registry", None), "flatten", jtu.tree_flatten
)
_function_caches_lock = threading.Lock()


def _function_ref(fun: Callable[..., Any], config: JitConfig) -> Callable[[], Any]:
    return config.function_caches[id(fun)][0]


def _first_arg_leaves(fun: Any, args: tuple[Any, ...], has_fun: bool) -> range:
    """The leaf positions of the first positional argument (exempt from some donation)."""
    if not args:
        return range(0)
    start = len(jtu.tree_leaves(fun)) if has_fun else 0
    return range(start, start + len(jtu.tree_leaves(args[0])))


def _aval_key(dynamic: tuple[Any, ...]) -> tuple[Any, ...]:
    return tuple(
        (x.shape, x.dtype, aval_weak_type(x), getattr(x, "sharding", None)) for x in dynamic
    )


def resolve_unstable(
    entry: _Entry, fun: Any, config: JitConfig, dynamic: tuple[Any, ...]
) -> _Entry:
    """For entries whose static outputs depend on shapes: one sub-entry per aval."""
    if entry.by_aval is None:
        entry.by_aval = {}
    key = _aval_key(dynamic)
    sub = entry.by_aval.get(key)
    if sub is None:
        has_fun = entry.plan.has_fun
        fun_ref = None if has_fun else _function_ref(fun, config)
        name = getattr(fun, "__name__", None) or type(fun).__name__
        sub = entry.by_aval.setdefault(key, _Entry(entry.plan, entry.static, fun_ref, config, name))
    return sub


def dispatch(
    fun: Callable[..., Any], config: JitConfig, args: tuple[Any, ...], kwargs: dict[str, Any]
) -> Any:
    """Call `fun(*args, **kwargs)` through the `filter_jit` cache.

    The wrapper's `__call__` (in `_jit.py`) inlines the cache-hit path and comes here
    for everything else: keyword arguments, first calls, entries with runtime checks.
    """
    if not kwargs:
        return _dispatch_slow(fun, config, args, kwargs)
    note_call_keywords(tuple(kwargs))
    try:
        return _dispatch_slow(fun, config, args, kwargs)
    finally:
        note_call_keywords(())


def _dispatch_slow(
    fun: Callable[..., Any], config: JitConfig, args: tuple[Any, ...], kwargs: dict[str, Any]
) -> Any:
    entry, dynamic = prepare(fun, config, args, kwargs)
    if entry.unstable:
        entry = resolve_unstable(entry, fun, config, dynamic)
    if config.silence_donation and entry.plan.donate_argnums:
        with warnings.catch_warnings():
            warnings.filterwarnings("ignore", message=DONATED_BUFFERS_MESSAGE)
            out = call_entry(entry, dynamic)
    else:
        out = call_entry(entry, dynamic)
    info = entry.out_info
    assert info is not None
    if info.all_dynamic:
        return out
    return info.rebuild(out)


def _clear_caches() -> None:
    for config in list(_configs.values()):
        # Emptied in place, not dropped: a wrapper holds its function's cache
        # (`_JitWrapper._jit_hot`), and must see the same cache as `dispatch`.
        for _, cache in list(config.function_caches.values()):
            cache.clear()
        config.general_cache.clear()
    general_binders.clear()
    wrapped_binders.clear()
    clear_histories()


register_cache_clearer(_clear_caches)
