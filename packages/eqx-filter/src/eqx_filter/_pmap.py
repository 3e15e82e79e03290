"""`filter_pmap` (legacy): `jax.pmap` over the array leaves of arbitrary PyTrees.

Like `filter_vmap`, but over devices. `jax.pmap` needs the output axes before it
traces, and they must be checked against the output ranks, so a cache miss traces
twice: once abstractly (`jax.eval_shape` of the `vmap`ped function) to learn the
output's structure and ranks, then the `pmap` trace itself. A cache hit traces zero
times: the `jax.pmap` object is cached per structure and static leaves.
"""

from __future__ import annotations

import functools
import threading
from collections.abc import Callable
from typing import Any, Generic, Literal, ParamSpec, TypeVar, cast, overload

import jax
import numpy as np

from eqx_module import Module, field, module_update_wrapper
from eqx_tree import EqxDeprecationWarning, register_cache_clearer
from eqx_tree.internal import sentinel, warn_at_user_code

from ._axis_spec import if_array, resolve_in_axes_dict
from ._jit._config import check_donate
from ._jit._messages import donation_warnings_silenced, unhashable_argument_error
from ._vmap import OutputSkeleton, keyword_error, rebuild, split_inputs, split_outputs
from ._wrapper import TransformWrapper

__all__ = ["filter_pmap"]

PMAP_DONATE_MODES = ("all", "warn", "none")
PmapDonateMode = Literal["all", "warn", "none", "arrays"]  # "arrays": deprecated "all"

_P = ParamSpec("_P")
_R = TypeVar("_R")


class _PmapEntry:
    __slots__ = ("pmapped", "skeletons")

    def __init__(self, pmapped: Any, skeletons: list[OutputSkeleton]) -> None:
        self.pmapped = pmapped
        self.skeletons = skeletons


_cache: dict[Any, _PmapEntry] = {}
_cache_lock = threading.Lock()


@register_cache_clearer
def _clear_pmap_cache() -> None:
    _cache.clear()


def _check_out_axes(array_axes: list[int | None], abstract: list[Any]) -> None:
    for axis, struct in zip(array_axes, abstract, strict=True):
        if axis is None:
            continue
        rank = len(struct.shape) - 1  # without the mapped axis
        if not -(rank + 1) <= axis <= rank:
            raise ValueError(
                f"filter_pmap: an output of shape {tuple(struct.shape[1:])} (per device) "
                f"has `out_axes` {axis}, outside its rank {rank}; out axes must be ints "
                f"in [{-(rank + 1)}, {rank}], or None."
            )


