"""`debug.explain_retraces`: why a `filter_jit` function traced again (spec §8.1)."""

from __future__ import annotations

from typing import Any

import jax
import jax.numpy as jnp
import pytest

import eqx_filter as ef


def test_each_retrace_is_explained_by_path(capsys: pytest.CaptureFixture[str]) -> None:
    def scale(x: jax.Array, n: int) -> jax.Array:
        return x * n

    f = ef.filter_jit(scale)
    f(jnp.ones(3), 2)
    f(jnp.ones(3), 2)  # cache hit: nothing recorded
    f(jnp.ones((3, 4)), 2)
    f(jnp.ones((3, 4)), 3)
    explanations = ef.debug.explain_retraces(f)
    assert len(explanations) == 2
    assert "x: shape changed (3,) -> (3, 4)" in explanations[0]
    assert "n: Python int 2 -> 3 (Python numbers are static" in explanations[1]
    assert capsys.readouterr().out.strip() == "\n".join(explanations)


def test_static_function_change_deep_in_a_pytree() -> None:
    def a(x: Any) -> Any:
        return x

    def b(x: Any) -> Any:
        return 2 * x

    def apply(params: dict[str, Any], x: jax.Array) -> jax.Array:
        out: jax.Array = params["layers"][1]["activation"](x)
        return out

    f = ef.filter_jit(apply)
    f({"layers": [{"activation": a}, {"activation": a}]}, jnp.ones(2))
    f({"layers": [{"activation": a}, {"activation": b}]}, jnp.ones(2))
    (explanation,) = ef.debug.explain_retraces(f, announce=None)
    assert "params['layers'][1]['activation']: static value changed (<function " in explanation
    assert ".a> -> <function " in explanation and ".b>)" in explanation


def test_dtype_weak_type_and_treedef_changes() -> None:
    def g(x: Any, *, opts: Any) -> Any:
        return x

    f = ef.filter_jit(g)
    f(jnp.ones(2), opts={"a": 1})
    f(jnp.ones(2, jnp.int32), opts={"a": 1})
    f(jnp.ones(2, jnp.int32), opts={"b": 1})
    first, second = ef.debug.explain_retraces(f, announce=None)
    assert "x: dtype changed float32 -> int32" in first
    assert "kwargs['opts']: treedef changed" in second


def test_no_retrace_no_explanation() -> None:
    f = ef.filter_jit(lambda x: x)
    f(jnp.ones(1))
    assert ef.debug.explain_retraces(f, announce=None) == []
