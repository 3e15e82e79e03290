"""`filter_jit`: `jax.jit` where array leaves are traced and every other leaf is static.

The public wrapper Module with the inlined hot path, and ahead-of-time lowering. The
slow path is `_dispatch.py`; what a call does once it has its entry is `_entry.py`.
"""

from __future__ import annotations

import functools
import types
from collections.abc import Callable, Sequence
from typing import Any, Generic, ParamSpec, TypeVar, cast, overload

from eqx_module import Module, field, module_update_wrapper
from eqx_tree.internal import sentinel

from .._wrapper import TransformWrapper
from ._aliasing import warn_if_arguments_aliased
from ._config import DonateMode, JitConfig, check_options, get_config
from ._dispatch import dispatch, function_cache, plan_call, prepare
from ._entry import PLAIN, REBUILD, Entry
from ._messages import donation_warnings_silenced
from ._plan import lookup_plan, registry

__all__ = ["Compiled", "Lowered", "filter_jit"]

_P = ParamSpec("_P")
_R = TypeVar("_R")

_FunctionType = types.FunctionType
_registry = registry
_PLAIN = PLAIN
_REBUILD = REBUILD


class _JitWrapper(TransformWrapper, Generic[_P, _R]):
    _fun: Callable[_P, _R]
    _config: JitConfig = field(static=True)

    # `(fun, its cache)` when `fun` is a plain function: set by `filter_jit` on the
    # wrapper it returns, so the hot path needs no lookup in `config.function_caches`.
    # Not a field: neither flattened nor compared, and a copy made by unflattening (or
    # one whose `_fun` was replaced) falls back to the lookup.
    _jit_hot = cast(Any, None)

    @property
    def __wrapped__(self) -> Callable[_P, _R]:
        return self._fun

    def __call__(self, /, *args: _P.args, **kwargs: _P.kwargs) -> _R:
        # The hot path, inlined because every Python frame shows at small sizes. Check
        # the positional arguments against the plan used last with one C++
        # `flatten_up_to` (see `_plan.py`) plus the leaf types, which also gives the
        # leaves; else one full flatten and a lookup of the plan for (treedef, leaf
        # types). A plan exists only for a treedef that an earlier call bound to `fun`'s
        # signature, and the treedef fixes the number of positional arguments, so a hit
        # needs no binding. Then one lookup of the static leaves gives the entry, whose
        # one attribute `state` says whether the hot path may call it. Anything else
        # (keywords, a miss, an entry that is tracing or checked) goes to `dispatch`.
        fun: Any = self._fun
        if not kwargs:
            hot = self._jit_hot
            if hot is not None and hot[0] is fun:
                cache = hot[1]
                tree: Any = args
            elif type(fun) is _FunctionType:
                hit = self._config.function_caches.get(id(fun))
                if hit is None or hit[0]() is not fun:
                    return cast(_R, dispatch(fun, self._config, args, kwargs))
                cache = hit[1]
                tree = args
            else:
                cache = self._config.general_cache
                tree = (fun, args)
            plan: Any = cache.last
            leaves: Any = None  # a fresh list (in JAX 0.4.38 through 0.10), ours to edit
            if plan is not None and plan.up_to_size == len(_registry):
                try:
                    leaves = plan.positional_treedef.flatten_up_to(tree)
                except Exception:  # another structure
                    plan.check_failed()
                else:
                    if [*map(type, leaves)] != plan.type_list:  # a list is built faster
                        leaves = None
            if leaves is None:
                plan, leaves = lookup_plan(cache, tree)
                if plan is None:
                    return cast(_R, dispatch(fun, self._config, args, kwargs))
            try:
                entry: Entry = plan.entries[plan.static_key(leaves)]
            except (KeyError, TypeError):  # a miss, or unhashable: `dispatch` says where
                return cast(_R, dispatch(fun, self._config, args, kwargs))
            state = entry.state
            if state is _PLAIN:
                # `plan.take_dynamic`, inlined: the frame it saves is ~4% of a depth-2
                # dispatch in `bench/bench_filter.py`. Drops the static leaves.
                back = plan.static_back
                if back is None:
                    leaves = plan.gather_dynamic(leaves)
                else:
                    for i in back:
                        del leaves[i]
                try:
                    # Typed here, not with `typing.cast`: a call to it is ~1% of a depth-2 dispatch.
                    out: _R = entry.jitted(*leaves)
                except Exception as e:
                    entry.reraise(e)
                # `jax.jit` may have retraced (new shapes), and the new trace moved the
                # entry on (a check staged, the output's static parts changed).
                if entry.state is _PLAIN:
                    return out
                return cast(_R, entry.finish(out))
            if state is _REBUILD:
                return cast(_R, entry.call_settled(plan.take_dynamic(leaves)))
        return cast(_R, dispatch(fun, self._config, args, kwargs))

    def lower(self, /, *args: _P.args, **kwargs: _P.kwargs) -> Lowered[_R]:
        """Trace and lower for these arguments, without compiling: a `Lowered`."""
        entry, dynamic = prepare(self._fun, self._config, args, kwargs)
        with donation_warnings_silenced(self._config.silence_donation):
            lowered = entry.jitted.lower(*dynamic)
        return Lowered(lowered, entry, self._fun, self._config)