class _PmapWrapper(TransformWrapper, Generic[_P, _R]):
    _fun: Callable[_P, _R]
    _in_axes: Any
    _out_axes: Any
    _axis_name: Any = field(static=True)
    _axis_size: int | None = field(static=True)
    _donate: str = field(static=True)
    _pmapkwargs: tuple[tuple[str, Any], ...] = field(static=True)

    @property
    def __wrapped__(self) -> Callable[_P, _R]:
        return self._fun

    def _prepare(self, args: tuple[Any, ...]) -> tuple[_PmapEntry | None, list[Any]]:
        fun = self._fun
        # `fun` is an argument too (a Module's arrays are broadcast inputs).
        call_args = (fun, *args)
        in_axes = self._in_axes
        if isinstance(in_axes, dict):
            in_axes = resolve_in_axes_dict(fun, in_axes, args, if_array(0))
        elif isinstance(in_axes, list):
            in_axes = tuple(in_axes)
        if not isinstance(in_axes, tuple) or len(in_axes) != len(args):
            in_axes = _broadcast_prefix(in_axes, args)
        leaves, treedef, positions, axes = split_inputs(
            lambda *a: None, (None, *in_axes), call_args, "filter_pmap"
        )
        dynamic_set = set(positions)
        static = tuple(x for i, x in enumerate(leaves) if i not in dynamic_set)
        # Shapes and dtypes are part of the key, so that a new input rank is a miss and
        # its output axes are checked again.
        avals = tuple((tuple(leaves[i].shape), str(leaves[i].dtype)) for i in positions)
        key = (
            treedef,
            static,
            avals,
            tuple(axes),
            _hashable(self._out_axes),
            self._axis_name,
            self._axis_size,
            self._donate,
            self._pmapkwargs,
        )
        try:
            entry = _cache.get(key)
        except TypeError:
            raise unhashable_argument_error("filter_pmap", call_args) from None
        dynamic = [leaves[i] for i in positions]
        n_dummy = 0
        if all(axis is None for axis in axes):
            if self._axis_size is None:
                return None, dynamic  # nothing to map over: as `filter_vmap`, run unmapped
            # `jax.pmap` needs one mapped argument: a dummy of the right length, which
            # the function never sees.
            n_dummy = 1
            dynamic = [np.zeros((self._axis_size,), np.uint8), *dynamic]
            axes = [0, *axes]
        if entry is None:
            entry = self._make_entry(leaves, treedef, positions, axes, dynamic, n_dummy)
            with _cache_lock:
                entry = _cache.setdefault(key, entry)
        return entry, dynamic

    def _make_entry(
        self,
        leaves: list[Any],
        treedef: Any,
        positions: list[int],
        axes: list[int | None],
        dynamic: list[Any],
        n_dummy: int,
    ) -> _PmapEntry:
        out_axes_spec = self._out_axes
        skeletons: list[OutputSkeleton] = []
        out_axes_box: list[int | None] = []
        # The cached entry keeps only the static leaves, not this call's arrays.
        dynamic_set = set(positions)
        static_leaves = [None if i in dynamic_set else x for i, x in enumerate(leaves)]

        def flat_fun(*values: Any) -> list[Any]:
            values = values[n_dummy:]
            fun, *call_args = rebuild(static_leaves, treedef, positions, values)
            out = fun(*call_args)
            arrays, array_axes, skeleton = split_outputs(out, out_axes_spec)
            out_axes_box[:] = array_axes
            skeletons.append(skeleton)
            return arrays

        # Trace 1: abstractly, to learn the outputs and check their axes.
        abstract = jax.eval_shape(
            jax.vmap(
                flat_fun,
                in_axes=tuple(axes),
                out_axes=0,
                axis_name=self._axis_name,
                axis_size=self._axis_size,
            ),
            *dynamic,
        )
        array_axes = list(out_axes_box)
        _check_out_axes(array_axes, abstract)
        donate_argnums: tuple[int, ...] = ()
        if self._donate == "all" or self._donate == "warn":
            donate_argnums = tuple(range(n_dummy, len(axes)))  # every array input
        kwargs = dict(self._pmapkwargs)
        if self._axis_size is not None:
            kwargs["axis_size"] = self._axis_size
        pmapped = jax.pmap(
            flat_fun,
            axis_name=self._axis_name,
            in_axes=tuple(axes),
            out_axes=list(array_axes),
            donate_argnums=donate_argnums,
            **kwargs,
        )
        return _PmapEntry(pmapped, skeletons)

    def __call__(self, /, *args: _P.args, **kwargs: _P.kwargs) -> _R:
        if kwargs:
            raise keyword_error("filter_pmap")
        entry, dynamic = self._prepare(args)
        if entry is None:
            return cast(_R, _run_unmapped(self._fun, args, self._out_axes))
        with donation_warnings_silenced(self._donate == "all"):
            arrays = entry.pmapped(*dynamic)
        return cast(_R, entry.skeletons[-1].fill(arrays))

    def lower(self, /, *args: _P.args, **kwargs: _P.kwargs) -> PmapLowered[_P, _R]:
        """Trace and lower for these arguments, without compiling: a `PmapLowered`."""
        if kwargs:
            raise keyword_error("filter_pmap")
        entry, dynamic = self._prepare(args)
        if entry is None:
            raise _unresolved_batch_dimension("nothing can be lowered")
        with donation_warnings_silenced(self._donate == "all"):
            lowered = entry.pmapped.lower(*dynamic)
        return PmapLowered(lowered, entry, self)

    def _call_compiled(self, compiled: Any, entry: _PmapEntry, args: tuple[Any, ...]) -> Any:
        """Call `compiled` (made for `entry`) with the original positional arguments."""
        found, dynamic = self._prepare(args)
        if found is not entry:
            raise ValueError(
                "This compiled `filter_pmap` function was called with arguments whose "
                "structure, static (non-array) leaves or array shapes differ from the call "
                "it was lowered for. Lower it again for these arguments."
            )
        with donation_warnings_silenced(self._donate == "all"):
            arrays = compiled(*dynamic)
        return entry.skeletons[-1].fill(arrays)


class PmapLowered(Module, Generic[_P, _R]):
    """`filter_pmap(f).lower(*args)`: lowered, not yet compiled (see `jax.stages.Lowered`)."""

    lowered: Any = field(static=True)
    _entry: Any = field(static=True)
    _wrapper: _PmapWrapper[_P, _R]

    def as_text(self, *args: Any, **kwargs: Any) -> str:
        """The lowered program as text (StableHLO by default)."""
        text: str = self.lowered.as_text(*args, **kwargs)
        return text

    def compile(self, compiler_options: dict[str, Any] | None = None) -> PmapCompiled[_P, _R]:
        """Compile: a `PmapCompiled`, called with the arguments given to `lower`."""
        with donation_warnings_silenced(self._wrapper._donate == "all"):
            if compiler_options is None:
                compiled = self.lowered.compile()
            else:
                compiled = self.lowered.compile(compiler_options)
        return PmapCompiled(compiled, self._entry, self._wrapper)


