"""`debug.check_finite`: the first NaN/inf names its exact leaf path, pass and batch index.

Each scenario injects a non-finite value at one chosen place (a parameter read in the
forward pass, the loss, or a gradient only: `sqrt` at 0 is finite, its derivative is
not) and runs it under `filter_jit`, `vmap`, `grad`, `lax.scan` and `filter_checkpoint`.
"""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from collections.abc import Callable
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import eqx_filter as ef
from eqx_filter.debug import check_finite
from eqx_module import Module, field
from eqx_tree import tree_at


class Layer(Module):
    weight: jax.Array
    bias: jax.Array


class Net(Module):
    layers: list[Layer]
    scale: float = 1.0  # a non-array leaf: ignored by the check
    steps: jax.Array = field(default_factory=lambda: jnp.array(0))  # int: skipped

    def __call__(self, x: jax.Array) -> jax.Array:
        for layer in self.layers:
            x = jnp.tanh(layer.weight @ x + layer.bias)
        return self.scale * x


def make_net() -> Net:
    return Net(
        [
            Layer(jnp.full((3, 2), 0.5), jnp.ones(3)),
            Layer(jnp.full((2, 3), 0.25), jnp.full(2, 4.0)),
        ]
    )


def failure_message(info: pytest.ExceptionInfo[BaseException]) -> str:
    """The check's own message: the line `filter_jit` shows as `eqx.EqxRuntimeError: ...`."""
    assert info.type is ef.EqxRuntimeError
    text = str(info.value)
    marker = "eqx.EqxRuntimeError: "
    assert marker in text
    return text.split(marker, 1)[1].split("\n", 1)[0]


# --- the three injection sites -------------------------------------------------------


def forward_loss(model: Net, x: jax.Array) -> jax.Array:
    model = check_finite(model, "model")
    return jnp.sum(model(x) ** 2)


def loss_loss(model: Net, x: jax.Array) -> jax.Array:
    model = check_finite(model, "model")
    # The clean net's outputs sum to about 2; with NEGATIVE_OUTPUT's finite parameters,
    # to about -2: then this is the log of a negative number, NaN in the loss only.
    loss = jnp.log(jnp.sum(model(x)) + 1.5)
    return check_finite(loss, "loss")


def gradient_loss(model: Net, x: jax.Array) -> jax.Array:
    model = check_finite(model, "model")
    # sqrt is finite at 0, its derivative is not: only the backward pass sees it.
    return jnp.sum(model(x)) + jnp.sum(jnp.sqrt(model.layers[1].bias))


NAN_AT_WEIGHT = tree_at(
    lambda m: m.layers[1].weight, make_net(), jnp.full((2, 3), 0.25).at[1, 2].set(jnp.nan)
)
ZERO_BIAS = tree_at(lambda m: m.layers[1].bias, make_net(), jnp.array([1.0, 0.0]))
NEGATIVE_OUTPUT = tree_at(lambda m: m.layers[1].bias, make_net(), jnp.full(2, -4.0))

SCENARIOS = {
    "forward": (forward_loss, NAN_AT_WEIGHT, "model.layers[1].weight", "forward pass"),
    "loss": (loss_loss, NEGATIVE_OUTPUT, "loss", "forward pass"),
    "gradient": (gradient_loss, ZERO_BIAS, "model.layers[1].bias", "backward pass"),
}


def _grad_of(loss: Callable[..., Any]) -> Callable[..., Any]:
    return ef.filter_grad(loss)


def _target(loss: Callable[..., Any]) -> Callable[..., Any]:
    # The forward and loss scenarios fail computing the loss; the gradient one needs `grad`.
    return _grad_of(loss) if loss is gradient_loss else loss


def run_jit(loss: Callable[..., Any], model: Net, x: jax.Array) -> Any:
    return ef.filter_jit(_target(loss))(model, x)


def run_grad(loss: Callable[..., Any], model: Net, x: jax.Array) -> Any:
    return ef.filter_grad(loss)(model, x)  # eagerly: no jit around it


def run_vmap(loss: Callable[..., Any], model: Net, x: jax.Array) -> Any:
    # An ensemble of three models; only member 2 carries the injected value.
    clean = make_net()
    ensemble = jax.tree.map(
        lambda a, b, c: jnp.stack([a, b, c]) if ef.is_array(a) else a, clean, clean, model
    )
    return ef.filter_jit(ef.filter_vmap(_target(loss), in_axes=(ef.if_array(0), None)))(ensemble, x)


def run_scan(loss: Callable[..., Any], model: Net, x: jax.Array) -> Any:
    def body(carry: jax.Array, _: None) -> tuple[jax.Array, None]:
        out = _target(loss)(model, x)
        return carry + sum(jnp.sum(leaf) for leaf in jax.tree.leaves(out)), None

    return ef.filter_jit(lambda: jax.lax.scan(body, jnp.array(0.0), None, length=3))()


def run_checkpoint(loss: Callable[..., Any], model: Net, x: jax.Array) -> Any:
    return ef.filter_jit(_target_checkpointed(loss))(model, x)


