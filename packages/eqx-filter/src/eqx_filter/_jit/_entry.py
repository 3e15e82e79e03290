"""`Entry`: one static configuration of a call, its `jax.jit`, and its one state.

An entry is made per plan and static leaves. Its `jax.jit` takes the array leaves and
runs the user's function on the tree rebuilt around them; `jax.jit` itself keys on the
arrays' shapes, dtypes, weak types and shardings, and may retrace at any call. Every
trace reports to the entry (`_traced`), and the entry's `state` says how a call must
run. This module holds the only code that changes it:

    TRACING ──first call returns──▶ PLAIN    output is jax.jit's, nothing to do
       │                        └─▶ REBUILD  output rebuilt / donation warning hidden
       │                                       │
       └───────── any trace stages an error_if check ─▶ CHECKED   wait, translate
                  any trace changes the output's static parts ─▶ UNSTABLE
                                                   (one sub-entry per input shapes)

PLAIN and REBUILD are the hot path's states. CHECKED and UNSTABLE are final (UNSTABLE
wins over CHECKED). A trace may run on another thread at any time, so the first call's
move out of TRACING happens only if no trace moved the entry elsewhere meanwhile, and
transitions take one lock (they happen only at trace time and once per entry).
"""

from __future__ import annotations

import enum
import threading
import weakref
from collections.abc import Callable, Sequence
from typing import Any, NoReturn

import jax
import jax.tree_util as jtu

from eqx_tree import is_array

from .._compat import aval_weak_type, block_until_ready, same_structure
from .._tracing_hooks import note_check_staged, record_checks
from ._history import record_signature, unbind_call_keywords
from ._messages import donation_warnings_silenced, quiet_callback_logs, translated
from ._plan import Plan
from ._shardings import constrain_output

__all__ = ["CHECKED", "PLAIN", "REBUILD", "TRACING", "UNSTABLE", "Entry", "OutInfo", "State"]

# Up to this many static output leaves are inserted among the arrays; more, and the
# arrays are copied into a skeleton instead.
_FEW_STATIC = 8


class State(enum.Enum):
    """How a call of an entry runs (see the module docstring for the transitions)."""

    TRACING = "not called to completion yet: guarded"
    PLAIN = "hot path; jax.jit's output as is"
    REBUILD = "hot path; output rebuilt around static leaves, or donation silenced"
    CHECKED = "a trace staged an error_if check: guarded, waited on, translated"
    UNSTABLE = "the output's static parts depend on input shapes: one sub-entry each"


TRACING = State.TRACING
PLAIN = State.PLAIN
REBUILD = State.REBUILD
CHECKED = State.CHECKED
UNSTABLE = State.UNSTABLE

_transitions = threading.Lock()


class OutInfo:
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

    def same_as(self, other: OutInfo) -> bool:
        if self.all_dynamic and other.all_dynamic:
            return True
        if (
            not same_structure(self.treedef, other.treedef)
            or self.dynamic_positions != other.dynamic_positions
        ):
            return False
        return all(_static_equal(a, b) for a, b in zip(self.static, other.static, strict=True))

    def arrays_of(self, out: Any) -> Any:
        """What the inner `jax.jit` returns for `out`: the array leaves, or `out` itself."""
        if self.all_dynamic:
            return out
        out_leaves = jtu.tree_leaves(out)
        return [out_leaves[i] for i in self.dynamic_positions]

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