class PmapCompiled(Module, Generic[_P, _R]):
    """A compiled `filter_pmap` function, called like the original: `compiled(x, y)`.

    The static (non-array) arguments and the array shapes must be those used at
    lowering; anything else raises a `ValueError` (lower again).
    """

    compiled: Any = field(static=True)
    _entry: Any = field(static=True)
    _wrapper: _PmapWrapper[_P, _R]

    def __call__(self, /, *args: _P.args, **kwargs: _P.kwargs) -> _R:
        if kwargs:
            raise keyword_error("filter_pmap")
        return cast(_R, self._wrapper._call_compiled(self.compiled, self._entry, args))


def _unresolved_batch_dimension(consequence: str) -> ValueError:
    return ValueError(
        "Cannot resolve batch dimension: `filter_pmap` was called with no mapped input "
        f"(every `in_axes` resolved to None) and no `axis_size`, so {consequence}. Map an "
        "input, or pass `axis_size=`."
    )


def _run_unmapped(fun: Callable[..., Any], args: tuple[Any, ...], out_axes: Any) -> Any:
    out = fun(*args)
    _, array_axes, _ = split_outputs(out, out_axes)
    if any(axis is not None for axis in array_axes):
        raise _unresolved_batch_dimension("`out_axes` cannot map an output")
    return out


def _hashable(x: Any) -> Any:
    try:
        hash(x)
    except TypeError:
        return ("unhashable", id(x))
    return x


def _broadcast_prefix(in_axes: Any, args: tuple[Any, ...]) -> tuple[Any, ...]:
    """A non-tuple spec applies to every positional argument."""
    if isinstance(in_axes, tuple):
        return in_axes
    return tuple(in_axes for _ in args)


@overload
def filter_pmap(
    fun: Callable[_P, _R],
    *,
    in_axes: Any = ...,
    out_axes: Any = ...,
    axis_name: Any = None,
    axis_size: int | None = None,
    donate: PmapDonateMode = "none",
    **pmapkwargs: Any,
) -> _PmapWrapper[_P, _R]: ...


@overload
def filter_pmap(
    *,
    in_axes: Any = ...,
    out_axes: Any = ...,
    axis_name: Any = None,
    axis_size: int | None = None,
    donate: PmapDonateMode = "none",
    **pmapkwargs: Any,
) -> Callable[[Callable[_P, _R]], _PmapWrapper[_P, _R]]: ...


def filter_pmap(
    fun: Any = sentinel,
    *,
    in_axes: Any = if_array(0),
    out_axes: Any = if_array(0),
    axis_name: Any = None,
    axis_size: int | None = None,
    donate: str = "none",
    **pmapkwargs: Any,
) -> Any:
    """`jax.pmap` for functions of arbitrary PyTrees (legacy; prefer sharding).

    **Arguments:** as for `filter_vmap`, plus `donate`: `"none"` (default), `"all"`
    (donate every array input; JAX's unusable-donation warning is silenced) or
    `"warn"` (the same, warning shown). `"arrays"` is a deprecated spelling of `"all"`.

    **Returns:** a Module wrapping `fun` (typed with `fun`'s signature), with
    `.lower(*args)`, whose `.compile()` is called with the same arguments as `fun`.
    As with `filter_vmap`, a call with no mapped input runs over `axis_size` devices,
    or unmapped if `axis_size` is `None`. Each new input signature traces twice (once abstractly, to
    check the output axes, then for `jax.pmap`); a repeat traces zero times.

    **Raises:** `ValueError` for an unknown `donate`, for `static_broadcasted_argnums`
    or `donate_argnums` in `pmapkwargs`, or (at call) for out axes outside the output's
    rank, or «Cannot resolve batch dimension» for a mapped output with nothing mapped;
    `TypeError` naming the path of an unhashable non-array leaf; `RuntimeError` for
    keyword arguments at call time.

    ```python
    y = eqx_filter.filter_pmap(lambda x: x * 2)(jnp.arange(jax.device_count()))
    ```
    """
    if fun is sentinel:
        return functools.partial(
            filter_pmap,
            in_axes=in_axes,
            out_axes=out_axes,
            axis_name=axis_name,
            axis_size=axis_size,
            donate=donate,
            **pmapkwargs,
        )
    if donate == "arrays":
        warn_at_user_code(
            "`filter_pmap(donate='arrays')` is deprecated; use `donate='all'`.",
            EqxDeprecationWarning,
        )
        donate = "all"
    check_donate(donate, PMAP_DONATE_MODES)
    for name in ("static_broadcasted_argnums", "donate_argnums"):
        if name in pmapkwargs:
            raise ValueError(
                f"filter_pmap does not accept `{name}`: non-array leaves are static "
                "already, and donation is set with `donate=`."
            )
    return module_update_wrapper(
        _PmapWrapper(
            fun,
            in_axes,
            out_axes,
            axis_name,
            axis_size,
            donate,
            # Kept in a static field and in the cache key: lists (`devices=jax.devices()`,
            # as `jax.pmap` documents) become tuples so that they hash.
            tuple(
                sorted((k, tuple(v) if isinstance(v, list) else v) for k, v in pmapkwargs.items())
            ),
        )
    )
