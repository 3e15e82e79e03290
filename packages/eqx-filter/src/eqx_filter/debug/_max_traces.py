"""`assert_max_traces` and `get_num_traces`: count (and cap) how often a function traces."""

from __future__ import annotations

import collections
import functools
import textwrap
from collections.abc import Callable, Sequence
from typing import Any

import jax.tree_util as jtu

from eqx_module import Module, field, module_update_wrapper
from eqx_tree import is_array, tree_pformat
from eqx_tree.internal import sentinel

from .._compat import aval_weak_type, shape_dtype_struct
from .._retrace import explain_signature_change, parameter_names
from .._wrapper import TransformWrapper

__all__ = ["assert_max_traces", "get_num_traces"]


_KEPT_SIGNATURES = 64


class _TraceCounter:
    """Shared by every flatten/unflatten clone of one wrapper (held as a static field)."""

    __slots__ = ("__weakref__", "count", "signatures")

    def __init__(self) -> None:
        self.count = 0
        # Bounded: a counter of an eager function (`max_traces=None`) may see many calls.
        self.signatures: collections.deque[tuple[tuple[Any, ...], dict[str, Any]]] = (
            collections.deque(maxlen=_KEPT_SIGNATURES)
        )

    def __repr__(self) -> str:
        return f"<trace counter: {self.count}>"


def _abstract(x: Any) -> Any:
    if is_array(x):
        return shape_dtype_struct(x.shape, x.dtype, weak_type=aval_weak_type(x))
    return x


def _signature(
    fn: Callable[..., Any], args: tuple[Any, ...], kwargs: dict[str, Any]
) -> tuple[tuple[Any, ...], dict[str, Any]]:
    # The call as it was made (`filter_jit` passes keywords on as keywords), so that a
    # change reads `kwargs['n']: ...` for an argument given by keyword and `n: ...` for
    # one given by position.
    abstract: tuple[tuple[Any, ...], dict[str, Any]] = jtu.tree_map(_abstract, (args, kwargs))
    return abstract


def _indent(text: str) -> str:
    return textwrap.indent(text, "  ")


def _argument_label(group: int, key: Any, names: list[str]) -> str:
    if group == 0:
        return f"argument `{names[key]}`" if key < len(names) else f"positional argument {key}"
    return f"keyword argument `{key}`"


def _explain_new_trace(
    fn: Callable[..., Any],
    new: tuple[tuple[Any, ...], dict[str, Any]],
    earlier: Sequence[tuple[tuple[Any, ...], dict[str, Any]]],
) -> str:
    names = parameter_names(fn)
    new_args, new_kwargs = new
    lines = []
    arguments = [(0, i, a) for i, a in enumerate(new_args)] + [
        (1, k, v) for k, v in new_kwargs.items()
    ]
    for group, key, value in arguments:
        previous = []
        for old_args, old_kwargs in earlier:
            if isinstance(key, int):
                previous.append(old_args[key] if key < len(old_args) else sentinel)
            else:
                previous.append(old_kwargs.get(key, sentinel))
        if any(
            p is not sentinel and not explain_signature_change(((p,), {}), ((value,), {}))
            for p in previous
        ):
            continue
        last = previous[-1] if previous else sentinel
        shown_last = "(absent)" if last is sentinel else tree_pformat(last)
        lines.append(
            f"The {_argument_label(group, key, names)} has a structure that matches "
            f"no earlier call. It is now\n{_indent(tree_pformat(value))}\nand in the last "
            f"trace was\n{_indent(shown_last)}"
        )
    if not lines:
        lines.append(
            "No argument could be identified whose structure (as `filter_eval_shape` sees "
            "it) differs from every earlier call."
        )
    if earlier:
        changes = explain_signature_change(earlier[-1], new, names)
        if changes:
            lines.append("Compared with the last trace:\n" + "\n".join(f"  {c}" for c in changes))
    return "\n".join(lines)


class _AssertMaxTraces(TransformWrapper):
    _fn: Callable[..., Any]
    _max_traces: int | None = field(static=True)
    _counter: _TraceCounter = field(static=True)

    @property
    def __wrapped__(self) -> Callable[..., Any]:
        return self._fn

    def __call__(self, /, *args: Any, **kwargs: Any) -> Any:
        counter = self._counter
        counter.count += 1
        if self._max_traces is None:  # only counting: nothing will ever be explained
            return self._fn(*args, **kwargs)
        signature = _signature(self._fn, args, kwargs)
        if counter.count > self._max_traces:
            name = getattr(self._fn, "__qualname__", None) or type(self._fn).__name__
            explanation = _explain_new_trace(self._fn, signature, counter.signatures)
            counter.signatures.append(signature)  # the next call compares with this one
            raise RuntimeError(
                f"`{name}` can only be traced {self._max_traces} times. However, it has now "
                f"been traced {counter.count} times (this is the call over the limit set by "
                f"`eqx.debug.assert_max_traces`).\n{explanation}"
            )
        counter.signatures.append(signature)
        return self._fn(*args, **kwargs)


def assert_max_traces(fn: Any = sentinel, *, max_traces: int | None) -> Any:
    """Wrap `fn` so that it raises once it is called (traced) more than `max_traces` times.

    Put it inside a JIT, `filter_jit(assert_max_traces(f, max_traces=1))`, to count
    traces: the wrapper only runs when `f` is traced. The count is shared by every
    flatten/unflatten clone of the wrapper.

    **Arguments:**

    - `fn`: the function; omit it to use `@assert_max_traces(max_traces=...)`.
    - `max_traces`: the most calls allowed, or `None` to only count them.

    **Returns:** a Module wrapping `fn` (see `get_num_traces`).

    **Raises** (when called): `RuntimeError` «can only be traced {max_traces} times»,
    naming the argument whose structure matches no earlier call, with both structures,
    and the path-by-path difference from the last trace.

    ```python
    @eqx.filter_jit
    @eqx.debug.assert_max_traces(max_traces=1)
    def f(x):
        return x + 1
    ```
    """
    if fn is sentinel:
        return functools.partial(assert_max_traces, max_traces=max_traces)
    if max_traces is not None and (isinstance(max_traces, bool) or not isinstance(max_traces, int)):
        raise TypeError(f"`max_traces` must be an int or None; got {max_traces!r}.")
    wrapper: Module = _AssertMaxTraces(fn, max_traces, _TraceCounter())
    return module_update_wrapper(wrapper)


def get_num_traces(fn: Any) -> int:
    """How many times the `assert_max_traces` wrapper inside `fn` has been called.

    Follows the `__wrapped__` chain (and `functools.partial` / `jtu.Partial`), so
    `get_num_traces(filter_jit(assert_max_traces(f, max_traces=None)))` works.

    **Raises:** `ValueError` if there is no `assert_max_traces` wrapper in the chain.
    """
    current = fn
    seen: set[int] = set()
    while current is not None and id(current) not in seen:
        seen.add(id(current))
        if isinstance(current, _AssertMaxTraces):
            return current._counter.count
        if isinstance(current, (functools.partial, jtu.Partial)):
            current = current.func
            continue
        current = getattr(current, "__wrapped__", None)
    raise ValueError(
        f"`get_num_traces` found no `eqx.debug.assert_max_traces` wrapper in {fn!r} (it "
        "follows `__wrapped__`). Wrap the function: `assert_max_traces(f, max_traces=None)`."
    )