class Entry:
    """One static configuration: a `jax.jit` of the flat array leaves, and its state.

    `fun_ref` gives the function when the plan leaves it out of the tree (a plain
    function, held weakly); `None` when the function is the first item of the tree.
    """

    __slots__ = (
        "__weakref__",
        "by_aval",
        "fun_ref",
        "jitkwargs",
        "jitted",
        "name",
        "out_info",
        "out_shardings",
        "plan",
        "state",
        "static",
    )

    def __init__(
        self,
        plan: Plan,
        static: tuple[Any, ...],
        fun_ref: Callable[[], Any] | None,
        jitkwargs: dict[str, Any],
        name: str,
        out_shardings: Any = None,
    ) -> None:
        self.plan = plan
        self.out_shardings = out_shardings
        self.static = static
        self.fun_ref = fun_ref
        self.jitkwargs = jitkwargs
        self.name = name
        self.state = TRACING
        self.out_info: OutInfo | None = None  # set by each trace, before it returns
        self.by_aval: dict[tuple[Any, ...], Entry] | None = None  # UNSTABLE's sub-entries
        self.jitted = _make_jitted(self, jitkwargs, name)

    # --- transitions (the only writes of `state`) --------------------------------------

    def _traced(self, info: OutInfo, checked: bool) -> None:
        """A trace of this entry finished: record its output, and what it found."""
        with _transitions:
            previous = self.out_info
            self.out_info = info
            if previous is not None and not previous.same_as(info):
                self.state = UNSTABLE
            elif checked and self.state is not UNSTABLE:
                self.state = CHECKED

    def _first_call_returned(self) -> None:
        """The guarded first call returned: settle on a hot-path state, unless a trace
        (this call's, or another thread's) already moved the entry elsewhere."""
        with _transitions:
            if self.state is TRACING:
                info = self.out_info
                plain = info is not None and info.all_dynamic and not self.plan.silence
                self.state = PLAIN if plain else REBUILD

    # --- calls -------------------------------------------------------------------------

    def call(self, dynamic: Sequence[Any]) -> Any:
        """Call with the array leaves; return the output with its static parts."""
        if self.state is TRACING or self.state is CHECKED:
            return self._call_guarded(dynamic)
        return self.call_settled(dynamic)

    def call_settled(self, dynamic: Sequence[Any]) -> Any:
        """A call of a PLAIN or REBUILD entry (the hot path's call for REBUILD)."""
        try:
            if self.plan.silence:
                with donation_warnings_silenced():
                    out = self.jitted(*dynamic)
            else:
                out = self.jitted(*dynamic)
        except Exception as e:
            self.reraise(e)
        return self.finish(out)

    def _call_guarded(self, dynamic: Sequence[Any]) -> Any:
        """The first call, and every call of a CHECKED entry: may fail a check.

        Waits for the result when a trace staged a check, so that a failure raises
        here, translated, with JAX's log line about the failed callback dropped.
        """
        with quiet_callback_logs(), donation_warnings_silenced(self.plan.silence):
            try:
                out = self.jitted(*dynamic)
            except Exception as e:
                self.reraise(e)
            if self.state is CHECKED:
                note_check_staged()  # an enclosing trace now holds this check too
            out = self.finish(out)
        self._first_call_returned()
        return out

    def finish(self, out: Any) -> Any:
        """The output of a call that returned `out`, whatever state it left behind.

        A call may trace or retrace (new shapes), and the trace may have staged a check
        (so wait for the result and translate its failure) or changed the output's
        static parts (so rebuild it with what that trace recorded).
        """
        if self.state is CHECKED or self.state is UNSTABLE:  # a trace staged a check?
            try:
                block_until_ready(out)
            except Exception as e:
                self.reraise(e)
        info = self.out_info
        assert info is not None  # the trace ran before the call returned
        return info.rebuild(out)

    def reraise(self, error: Exception) -> NoReturn:
        """Raise what a failed call of this entry raises: `error`, or its translation.

        A failure is an `EqxRuntimeError` (raised `from None`) when a trace of this
        entry staged an `error_if` check and `error` came from it.
        """
        if self.state is CHECKED or self.state is UNSTABLE:
            runtime_error = translated(error)
            if runtime_error is not None:
                raise runtime_error from None
        raise error

    def for_shapes(self, dynamic: Sequence[Any]) -> Entry:
        """An UNSTABLE entry's sub-entry for these arrays' shapes (made on first use)."""
        by_aval = self.by_aval
        if by_aval is None:
            by_aval = self.by_aval = {}
        key = tuple(
            (x.shape, x.dtype, aval_weak_type(x), getattr(x, "sharding", None)) for x in dynamic
        )
        sub = by_aval.get(key)
        if sub is None:
            fresh = Entry(
                self.plan, self.static, self.fun_ref, self.jitkwargs, self.name, self.out_shardings
            )
            sub = by_aval.setdefault(key, fresh)
        return sub


def _make_jitted(entry: Entry, jitkwargs: dict[str, Any], name: str) -> Any:
    """The entry's `jax.jit`: of the array leaves, in leaf order (see `_plan.py`)."""
    plan = entry.plan
    treedef = plan.treedef
    fun_ref = entry.fun_ref
    skeleton: list[Any] = [None] * plan.n_leaves
    for position, value in zip(plan.static_positions, entry.static, strict=True):
        skeleton[position] = value
    dynamic_positions = plan.dynamic_positions
    entry_ref = weakref.ref(entry)
    out_shardings = entry.out_shardings

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
        if out_shardings is not None:
            out = constrain_output(out_shardings, out)
        if record.count > 0:
            note_check_staged()  # an enclosing `filter_jit` trace holds it too
        info = OutInfo(out)
        live_entry = entry_ref()
        if live_entry is not None:
            live_entry._traced(info, record.count > 0)
        return info.arrays_of(out)

    flat_fun.__name__ = name
    flat_fun.__qualname__ = name
    jitted: Any = jax.jit(flat_fun, donate_argnums=plan.donate_argnums, **jitkwargs)
    return jitted
