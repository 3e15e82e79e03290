"""Plans: which leaves of a call are arrays, and how a cache hit checks the structure.

A `FunctionCache` holds the plans of one function (or of every non-function callable
under one config). A `Plan` is made per `(treedef, leaf types)` of a bound call:
whether a leaf is an array depends only on its type, so the plan knows which leaf
positions are traced (dynamic) and which are static, and holds the entries
(`_entry.py`) keyed by the static leaves.

The inner `jax.jit` of every entry takes the array leaves as separate arguments, in
leaf order (`dynamic_positions`), whatever the donation mode: donation only picks
`donate_argnums` among them. So a per-leaf option (a sharding prefix broadcast to the
leaves of the call) maps one-to-one onto the inner arguments:
`[per_leaf[i] for i in plan.dynamic_positions]`.

The structure check and its back-off: a positional call is checked against the plan
used last with one C++ `positional_treedef.flatten_up_to(args)`, which walks the call
only as far as the treedef goes and raises where the structure differs (every node's
kind, type, arity, keys and aux data, as treedef equality compares them). Whatever sits
at a leaf position comes back whole, so a leaf type must still be a leaf: true while no
type has been registered as a node since a full flatten gave these types
(`up_to_size`, the size of JAX's registry then). `flatten_up_to` formats its error with
the argument's repr (milliseconds for a big model), so a plan whose check failed stops
using it until enough calls in a row found it by a full flatten; each failure doubles
that wait, so calls alternating between structures pay for few failures, and a
structure used alone again gets the fast check back.
"""

from __future__ import annotations

import operator
import threading
from collections.abc import Callable
from typing import Any

import jax.tree_util as jtu

from eqx_tree import is_array

from .._compat import pytree_registry
from ._bind import Binder

__all__ = ["FunctionCache", "Plan", "lookup_plan", "registry", "tree_flatten_fast"]

# JAX's registry of PyTree node types (`{}` if this JAX lacks it: then no plan uses
# `flatten_up_to`).
registry: dict[Any, Any] = pytree_registry if pytree_registry is not None else {}

# What `jtu.tree_flatten` calls; calling it directly saves a Python frame per dispatch.
# `jax.tree_util.default_registry` is public in JAX 0.4.38 through 0.10.
tree_flatten_fast: Callable[[Any], tuple[list[Any], Any]] = getattr(
    getattr(jtu, "default_registry", None), "flatten", jtu.tree_flatten
)

# Up to this many static leaves are deleted from a list of leaves; more, and gathering
# the arrays is cheaper.
_FEW_STATIC = 8
# Calls in a row found by a full flatten before a plan whose check failed retries it.
_FIRST_RETRY = 16


class FunctionCache:
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
        self.plans: dict[tuple[Any, tuple[type, ...]], Plan] = {}
        self.positional: dict[tuple[Any, tuple[type, ...]], Plan] = {}
        self.last: Plan | None = None
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
    getter: Callable[[list[Any]], tuple[Any, ...]] = operator.itemgetter(*positions)
    return getter


class Plan:
    """Which leaf positions are arrays, for one treedef and one tuple of leaf types."""

    __slots__ = (
        "donate_argnums",
        "dynamic_positions",
        "entries",
        "gather_dynamic",
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
        donate: str,
        silence_donation: bool,
        first_arg_leaves: range,
        registry_size: int,
    ) -> None:
        self.treedef = treedef
        self.types = tuple(map(type, leaves))
        self.type_list = list(self.types)
        # The treedef of `args` (or `(fun, args)`) when the bound call has no keywords.
        self.positional_treedef: Any = None
        # Whether the hot path may check a call with `flatten_up_to`, and the registry
        # size while it may (else -1: the hot path's one test).
        self.up_to = pytree_registry is not None
        self.up_to_size = registry_size if self.up_to else -1
        self.streak = 0
        self.retry_after = _FIRST_RETRY
        self.has_fun = has_fun
        self.n_leaves = len(leaves)
        dynamic = tuple(i for i, x in enumerate(leaves) if is_array(x))
        static = tuple(i for i, x in enumerate(leaves) if not is_array(x))
        self.dynamic_positions = dynamic
        self.static_positions = static
        # `take_dynamic`'s two ways: delete the few static positions (last first) from
        # the list, or gather the arrays when there are many static leaves.
        self.static_back: tuple[int, ...] | None = (
            tuple(reversed(static)) if len(static) <= _FEW_STATIC else None
        )
        self.gather_dynamic = _getter(dynamic)
        self.static_of = _getter(static)
        # The entries' key: the static leaves, or the leaf itself when there is one (an
        # `itemgetter` in C instead of a Python lambda building a 1-tuple).
        self.static_key: Callable[[list[Any]], Any] = (
            operator.itemgetter(static[0]) if len(static) == 1 else self.static_of
        )
        # static key -> `Entry` (`_entry.py`, which builds on this module).
        self.entries: dict[Any, Any] = {}
        if donate in ("all", "warn"):
            self.donate_argnums: tuple[int, ...] = tuple(range(len(dynamic)))
        elif donate in ("all-except-first", "warn-except-first"):
            self.donate_argnums = tuple(
                k for k, i in enumerate(dynamic) if i not in first_arg_leaves
            )
        else:
            self.donate_argnums = ()
        self.silence = silence_donation and bool(self.donate_argnums)

    def take_dynamic(self, leaves: list[Any]) -> list[Any] | tuple[Any, ...]:
        """The array leaves, in leaf order; may consume `leaves` (a fresh list).

        A Module usually has a few static leaves (activations, sizes) among many arrays:
        deleting those few from the list is cheaper than gathering every array.
        """
        back = self.static_back
        if back is None:
            return self.gather_dynamic(leaves)
        for i in back:
            del leaves[i]
        return leaves

    def check_failed(self) -> None:
        """The hot path's `flatten_up_to` check failed: stop using it, wait longer."""
        self.up_to = False
        self.up_to_size = -1
        self.streak = 0
        self.retry_after *= 2

    def found_by_flatten(self, was_last: bool, registry_size: int) -> None:
        """A full flatten found this plan: renew the check, or count towards a retry."""
        if self.up_to:
            self.up_to_size = registry_size  # these types are leaves under this registry
        elif pytree_registry is not None:
            self.streak = self.streak + 1 if was_last else 0
            if self.streak >= self.retry_after:
                self.streak = 0
                self.up_to = True
                self.up_to_size = registry_size


def lookup_plan(cache: FunctionCache, tree: Any) -> tuple[Plan | None, list[Any]]:
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
        except TypeError:  # unhashable static data: the slow path says where
            return None, leaves
        if plan is None:
            return None, leaves
        cache.last = plan
    plan.found_by_flatten(plan is last, size)
    return plan, leaves
