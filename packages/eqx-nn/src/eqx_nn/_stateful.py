"""State for stateful layers: `StateIndex`, `State`, `make_with_state`, `delete_init_state`.

A stateful layer (batch norm, spectral norm, ...) holds a `StateIndex`: a key into a
separate `State` object that is threaded through the forward pass,
`out, state = layer(x, state)`. The model stays an immutable PyTree of parameters; the
state is an explicit input and output, so it works under every JAX transform.

`State.set` returns a new `State` and *invalidates* the old one, so reusing a stale state
(a classic bug: `x, s2 = f(x, s1); y, s3 = g(y, s1)`) is an error instead of a silent
wrong answer.
"""

import operator
import types
from collections.abc import Callable
from typing import Any, Generic, ParamSpec, TypeVar, overload

import jax.numpy as jnp
import jax.tree_util as jtu

from eqx_module import Module, field
from eqx_tree import tree_pformat

from ._misc import sentinel

__all__ = ["State", "StateIndex", "delete_init_state", "make_with_state"]

_Value = TypeVar("_Value")
_Model = TypeVar("_Model")
_P = ParamSpec("_P")


class _DeletedInit:
    """What `delete_init_state` leaves in `StateIndex.init`: a PyTree node with no leaves.

    Being a leafless node (not a leaf) keeps a state-deleted model usable as a plain
    `jax.jit` input or output.
    """

    _instance: "_DeletedInit | None" = None

    def __new__(cls) -> "_DeletedInit":
        if cls._instance is None:
            cls._instance = super().__new__(cls)
        return cls._instance

    def __repr__(self) -> str:
        return "<deleted init: see eqx.nn.make_with_state>"


_DELETED = _DeletedInit()
jtu.register_pytree_node(_DeletedInit, lambda _: ((), None), lambda _aux, _children: _DELETED)


class StateIndex(Module, Generic[_Value]):
    """A key into a `State`, with the initial value of that piece of state.

    Layers that carry state (for example `BatchNorm`) store `StateIndex` fields, and at
    call time read and write their state through it: `state.get(index)` and
    `state.set(index, value)`.

    Arguments:
        init: the initial value: any PyTree of arrays (for example a running mean).

    Raises:
        ValueError: `init` is a function (the pre-0.11 Equinox API, which took a callable
            producing the initial value). Pass the value itself.

    Example:
        ```python
        class Counter(eqx.Module):
            index: eqx.nn.StateIndex

            def __init__(self):
                self.index = eqx.nn.StateIndex(jnp.array(0))

            def __call__(self, x, state):
                count = state.get(self.index)
                return x, state.set(self.index, count + 1)

        counter, state = eqx.nn.make_with_state(Counter)()
        ```
    """

    # A fresh `object()` until `make_with_state` replaces it by the index's path string.
    marker: object = field(static=True)
    init: _Value

    def __init__(self, init: _Value) -> None:
        if isinstance(init, types.FunctionType):
            raise ValueError(
                "`eqx.nn.StateIndex(init)` takes the initial value itself, not a function "
                "returning it (that was the pre-0.11 API). Replace "
                "`StateIndex(lambda **kwargs: value)` with `StateIndex(value)`."
            )
        self.marker = object()
        self.init = init


def _make_index(marker: object, init: Any) -> StateIndex[Any]:
    # Build a StateIndex with a chosen (static) marker. `__init__` always draws a fresh
    # marker, so bypass it exactly as unflattening does: allocate, then set the fields.
    index: StateIndex[Any] = object.__new__(StateIndex)
    object.__setattr__(index, "marker", marker)
    object.__setattr__(index, "init", init)
    return index


def _is_index(x: Any) -> bool:
    return isinstance(x, StateIndex)


class _Old:
    """Marks a `State` that has been superseded by `set` / `update`."""

    def __repr__(self) -> str:
        return "~old~"


_OLD = _Old()

_OLD_STATE_MESSAGE = (
    "Attempted to use old state. `state.set(...)` and `state.update(...)` return a new "
    "`State` and invalidate the one they were called on, so a state may be used only "
    "once; probably you did something like `x, state2 = layer(x, state); "
    "y, state3 = layer(y, state)` (note `state` used twice) instead of passing `state2` "
    "on. If you really need to keep a copy of a state, clone it before using it: "
    "`leaves, treedef = jax.tree_util.tree_flatten(state); "
    "state_copy = jax.tree_util.tree_unflatten(treedef, leaves)`."
)

_KEY_MESSAGE = "Can only use `eqx.nn.StateIndex`s as state keys; got {}."


def _check_key(index: Any) -> None:
    # Exactly a StateIndex, not a subclass nor a marker: anything else is a mix-up.
    if type(index) is not StateIndex:
        raise ValueError(_KEY_MESSAGE.format(f"an object of type {type(index).__qualname__}"))


