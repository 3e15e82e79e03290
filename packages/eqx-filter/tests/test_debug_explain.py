"""`debug.explain_retraces`: why a `filter_jit` function traced again."""

from __future__ import annotations

from typing import Any

import jax
import jax.numpy as jnp
import pytest

import eqx_filter as ef
from eqx_module import Module, field


def relu(x: Any) -> Any:
    return x


def gelu(x: Any) -> Any:
    return x


class Activation(Module):
    activation: Any = field(static=True)


class MLP(Module):
    layers: list[Activation]


def mlp(last: Any) -> MLP:
    return MLP([Activation(relu), Activation(relu), Activation(last)])


def apply(model: MLP, x: jax.Array, *, n: int) -> jax.Array:
    for layer in model.layers:
        x = layer.activation(x)
    return x * n


# The three kinds of change the issue names, one retrace each.
CALLS = [
    (mlp(relu), (3, 4), 3),
    (mlp(gelu), (3, 4), 3),
    (mlp(gelu), (5, 4), 3),
    (mlp(gelu), (5, 4), 4),
]
EXPECTED = [
    "args[0].layers[2].activation: static value changed (<function relu> -> <function gelu>) "
    "(that is, model.layers[2].activation)",
    "x: shape changed (3, 4) -> (5, 4) (f32[3,4]\u2192f32[5,4])",
    "kwargs['n']: Python int 3 -> 4 (Python numbers are static; pass a jnp array to avoid "
    "retracing)",
]


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
    assert "args[0]['layers'][1]['activation']: static value changed (<function " in explanation
    assert explanation.endswith("(that is, params['layers'][1]['activation'])")
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


def test_explain_retraces_gives_the_issue_forms_of_message() -> None:
    f = ef.filter_jit(apply)
    for model, shape, n in CALLS:
        f(model, jnp.ones(shape), n=n)
    explanations = ef.debug.explain_retraces(f, announce=None)
    assert explanations == [
        f"Trace {i + 2} of `apply` (retrace {i + 1}):\n  {line}" for i, line in enumerate(EXPECTED)
    ]


def test_assert_max_traces_gives_the_issue_forms_of_message() -> None:
    f = ef.filter_jit(ef.debug.assert_max_traces(apply, max_traces=1))
    model, shape, n = CALLS[0]
    f(model, jnp.ones(shape), n=n)
    for (model, shape, n), line in zip(CALLS[1:], EXPECTED, strict=True):
        with pytest.raises(RuntimeError, match="can only be traced 1 times") as info:
            f(model, jnp.ones(shape), n=n)
        assert f"Compared with the last trace:\n  {line}" in str(info.value)


def test_an_argument_passed_by_keyword_is_named_as_a_keyword_argument() -> None:
    # `filter_jit` binds `n=3` to the parameter `n` for its cache, but a retrace reads
    # the call as it was made.
    received: list[dict[str, Any]] = []

    def scale(x: jax.Array, n: int) -> jax.Array:
        received.append({"n": n})
        return x * n

    f = ef.filter_jit(scale)
    f(jnp.ones(3), n=3)
    f(jnp.ones(3), 3)  # the same call by position: a cache hit, no trace
    f(jnp.ones(3), n=4)
    (explanation,) = ef.debug.explain_retraces(f, announce=None)
    assert explanation.endswith(
        "  kwargs['n']: Python int 3 -> 4 (Python numbers are static; pass a jnp array to "
        "avoid retracing)"
    )
    assert received == [{"n": 3}, {"n": 4}]