def _target_checkpointed(loss: Callable[..., Any]) -> Callable[..., Any]:
    checkpointed = ef.filter_checkpoint(loss)
    return _grad_of(checkpointed) if loss is gradient_loss else checkpointed


RUNNERS = {
    "jit": run_jit,
    "grad": run_grad,
    "vmap": run_vmap,
    "scan": run_scan,
    "checkpoint": run_checkpoint,
}


@pytest.mark.parametrize("runner", sorted(RUNNERS))
@pytest.mark.parametrize("scenario", sorted(SCENARIOS))
def test_the_error_names_exactly_the_injected_path_and_pass(scenario: str, runner: str) -> None:
    loss, model, path, which = SCENARIOS[scenario]
    x = jnp.array([1.0, -1.0])
    with pytest.raises(ef.EqxRuntimeError) as info:
        RUNNERS[runner](loss, model, x)
    where = " at batch index 2" if runner == "vmap" else ""
    assert failure_message(info) == f"non-finite value in `{path}`{where} ({which})"


@pytest.mark.parametrize("runner", sorted(RUNNERS))
@pytest.mark.parametrize("scenario", sorted(SCENARIOS))
def test_a_clean_model_passes_and_the_values_are_plain_jax(scenario: str, runner: str) -> None:
    loss, _, _, _ = SCENARIOS[scenario]
    model = make_net()
    x = jnp.array([1.0, -1.0])
    RUNNERS[runner](loss, model, x)  # no error
    got = ef.filter_jit(_grad_of(loss))(model, x)
    plain = ef.filter_jit(ef.filter_grad(_without_checks(loss)))(model, x)
    # The net saturates tanh (gradients ~1e-4), where 1 - tanh(x)**2 magnifies the
    # last-bit differences of tanh in differently fused programs (seen on JAX 0.4.38).
    assert jax.tree.all(jax.tree.map(lambda a, b: np.allclose(a, b, rtol=1e-3), got, plain))


def _without_checks(loss: Callable[..., Any]) -> Callable[..., Any]:
    def plain(model: Net, x: jax.Array) -> jax.Array:
        import eqx_filter.debug._check_finite as module

        original = module.EQX_CHECK_FINITE
        module.EQX_CHECK_FINITE = False
        try:
            return loss(model, x)
        finally:
            module.EQX_CHECK_FINITE = original

    return plain


# --- which leaf, which batch element -------------------------------------------------


def test_the_first_bad_leaf_in_flatten_order_is_named() -> None:
    tree = {"a": jnp.ones(2), "b": jnp.array([jnp.inf]), "c": jnp.array([jnp.nan])}
    with pytest.raises(ef.EqxRuntimeError) as info:
        ef.filter_jit(check_finite)(tree)
    assert failure_message(info) == "non-finite value in `['b']` (forward pass)"


def test_under_vmap_the_first_bad_leaf_wins_then_the_first_batch_index() -> None:
    a = jnp.ones((5, 2)).at[3, 0].set(jnp.nan).at[4, 1].set(jnp.nan)
    b = jnp.ones((5, 2)).at[0, 0].set(jnp.inf)  # an earlier batch index, but a later leaf
    f = ef.filter_jit(jax.vmap(lambda a, b: check_finite((a, b), "pair")))
    with pytest.raises(ef.EqxRuntimeError) as info:
        f(a, b)
    assert failure_message(info) == "non-finite value in `pair[0]` at batch index 3 (forward pass)"


def test_nested_vmaps_report_one_index_per_vmap_outermost_first() -> None:
    x = jnp.ones((2, 4, 3)).at[1, 2, 0].set(jnp.inf)
    f = ef.filter_jit(jax.vmap(jax.vmap(lambda r: check_finite(r, "x"))))
    with pytest.raises(ef.EqxRuntimeError) as info:
        f(x)
    assert failure_message(info) == "non-finite value in `x` at batch index (1, 2) (forward pass)"


def test_vmap_over_the_second_axis_reports_that_axis_index() -> None:
    x = jnp.ones((3, 6)).at[0, 4].set(jnp.nan)
    f = ef.filter_jit(jax.vmap(lambda c: check_finite(c, "column"), in_axes=1))
    with pytest.raises(ef.EqxRuntimeError) as info:
        f(x)
    assert failure_message(info) == "non-finite value in `column` at batch index 4 (forward pass)"


def test_a_gradient_only_nan_under_vmap_of_grad_names_the_batch_element() -> None:
    def loss(w: jax.Array) -> jax.Array:
        return jnp.sqrt(check_finite(w, "w")).sum()

    w = jnp.array([[1.0, 2.0], [3.0, 4.0], [5.0, 0.0]])
    with pytest.raises(ef.EqxRuntimeError) as info:
        ef.filter_jit(jax.vmap(jax.grad(loss)))(w)
    assert failure_message(info) == "non-finite value in `w` at batch index 2 (backward pass)"