def _structure_summary(value: Any) -> str:
    leaves, treedef = jtu.tree_flatten(value)
    shapes = [f"{jnp.result_type(leaf)}{list(jnp.shape(leaf))}" for leaf in leaves]
    return f"structure {treedef}, leaves [{', '.join(shapes)}]"


class State:
    """The state of a model's stateful layers: a mapping from `StateIndex` to value.

    Build it with `eqx.nn.make_with_state` (which also strips the initial values out of
    the model), then thread it through the forward pass. It is a PyTree (its leaves are
    the state's arrays), so it can cross `jit`, `vmap`, `grad`, serialisation, etc.

    Arguments:
        model: a PyTree containing `StateIndex`es that still hold their initial values.

    Raises:
        ValueError: the model's initial values were deleted by `delete_init_state` /
            `make_with_state`. Use the state that `make_with_state` returned.

    Example:
        ```python
        model, state = eqx.nn.make_with_state(Model)(key=key)
        out, state = model(x, state)
        ```
    """

    _state: dict[object, Any] | _Old

    def __init__(self, model: Any) -> None:
        state: dict[object, Any] = {}
        leaves = jtu.tree_leaves(model, is_leaf=_is_index)
        for leaf in leaves:
            if isinstance(leaf, StateIndex):
                if leaf.init is _DELETED:
                    raise ValueError(
                        "Do not call `eqx.nn.State(model)` directly on a model whose initial "
                        "state has been deleted (by `eqx.nn.make_with_state` or "
                        "`eqx.nn.delete_init_state`). Use the state returned alongside the "
                        "model: `model, state = eqx.nn.make_with_state(Model)(...)`."
                    )
                state[leaf.marker] = jtu.tree_map(jnp.asarray, leaf.init)
        self._state = state

    def _live(self) -> dict[object, Any]:
        state = self._state
        if isinstance(state, _Old):
            raise ValueError(_OLD_STATE_MESSAGE)
        return state

    def _lookup(self, index: StateIndex[Any]) -> Any:
        state = self._live()
        try:
            return state[index.marker]
        except KeyError:
            raise KeyError(
                f"The `StateIndex` with marker {index.marker!r} is not part of this `State`. "
                "Use the state built (by `eqx.nn.make_with_state`) for this model."
            ) from None

    @overload
    def get(self, i: StateIndex[_Value]) -> _Value: ...

    @overload
    def get(self, i: object) -> Any: ...

    def get(self, i: Any) -> Any:
        """The current value stored for the `StateIndex` `i`.

        Raises:
            ValueError: `i` is not a `StateIndex`, or this state is old.
            KeyError: `i` does not belong to this state.
        """
        _check_key(i)
        return self._lookup(i)

    @overload
    def set(self, i: StateIndex[_Value], v: _Value) -> "State": ...

    @overload
    def set(self, i: object, v: object) -> "State": ...

    def set(self, i: Any, v: Any) -> "State":
        """Return a new `State` with `v` stored for the `StateIndex` `i`; this one becomes old.

        Raises:
            ValueError: `i` is not a `StateIndex`; this state is old; or `v` differs from
                the current value in structure, shape or dtype.
            KeyError: `i` does not belong to this state.
        """
        _check_key(i)
        index: StateIndex[Any] = i
        old_value = self._lookup(index)
        new_value = jtu.tree_map(jnp.asarray, v)
        old_leaves, old_def = jtu.tree_flatten(old_value)
        new_leaves, new_def = jtu.tree_flatten(new_value)
        same_structure = operator.eq(old_def, new_def)
        if not same_structure or any(
            a.shape != b.shape or a.dtype != b.dtype
            for a, b in zip(old_leaves, new_leaves, strict=True)
        ):
            raise ValueError(
                f"`State.set` for the index {index.marker!r} got a new value with "
                f"{_structure_summary(new_value)}, but the old value has "
                f"{_structure_summary(old_value)}. The structure, shapes and dtypes of a "
                "piece of state must not change; cast or reshape the new value to match."
            )
        # Same dtype, but drop weak typing (`state.set(i, 1.0)`), so that the stored
        # value promotes exactly like the initial one did.
        new_value = jtu.tree_unflatten(
            old_def,
            [jnp.asarray(b, dtype=a.dtype) for a, b in zip(old_leaves, new_leaves, strict=True)],
        )
        state = dict(self._live())
        state[index.marker] = new_value
        self._state = _OLD
        return _from_dict(state)

    def substate(self, pytree: Any) -> "State":
        """A new `State` holding only the entries whose `StateIndex` appears in `pytree`.

        The receiver stays valid. Useful to hand a sub-model just its own state; merge the
        result back with `update`.
        """
        state = self._live()
        markers = [
            leaf.marker
            for leaf in jtu.tree_leaves(pytree, is_leaf=_is_index)
            if isinstance(leaf, StateIndex)
        ]
        missing = [m for m in markers if m not in state]
        if missing:
            raise KeyError(
                f"`State.substate`: the `StateIndex`es with markers {missing!r} are not part "
                "of this `State`."
            )
        return _from_dict({m: state[m] for m in markers})

    def update(self, sub: "State | Any") -> "State":
        """Return a new `State` with the entries of `sub` written in; this one becomes old.

        Raises:
            ValueError: `sub` is not a `State`, has entries this state lacks, or
                either state is old.
        """
        state = self._live()
        if not isinstance(sub, State):
            raise ValueError(
                "Cannot call `state1.update(state2)` unless `state2` is a substate of "
                f"`state1`: `state2` is a {type(sub).__qualname__}, not an "
                "`eqx.nn.State`."
            )
        sub_state = sub._live()
        extra = [m for m in sub_state if m not in state]
        if extra:
            raise ValueError(
                "Cannot call `state1.update(state2)` unless `state2` is a substate of "
                f"`state1`: `state2` has the markers {extra!r}, which `state1` lacks. Build "
                "`state2` with `state1.substate(...)`."
            )
        new_state = dict(state)
        new_state.update(sub_state)
        self._state = _OLD
        return _from_dict(new_state)

    def __repr__(self) -> str:
        state = self._state
        if isinstance(state, _Old):
            return "State(~old~)"
        items = ", ".join(f"{marker}={tree_pformat(value)}" for marker, value in state.items())
        return f"State({items})"


