"""Progress meters: report how far a compiled loop has got, from inside `jit`.

A meter is a Module with three methods, all usable inside `jit`, `scan`, `while_loop`
and `vmap`: `state = meter.init()`, `state = meter.step(state, progress)` with
`progress` in `[0, 1]`, and `meter.close(state)`. The state is a PyTree of arrays, so
it can be carried through a loop. Output happens through `jax.debug.callback`, when
the compiled program runs. Under `vmap` a meter reports the least advanced element.

They live in `eqx_filter` (not lower) because they reduce over `vmap` batches with the
same batching rules as `error_if`.
"""

from __future__ import annotations

import abc
import importlib
import itertools
import threading
from typing import Any, Generic, TypeVar

import jax
import jax.numpy as jnp
import numpy as np
from jax.experimental import io_callback
from jax.typing import ArrayLike

from eqx_module import Module, field

from ._compat import shape_dtype_struct
from ._unvmap import unvmap_max

__all__ = [
    "AbstractProgressMeter",
    "NoProgressMeter",
    "TextProgressMeter",
    "TqdmProgressMeter",
]

_State = TypeVar("_State")


def _least(x: ArrayLike) -> jax.Array:
    """The minimum over any enclosing `vmap` batch (the least advanced element)."""
    least: jax.Array = -unvmap_max(-jnp.asarray(x, jnp.float32))
    return least


class AbstractProgressMeter(Module, Generic[_State]):
    """The interface of a progress meter; subclass it to report progress your way.

    ```python
    meter = eqx.TextProgressMeter()
    state = meter.init()
    state = jax.lax.fori_loop(0, 10, lambda i, s: meter.step(s, (i + 1) / 10), state)
    meter.close(state)
    ```
    """

    @abc.abstractmethod
    def init(self) -> _State:
        """Start reporting; returns the meter's state (a PyTree of arrays)."""

    @abc.abstractmethod
    def step(self, state: _State, progress: ArrayLike) -> _State:
        """Report `progress` (a scalar in `[0, 1]`); returns the new state."""

    @abc.abstractmethod
    def close(self, state: _State) -> None:
        """Stop reporting (for example print 100% or close a bar)."""


class NoProgressMeter(AbstractProgressMeter[None]):
    """Reports nothing: the default where a progress meter is optional."""

    def init(self) -> None:
        return None

    def step(self, state: None, progress: ArrayLike) -> None:
        return None

    def close(self, state: None) -> None:
        return None


def _print_percent(progress: Any) -> None:
    print(f"{100 * float(np.asarray(progress)):.2f}%")


class TextProgressMeter(AbstractProgressMeter[jax.Array]):
    """Prints the progress as a percentage, one line each time it has grown enough.

    Arguments:
        minimum_increase: the least increase of `progress` (in `[0, 1]`) since the last
            printed value for a new line to be printed; 0.02 prints at most ~50 lines.

    Raises:
        ValueError: `minimum_increase` outside `[0, 1]`.

    Example:
        >>> meter = TextProgressMeter(minimum_increase=0.5)
        >>> state = meter.init()  # prints 0.00%
        >>> state = meter.step(state, 0.6)  # prints 60.00%
        >>> meter.close(state)  # prints 100.00%
    """

    minimum_increase: float = field(static=True, default=0.02)

    def __check_init__(self) -> None:
        if not 0 <= self.minimum_increase <= 1:
            raise ValueError(
                "`minimum_increase` must be in [0, 1] (a fraction of the whole run); got "
                f"{self.minimum_increase!r}."
            )

    def init(self) -> jax.Array:
        jax.debug.callback(_print_percent, np.float32(0), ordered=True)
        return jnp.zeros((), jnp.float32)

    def step(self, state: jax.Array, progress: ArrayLike) -> jax.Array:
        progress = _least(progress)
        last = _least(state)

        def show(value: jax.Array) -> jax.Array:
            jax.debug.callback(_print_percent, value, ordered=True)
            return value

        def skip(value: jax.Array) -> jax.Array:
            return last

        shown: jax.Array = jax.lax.cond(
            progress - last >= self.minimum_increase, show, skip, progress
        )
        return shown

    def close(self, state: jax.Array) -> None:
        jax.debug.callback(_print_percent, np.float32(1), ordered=True)