class _AliasCheckedJitWrapper(_JitWrapper[_P, _R]):
    """`filter_jit(check_aliasing=True)`: the aliasing check, then the usual call."""

    def __call__(self, /, *args: _P.args, **kwargs: _P.kwargs) -> _R:
        warn_if_arguments_aliased(self._fun, args, kwargs)
        return super().__call__(*args, **kwargs)


class Lowered(Module, Generic[_R]):
    """The result of `filter_jit(f).lower(*args, **kwargs)`: lowered, not yet compiled."""

    lowered: Any = field(static=True)
    _entry: Any = field(static=True)
    _fun: Callable[..., Any]
    _config: JitConfig = field(static=True)

    def as_text(self, *args: Any, **kwargs: Any) -> str:
        """The lowered program as text (StableHLO by default); see `jax.stages.Lowered`."""
        text: str = self.lowered.as_text(*args, **kwargs)
        return text

    def compile(self, compiler_options: dict[str, Any] | None = None) -> Compiled[_R]:
        """Compile; bad `compiler_options` raise JAX's `JaxRuntimeError`."""
        with donation_warnings_silenced(self._config.silence_donation):
            if compiler_options is None:
                compiled = self.lowered.compile()
            else:
                compiled = self.lowered.compile(compiler_options)
        return Compiled(compiled, self._entry, self._fun, self._config)


class Compiled(Module, Generic[_R]):
    """A compiled `filter_jit` function, called like the original.

    The static (non-array) arguments are those used at lowering.
    """

    compiled: Any = field(static=True)
    _entry: Any = field(static=True)
    _fun: Callable[..., Any]
    _config: JitConfig = field(static=True)

    def __call__(self, /, *args: Any, **kwargs: Any) -> _R:
        plan, leaves, _ = plan_call(self._fun, self._config, args, kwargs)
        entry: Entry = self._entry
        if plan is not entry.plan:
            raise ValueError(
                "This compiled function was called with arguments whose structure (PyTree "
                "structure, or which leaves are arrays) differs from the call it was "
                "lowered for. Lower it again for these arguments."
            )
        dynamic: Sequence[Any] = plan.take_dynamic(leaves)
        with donation_warnings_silenced(self._config.silence_donation):
            out = self.compiled(*dynamic)
        return cast(_R, entry.finish(out))


@overload
def filter_jit(
    fun: Callable[_P, _R],
    *,
    donate: DonateMode = "none",
    in_shardings: Any = None,
    out_shardings: Any = None,
    check_aliasing: bool = False,
    **jitkwargs: Any,
) -> _JitWrapper[_P, _R]: ...


@overload
def filter_jit(
    *,
    donate: DonateMode = "none",
    in_shardings: Any = None,
    out_shardings: Any = None,
    check_aliasing: bool = False,
    **jitkwargs: Any,
) -> Callable[[Callable[_P, _R]], _JitWrapper[_P, _R]]: ...