def test_backward_false_leaves_the_cotangents_unchecked() -> None:
    def loss(w: jax.Array) -> jax.Array:
        return jnp.sqrt(check_finite(w, "w", backward=False)).sum()

    grads = ef.filter_jit(jax.grad(loss))(jnp.array([0.0, 4.0]))
    np.testing.assert_array_equal(grads, np.array([np.inf, 0.25], np.float32))


def test_eagerly_a_failure_raises_at_the_call() -> None:
    with pytest.raises(ef.EqxRuntimeError) as info:
        check_finite({"w": jnp.array([1.0, jnp.nan])})
    assert failure_message(info) == "non-finite value in `['w']` (forward pass)"


def test_an_array_without_a_name_is_the_checked_value() -> None:
    with pytest.raises(ef.EqxRuntimeError) as info:
        ef.filter_jit(check_finite)(jnp.array(jnp.inf))
    assert failure_message(info) == "non-finite value in `the checked value` (forward pass)"


# --- what is checked, what is not ----------------------------------------------------


def test_non_array_leaves_and_integer_arrays_pass_through_unchecked() -> None:
    tree = {"n": float("nan"), "s": "relu", "i": jnp.arange(3), "f": jnp.ones(2)}
    out = ef.filter_jit(check_finite)(tree)
    assert np.isnan(out["n"]) and out["s"] == "relu"
    np.testing.assert_array_equal(out["i"], np.arange(3))
    np.testing.assert_array_equal(out["f"], np.ones(2))


def test_a_tree_without_inexact_arrays_is_returned_as_is() -> None:
    tree = {"i": jnp.arange(3), "s": "x"}
    assert check_finite(tree) is tree


def test_the_output_is_the_input() -> None:
    model = make_net()
    out = ef.filter_jit(check_finite)(model, "model")
    assert jax.tree.structure(out) == jax.tree.structure(model)
    assert jax.tree.all(jax.tree.map(lambda a, b: bool(jnp.array_equal(a, b)), out, model))


def test_the_messages_are_built_on_demand_in_reverse_order() -> None:
    from eqx_filter.debug._check_finite import _FiniteMessages

    table = _FiniteMessages(("a", "b"), (2, 3), "forward pass")
    assert len(table) == 12
    # Index 11 is the first (leaf, batch index) pair: the largest index names it.
    assert table[11] == "non-finite value in `a` at batch index (0, 0) (forward pass)"
    assert table[0] == "non-finite value in `b` at batch index (1, 2) (forward pass)"
    assert table[-1] == table[11]
    with pytest.raises(IndexError):
        table[12]


# --- disabled: nothing staged; bad configuration -------------------------------------


def _run(code: str, **env: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-c", textwrap.dedent(code)],
        env={**os.environ, **env},
        capture_output=True,
        text=True,
        timeout=120,
    )


_JAXPRS = """
    import jax, jax.numpy as jnp
    from eqx_filter.debug import check_finite

    def checked(w, x):
        w = check_finite(w, "w")
        return jnp.sum(jnp.sqrt(check_finite(w * x, "y")))

    def plain(w, x):
        return jnp.sum(jnp.sqrt(w * x))

    args = (jnp.ones(3), jnp.ones(3))
    for f in (checked, plain):
        print(jax.make_jaxpr(jax.vmap(jax.grad(f), in_axes=(None, 0)))(args[0], jnp.ones((2, 3))))
        print("====")
"""


@pytest.mark.parametrize("env", [{"EQX_CHECK_FINITE": "0"}, {"EQX_ON_ERROR": "off"}])
def test_disabled_the_jaxpr_equals_the_one_without_checks(env: dict[str, str]) -> None:
    result = _run(_JAXPRS, **env)
    assert result.returncode == 0, result.stderr
    checked, plain, _ = result.stdout.split("====\n")
    assert checked == plain


def test_enabled_the_jaxpr_differs_so_the_equality_test_can_fail() -> None:
    result = _run(_JAXPRS, EQX_CHECK_FINITE="1")
    assert result.returncode == 0, result.stderr
    checked, plain, _ = result.stdout.split("====\n")
    assert checked != plain
    assert "pure_callback" in checked


def test_an_unknown_environment_value_lists_the_valid_ones() -> None:
    # Read when `check_finite` is first imported (`eqx_filter.debug` loads on first use).
    result = _run("from eqx_filter.debug import check_finite", EQX_CHECK_FINITE="yes")
    assert result.returncode != 0
    assert "ValueError: Unrecognised value EQX_CHECK_FINITE='yes'" in result.stderr
    assert "must be one of 0, 1" in result.stderr


def test_on_error_nan_returns_nans_instead_of_raising() -> None:
    code = """
        import jax.numpy as jnp
        import eqx_filter as ef
        from eqx_filter.debug import check_finite
        out = ef.filter_jit(check_finite)({"a": jnp.ones(2), "b": jnp.array([1.0, jnp.inf])})
        print(out["a"].tolist(), out["b"].tolist())
    """
    result = _run(code, EQX_ON_ERROR="nan")
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "[nan, nan] [nan, nan]"