# Host-side tqdm bars of the running programs, by the id their state carries.
_bars: dict[int, Any] = {}
_bar_ids = itertools.count()
_bars_lock = threading.Lock()


def _import_tqdm() -> Any:
    try:
        return importlib.import_module("tqdm.auto")
    except ImportError:
        raise ImportError(
            "`TqdmProgressMeter` needs the tqdm package, which is optional: install it "
            "with `pip install tqdm` (or `pip install eqx-filter[tqdm]`), or use "
            "`TextProgressMeter`."
        ) from None


def _open_bar() -> np.ndarray:
    bar = _import_tqdm().tqdm(
        total=100, unit="%", bar_format="{l_bar}{bar}| [{elapsed}<{remaining}]"
    )
    with _bars_lock:
        bar_id = next(_bar_ids)
        _bars[bar_id] = bar
    return np.array(bar_id, np.int32)


def _update_bar(bar_id: Any, progress: Any) -> None:
    bar = _bars.get(int(np.asarray(bar_id)))
    if bar is not None:
        bar.n = round(100 * float(np.asarray(progress)), 2)
        bar.refresh()


def _close_bar(bar_id: Any) -> None:
    with _bars_lock:
        bar = _bars.pop(int(np.asarray(bar_id)), None)
    if bar is not None:
        bar.n = 100
        bar.refresh()
        bar.close()


class TqdmProgressMeter(AbstractProgressMeter[tuple[jax.Array, jax.Array]]):
    """A tqdm progress bar (tqdm is optional: imported only when a bar is made).

    Arguments:
        refresh_steps: the bar is redrawn every `refresh_steps` calls to `step`
            (each redraw is a callback to Python, so not every step).

    Raises:
        ValueError: `refresh_steps` is not a positive int.
        ImportError: (at `init`) tqdm is not installed.

    Example:
        ```python
        meter = eqx.TqdmProgressMeter(refresh_steps=10)
        state = meter.init()
        state = jax.lax.fori_loop(0, 100, lambda i, s: meter.step(s, (i + 1) / 100), state)
        meter.close(state)
        ```
    """

    refresh_steps: int = field(static=True, default=20)

    def __check_init__(self) -> None:
        if (
            not isinstance(self.refresh_steps, (int, np.integer))
            or isinstance(self.refresh_steps, bool)
            or self.refresh_steps < 1
        ):
            raise ValueError(f"`refresh_steps` must be a positive int; got {self.refresh_steps!r}.")

    def init(self) -> tuple[jax.Array, jax.Array]:
        _import_tqdm()  # fail here, at trace time, if tqdm is missing
        bar_id = io_callback(_open_bar, shape_dtype_struct((), jnp.int32), ordered=True)
        return bar_id, jnp.zeros((), jnp.int32)

    def step(
        self, state: tuple[jax.Array, jax.Array], progress: ArrayLike
    ) -> tuple[jax.Array, jax.Array]:
        bar_id, count = state
        bar_id = unvmap_max(bar_id)
        count = unvmap_max(count) + 1
        progress = _least(progress)

        def redraw(args: tuple[jax.Array, jax.Array]) -> None:
            jax.debug.callback(_update_bar, *args, ordered=True)

        def skip(args: tuple[jax.Array, jax.Array]) -> None:
            return None

        jax.lax.cond(count % self.refresh_steps == 0, redraw, skip, (bar_id, progress))
        return bar_id, count

    def close(self, state: tuple[jax.Array, jax.Array]) -> None:
        jax.debug.callback(_close_bar, unvmap_max(state[0]), ordered=True)