def filter_jit(
    fun: Any = sentinel,
    *,
    donate: str = "none",
    in_shardings: Any = None,
    out_shardings: Any = None,
    check_aliasing: bool = False,
    **jitkwargs: Any,
) -> Any:
    # `donate: str` here: type checkers see the overloads above, and a runtime checker
    # must let a bad value through to the `ValueError` below.
    """`jax.jit` for functions of arbitrary PyTrees: arrays are traced, the rest is static.

    **Arguments:**

    - `fun`: the function (or any callable, such as a Module) to compile. Omit it to
      use `filter_jit(donate=...)` as a decorator.
    - `donate`: `"none"` (default), `"all"` (every array, including `fun`'s),
      `"all-except-first"` (not the first positional argument), or `"warn"` /
      `"warn-except-first"`, which are the same but let JAX warn about donated buffers
      that could not be used.
    - `in_shardings`: where the array arguments should live: a
      `jax.sharding.Sharding`, or a PyTree prefix of `(args, kwargs)` with shardings or
      `None` as leaves (`args` holds every positional-or-keyword parameter however it
      was passed; `kwargs` the keyword-only ones). It describes the array leaves only:
      `None`, or any leaf over non-arrays, means no constraint (an argument keeps its
      own sharding). Passed to `jax.jit` as one sharding per array, so the compiled
      function expects (and, for uncommitted arrays, places) them there.
    - `out_shardings`: the same, a prefix of the output; each output array is
      constrained to its sharding at the end of the trace, which the compiled
      function's outputs then have.
    - `check_aliasing`: on every call, search each argument (and a non-function
      `fun`) for an array or sub-tree stored twice, and warn `EqxAliasingWarning`
      naming both paths (inside the compiled function the two places are separate
      inputs, so a tie is silently lost). The same array passed as two arguments is
      fine. Off by default; when off, calls take exactly the usual path.
    - `**jitkwargs`: passed to `jax.jit`.

    **Returns:** a Module wrapping `fun`, called like `fun` (the type checker sees
    `fun`'s signature), with `.lower(...)`.

    **Raises:** `TypeError` if `fun` is not callable or `check_aliasing` is not a bool;
    `ValueError` for an unknown `donate`, or for `static_argnums`, `static_argnames`,
    `donate_argnums`, `donate_argnames` or the pre-0.10 keywords in `jitkwargs`;
    `TypeError` for a keyword `jax.jit` does not take, or a sharding prefix whose
    leaves are not shardings. All raised when `filter_jit` is called, also in the
    decorator form `filter_jit(...)`. At the first call with a structure, a sharding
    prefix that does not fit the arguments (or the output), a `PartitionSpec` naming a
    mesh axis the mesh lacks, or a mesh axis not dividing the dimension it splits
    raises `ValueError` naming the leaf (`args[0].layers[1].weight`).

    ```python
    @eqx_filter.filter_jit
    def loss(model, x, activation="relu"):
        ...

    data = NamedSharding(mesh, PartitionSpec("data"))
    step = eqx_filter.filter_jit(step, in_shardings=((replicated, data), None),
                                 out_shardings=replicated)
    ```
    """
    check_options(donate, jitkwargs, in_shardings, out_shardings, check_aliasing=check_aliasing)
    # Also rejects keywords `jax.jit` lacks.
    config = get_config(
        donate, jitkwargs, in_shardings, out_shardings, check_aliasing=check_aliasing
    )
    if fun is sentinel:
        return functools.partial(
            filter_jit,
            donate=donate,
            in_shardings=in_shardings,
            out_shardings=out_shardings,
            check_aliasing=check_aliasing,
            **jitkwargs,
        )
    if not callable(fun):
        raise TypeError(
            f"filter_jit: expected a function (or other callable) to compile, got {fun!r} "
            f"of type {type(fun).__name__}, which is not callable. Pass the function itself: "
            "`filter_jit(f)`, or use `@filter_jit(donate=...)` as a decorator."
        )
    wrapper_type = _AliasCheckedJitWrapper if check_aliasing else _JitWrapper
    wrapper = module_update_wrapper(wrapper_type(fun, config))
    if type(fun) is _FunctionType:
        object.__setattr__(wrapper, "_jit_hot", (fun, function_cache(fun, config)))
    return wrapper