def _from_dict(state: dict[object, Any]) -> "State":
    new = object.__new__(State)
    new._state = state
    return new


def _flatten_state(state: State) -> tuple[tuple[Any, ...], tuple[object, ...]]:
    live = state._live()
    return tuple(live.values()), tuple(live.keys())


def _flatten_state_with_keys(
    state: State,
) -> tuple[tuple[tuple[jtu.DictKey, Any], ...], tuple[object, ...]]:
    live = state._live()
    return tuple((jtu.DictKey(m), v) for m, v in live.items()), tuple(live.keys())


def _unflatten_state(markers: tuple[object, ...], values: Any) -> "State":
    return _from_dict(dict(zip(markers, values, strict=True)))


jtu.register_pytree_with_keys(
    State, _flatten_state_with_keys, _unflatten_state, flatten_func=_flatten_state
)


def check_state(state: Any, layer: str) -> None:
    """Raise a clear error when a stateful layer is called without a `State`.

    `Sequential` passes its own "no state given" sentinel on to stateful layers, so
    forgetting the state would otherwise fail deep inside with an `AttributeError`.
    """
    if not isinstance(state, State):
        got = "no state" if state is None or state is sentinel else type(state).__qualname__
        raise ValueError(
            f"`{layer}` is a stateful layer and must be called as "
            f"`out, state = layer(x, state)` with an `eqx.nn.State`, but got {got}. Build "
            "the model and its state with `model, state = eqx.nn.make_with_state(Model)(...)` "
            "and pass the state through every call (also through `Sequential`)."
        )


def delete_init_state(model: _Model) -> _Model:
    """Remove the initial values from every `StateIndex` in `model`.

    After a `State` has been built from a model, the initial values inside the model are
    duplicates of arrays the state holds; deleting them halves the memory they take and
    keeps them out of `filter`/`partition`, optimisers and checkpoints.

    Arguments:
        model: any PyTree.

    Returns:
        A copy of `model` whose `StateIndex.init` fields hold a leafless placeholder.

    Example:
        ```python
        model = Model(key=key)
        state = eqx.nn.State(model)
        model = eqx.nn.delete_init_state(model)
        ```
    """

    def delete(leaf: Any) -> Any:
        return _make_index(leaf.marker, _DELETED) if isinstance(leaf, StateIndex) else leaf

    out: _Model = jtu.tree_map(delete, model, is_leaf=_is_index)
    return out


def make_with_state(
    make_model: Callable[_P, _Model],
) -> Callable[_P, tuple[_Model, State]]:
    """Wrap a model constructor so that it returns `(model, state)`.

    The returned function builds the model, names each `StateIndex` after its position
    (`"Model.norm1.ema_state_index"`: the root's class name plus the key path), builds the
    `State`, and returns `(delete_init_state(model), state)`. It works under `jax.jit`
    and `eqx.filter_vmap` (for ensembles of stateful models).

    Arguments:
        make_model: a callable returning the model, typically the model class.

    Returns:
        A function with the same arguments as `make_model`, returning `(model, state)`.

    Example:
        ```python
        model, state = eqx.nn.make_with_state(eqx.nn.BatchNorm)(3, "batch", mode="batch")
        ```
    """

    def make_with_state_impl(*args: _P.args, **kwargs: _P.kwargs) -> tuple[_Model, State]:
        model = make_model(*args, **kwargs)
        prefix = type(model).__name__

        def rename(path: Any, leaf: Any) -> Any:
            if isinstance(leaf, StateIndex):
                return _make_index(prefix + jtu.keystr(path), leaf.init)
            return leaf

        model = jtu.tree_map_with_path(rename, model, is_leaf=_is_index)
        state = State(model)
        return delete_init_state(model), state

    return make_with_state_impl
