"""`debug.breakpoint_if`."""

from __future__ import annotations

from typing import Any

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import eqx_filter as ef


@pytest.fixture
def breakpoints(monkeypatch: pytest.MonkeyPatch) -> list[Any]:
    """Replace `jax.debug.breakpoint` by one that records, at run time, that it ran."""
    opened: list[Any] = []

    def fake_breakpoint(*, token: Any = None, **kwargs: Any) -> Any:
        jax.debug.callback(lambda: opened.append(kwargs))
        return token

    monkeypatch.setattr(jax.debug, "breakpoint", fake_breakpoint)
    return opened


def test_opens_only_when_pred_holds(breakpoints: list[Any]) -> None:
    f = jax.jit(lambda p: ef.debug.breakpoint_if(p, num_frames=2))
    assert f(jnp.array(False)) is None
    jax.effects_barrier()
    assert breakpoints == []
    f(jnp.array(True))
    jax.effects_barrier()
    assert breakpoints == [{"num_frames": 2}]


def test_any_element_across_vmap_opens_once(breakpoints: list[Any]) -> None:
    jax.jit(jax.vmap(ef.debug.breakpoint_if))(jnp.array([False, True, True]))
    jax.effects_barrier()
    assert len(breakpoints) == 1


def test_returns_the_token(breakpoints: list[Any]) -> None:
    token = jnp.arange(2.0)
    out = jax.jit(lambda p, t: ef.debug.breakpoint_if(p, token=t))(jnp.array(True), token)
    np.testing.assert_array_equal(out, token)
