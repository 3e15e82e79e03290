"""`error_if` / `branched_error_if` and how failures surface under each `EQX_ON_ERROR` mode."""

from __future__ import annotations

import logging
import os
import subprocess
import sys

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import eqx_filter as ef
from eqx_tree import EqxWarning


def test_error_classes_have_equinox_aliases_that_are_the_same_objects() -> None:
    assert ef.EquinoxRuntimeError is ef.EqxRuntimeError
    assert ef.EquinoxTracetimeError is ef.EqxTracetimeError
    assert issubclass(ef.EqxRuntimeError, RuntimeError)
    assert issubclass(ef.EqxTracetimeError, RuntimeError)


def test_error_if_returns_x_unchanged_when_pred_is_false_under_filter_jit() -> None:
    @ef.filter_jit
    def f(x: jax.Array) -> jax.Array:
        return ef.error_if(x, x > 10, "too big") * 2

    np.testing.assert_array_equal(f(jnp.arange(3.0)), np.array([0.0, 2.0, 4.0]))


def test_failed_check_under_filter_jit_raises_eqx_runtime_error_from_none() -> None:
    @ef.filter_jit
    def f(x: jax.Array) -> jax.Array:
        return ef.error_if(x, x > 1, "x is too big")

    with pytest.raises(ef.EqxRuntimeError) as info:
        f(jnp.arange(3.0))
    assert info.value.__cause__ is None
    assert info.value.__suppress_context__
    text = str(info.value)
    assert text.startswith("Above is the stack outside of JIT")
    assert "eqx.EqxRuntimeError: x is too big" in text
    assert "EQX_ON_ERROR" in text and "breakpoint" in text and "JAX_DISABLE_JIT=1" in text
    # The in-JIT stack goes down to the line of the check in this file.
    assert "test_error_if.py" in text and 'ef.error_if(x, x > 1, "x is too big")' in text


def test_failure_after_successful_calls_is_still_an_eqx_runtime_error() -> None:
    @ef.filter_jit
    def f(x: jax.Array) -> jax.Array:
        return ef.error_if(x, x < 0, "negative")

    f(jnp.float32(1.0))
    f(jnp.float32(2.0))
    with pytest.raises(ef.EqxRuntimeError, match="negative"):
        f(jnp.float32(-1.0))


def test_failed_check_logs_nothing_under_filter_jit(caplog: pytest.LogCaptureFixture) -> None:
    @ef.filter_jit
    def f(x: jax.Array) -> jax.Array:
        return ef.error_if(x, x > 0, "positive")

    with caplog.at_level(logging.DEBUG):
        with pytest.raises(ef.EqxRuntimeError):
            f(jnp.float32(1.0))
    assert [r for r in caplog.records if "callback failed" in r.getMessage()] == []
    assert [r for r in caplog.records if r.levelno >= logging.WARNING] == []
    # ... and the filter was removed afterwards (no global logging configuration).
    for name in ("jax._src.callback",):
        assert logging.getLogger(name).filters == []


@pytest.mark.parametrize("inner_called_first", [False, True])
def test_a_failed_check_in_nested_filter_jits_logs_nothing_and_reads_like_one(
    caplog: pytest.LogCaptureFixture, inner_called_first: bool
) -> None:
    @ef.filter_jit
    def inner(x: jax.Array) -> jax.Array:
        return ef.error_if(x, x < 0, "x went negative")

    @ef.filter_jit
    def outer(x: jax.Array) -> jax.Array:
        return inner(x) * 2

    if inner_called_first:  # then the outer trace reuses the inner entry
        np.testing.assert_array_equal(inner(jnp.ones(2)), np.ones(2))
    np.testing.assert_array_equal(outer(jnp.ones(2)), np.full(2, 2.0))
    for _ in range(2):  # the first failing call of the outer entry, and a later one
        with caplog.at_level(logging.DEBUG), pytest.raises(ef.EqxRuntimeError) as info:
            outer(-jnp.ones(2))
        assert info.value.__cause__ is None
        text = str(info.value)
        assert text.startswith("Above is the stack outside of JIT")
        message = text.index("eqx.EqxRuntimeError: x went negative")
        assert text.index("EQX_ON_ERROR") > message
    assert [r for r in caplog.records if "callback failed" in r.getMessage()] == []
    assert [r for r in caplog.records if r.levelno >= logging.WARNING] == []
    assert logging.getLogger("jax._src.callback").filters == []


def test_user_callback_errors_keep_their_own_text_without_tips() -> None:
    def callback(x: np.ndarray) -> np.ndarray:
        raise ValueError("user callback exploded")

    @ef.filter_jit
    def f(x: jax.Array) -> jax.Array:
        x = ef.error_if(x, x > 100, "unrelated")
        return jax.pure_callback(callback, jax.ShapeDtypeStruct((), jnp.float32), x)

    with pytest.raises(Exception, match="user callback exploded") as info:
        f(jnp.float32(1.0))
    assert not isinstance(info.value, ef.EqxRuntimeError)
    assert "EQX_ON_ERROR" not in str(info.value)


def test_eager_failure_with_array_pred_is_an_eqx_runtime_error() -> None:
    with pytest.raises(ef.EqxRuntimeError, match="eager failure"):
        ef.error_if(jnp.arange(3.0), jnp.arange(3.0) > 1, "eager failure")


def test_eager_check_that_passes_returns_the_values() -> None:
    out = ef.error_if(jnp.arange(3.0), jnp.array(False), "never")
    np.testing.assert_array_equal(out, np.arange(3.0))


def test_failed_check_under_plain_jax_jit_carries_message_and_filter_jit_advice() -> None:
    f = jax.jit(lambda x: ef.error_if(x, x > 1, "plain jit failure"))
    with pytest.raises((RuntimeError, ValueError)) as info:
        jax.block_until_ready(f(jnp.arange(3.0)))
    assert "plain jit failure" in str(info.value)
    assert "eqx.filter_jit" in str(info.value)


def test_branched_error_if_raises_the_message_at_the_traced_index() -> None:
    @ef.filter_jit
    def f(x: jax.Array, i: jax.Array) -> jax.Array:
        return ef.branched_error_if(x, True, i, ["zero", "one", "two"])

    with pytest.raises(ef.EqxRuntimeError, match=r"eqx\.EqxRuntimeError: two"):
        f(jnp.float32(1.0), jnp.int32(2))


def test_unrecognised_on_error_raises_runtime_error() -> None:
    with pytest.raises(RuntimeError, match="Unrecognised value for `on_error`"):
        ef.error_if(jnp.float32(1.0), False, "m", on_error="explode")


def test_concrete_false_pred_returns_x_with_no_check() -> None:
    x = jnp.arange(3.0)
    np.testing.assert_array_equal(ef.error_if(x, False, "never"), x)
    assert ef.error_if(x, False, "never", on_error="raise") is not None
    jaxpr = jax.make_jaxpr(lambda x: ef.error_if(x, False, "never"))(x)
    assert "cond" not in str(jaxpr) and "callback" not in str(jaxpr)


def test_concrete_true_pred_raises_tracetime_error_immediately() -> None:
    with pytest.raises(ef.EqxTracetimeError, match="known at trace time"):
        ef.error_if(jnp.float32(1.0), True, "known at trace time")
    with pytest.raises(ef.EqxTracetimeError, match="two"):
        ef.branched_error_if(1.0, True, 2, ["zero", "one", "two"])


def test_concrete_true_pred_with_off_returns_x() -> None:
    x = jnp.arange(2.0)
    np.testing.assert_array_equal(ef.error_if(x, True, "m", on_error="off"), x)


def test_concrete_true_pred_with_nan_warns_and_returns_nans() -> None:
    with pytest.warns(EqxWarning, match="trace time"):
        out = ef.error_if((jnp.arange(2.0), jnp.arange(2)), True, "m", on_error="nan")
    assert np.isnan(out[0]).all()
    np.testing.assert_array_equal(out[1], np.full(2, np.iinfo(np.int32).max))


def test_concrete_true_pred_with_traced_index_defers_to_run_time() -> None:
    @ef.filter_jit
    def f(x: jax.Array, i: jax.Array) -> jax.Array:
        return ef.branched_error_if(x, True, i, ["a", "b"])

    with pytest.raises(ef.EqxRuntimeError, match=r"eqx\.EqxRuntimeError: b"):
        f(jnp.float32(0.0), jnp.int32(1))


def test_x_without_arrays_raises_value_error() -> None:
    with pytest.raises(ValueError, match="No arrays to thread error on to"):
        ef.error_if("not an array", jnp.array(False), "m")


def test_nan_mode_replaces_floats_ints_and_bools_only_when_pred_holds() -> None:
    x = (jnp.arange(2.0), jnp.arange(2), jnp.array([False, False]))

    @ef.filter_jit
    def f(x: tuple[jax.Array, ...], pred: jax.Array) -> tuple[jax.Array, ...]:
        out: tuple[jax.Array, ...] = ef.error_if(x, pred, "m", on_error="nan")
        return out

    floats, ints, bools = f(x, jnp.array(True))
    assert np.isnan(floats).all()
    np.testing.assert_array_equal(ints, np.full(2, np.iinfo(np.int32).max))
    np.testing.assert_array_equal(bools, np.array([True, True]))
    unchanged = f(x, jnp.array(False))
    for a, b in zip(unchanged, x, strict=True):
        np.testing.assert_array_equal(a, b)


def test_off_mode_stages_no_check() -> None:
    jaxpr = jax.make_jaxpr(lambda x: ef.error_if(x, x > 0, "m", on_error="off"))(1.0)
    assert "callback" not in str(jaxpr)


def test_breakpoint_mode_prints_message_and_calls_jax_debug_breakpoint(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    calls: list[dict[str, object]] = []
    monkeypatch.setattr(jax.debug, "breakpoint", lambda **kw: calls.append(kw))

    @ef.filter_jit
    def f(x: jax.Array) -> jax.Array:
        return ef.error_if(x, x > 0, "stop here", on_error="breakpoint")

    out = f(jnp.float32(1.0))
    jax.effects_barrier()
    assert calls == [{"num_frames": 1}]
    assert np.isnan(out)
    printed = capsys.readouterr().out
    assert "eqx.EqxRuntimeError: stop here" in printed
    assert "EQX_ON_ERROR_BREAKPOINT_FRAMES" in printed


def test_vmap_fails_if_any_element_fails_and_the_largest_index_wins() -> None:
    def g(x: jax.Array) -> jax.Array:
        return ef.branched_error_if(x, x > 0, x.astype(jnp.int32), ["a", "b", "c", "d"])

    f = ef.filter_jit(jax.vmap(g))
    np.testing.assert_array_equal(f(jnp.zeros(3)), np.zeros(3))
    with pytest.raises(ef.EqxRuntimeError, match=r"eqx\.EqxRuntimeError: c"):
        f(jnp.array([0.0, 2.0, 1.0]))


def test_vmap_reduces_the_predicate_to_one_check_for_the_batch() -> None:
    # `any` over the batch: the check runs once, with an unbatched predicate.
    jaxpr = jax.make_jaxpr(jax.vmap(lambda x: ef.error_if(x, x > 0, "m")))(jnp.zeros(3))
    assert str(jaxpr).count("pure_callback") == 1
    assert "reduce_or" in str(jaxpr)


def test_nested_vmap_still_fails_for_one_bad_element() -> None:
    f = ef.filter_jit(jax.vmap(jax.vmap(lambda x: ef.error_if(x, x > 0, "nested"))))
    with pytest.raises(ef.EqxRuntimeError, match="nested"):
        f(jnp.zeros((2, 3)).at[1, 2].set(1.0))


def test_gradients_pass_through_a_passing_check() -> None:
    grad = jax.grad(lambda x: (ef.error_if(x, x > 10, "m") ** 2).sum())(jnp.arange(3.0))
    np.testing.assert_allclose(grad, 2 * np.arange(3.0))


def test_check_fires_under_grad() -> None:
    f = ef.filter_jit(jax.grad(lambda x: (ef.error_if(x, x > 1, "in grad") ** 2).sum()))
    with pytest.raises(ef.EqxRuntimeError, match="in grad"):
        f(jnp.arange(3.0))


def test_tangents_are_not_checked_twice() -> None:
    jaxpr = jax.make_jaxpr(jax.jvp, static_argnums=0)(
        lambda x: ef.error_if(x, x > 1, "m"), (jnp.ones(2),), (jnp.ones(2),)
    )
    assert str(jaxpr).count("pure_callback") == 1


def test_check_inside_scan_and_while_loop() -> None:
    def step(c: jax.Array, _: None) -> tuple[jax.Array, None]:
        return ef.error_if(c + 1, c > 2, "scan step"), None

    scan = ef.filter_jit(lambda c: jax.lax.scan(step, c, length=5)[0])
    np.testing.assert_array_equal(scan(jnp.float32(-10.0)), np.float32(-5.0))
    with pytest.raises(ef.EqxRuntimeError, match="scan step"):
        scan(jnp.float32(0.0))

    def body(c: jax.Array) -> jax.Array:
        return ef.error_if(c + 1, c > 2, "loop body")

    loop = ef.filter_jit(lambda c: jax.lax.while_loop(lambda c: c < 5, body, c))
    with pytest.raises(ef.EqxRuntimeError, match="loop body"):
        loop(jnp.float32(0.0))


def test_check_under_filter_jit_makes_the_call_block_on_its_result() -> None:
    # A failing check surfaces at the call, not at some later use of the result.
    @ef.filter_jit
    def f(x: jax.Array) -> jax.Array:
        return ef.error_if(x, x > 0, "surfaces at the call") + 1

    with pytest.raises(ef.EqxRuntimeError):
        f(jnp.float32(1.0))


def test_unused_result_may_be_removed_by_dead_code_elimination() -> None:
    @ef.filter_jit
    def f(x: jax.Array) -> jax.Array:
        ef.error_if(x, x > 0, "unused")  # result dropped: the check goes with it
        return x + 1

    np.testing.assert_array_equal(f(jnp.float32(1.0)), np.float32(2.0))


def _import_with_env(**env: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-c", "import eqx_filter, sys; print(eqx_filter._error_if.EQX_ON_ERROR)"],
        env={**os.environ, "JAX_PLATFORMS": "cpu", **env},
        capture_output=True,
        text=True,
        timeout=120,
    )


def test_eqx_on_error_invalid_value_fails_at_import_listing_valid_ones() -> None:
    result = _import_with_env(EQX_ON_ERROR="explode")
    assert result.returncode != 0
    assert "ValueError" in result.stderr and "EQX_ON_ERROR" in result.stderr
    for mode in ("raise", "nan", "breakpoint", "off"):
        assert mode in result.stderr


def test_eqx_on_error_breakpoint_warns_at_import_that_it_slows_execution() -> None:
    result = _import_with_env(EQX_ON_ERROR="breakpoint", PYTHONWARNINGS="default")
    assert result.returncode == 0, result.stderr
    assert "EqxWarning" in result.stderr and "slows" in result.stderr
    assert result.stdout.strip() == "breakpoint"


def test_eqx_on_error_nan_is_the_default_mode() -> None:
    result = subprocess.run(
        [
            sys.executable,
            "-c",
            "import eqx_filter as ef, jax.numpy as jnp;"
            "print(ef.error_if(jnp.ones(2), jnp.array(True), 'm'))",
        ],
        env={**os.environ, "JAX_PLATFORMS": "cpu", "EQX_ON_ERROR": "nan"},
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "[nan nan]"


def test_breakpoint_frames_must_be_an_int() -> None:
    result = _import_with_env(EQX_ON_ERROR_BREAKPOINT_FRAMES="many")
    assert result.returncode != 0
    assert "EQX_ON_ERROR_BREAKPOINT_FRAMES" in result.stderr


def test_check_fires_under_jvp_and_the_derivative_is_right() -> None:
    def f(x: jax.Array) -> jax.Array:
        return ef.error_if(x, x > 1, "in jvp") ** 2

    primal, tangent = jax.jvp(f, (jnp.arange(2.0),), (jnp.ones(2),))
    np.testing.assert_allclose(primal, np.array([0.0, 1.0]))
    np.testing.assert_allclose(tangent, np.array([0.0, 2.0]))  # d(x^2) = 2x dx
    with pytest.raises(ef.EqxRuntimeError, match="in jvp"):
        jax.jvp(f, (jnp.arange(3.0),), (jnp.ones(3),))


def test_check_fires_for_one_bad_element_under_eager_vmap() -> None:
    f = jax.vmap(lambda x: ef.error_if(x, x > 0, "eager vmap"))
    np.testing.assert_array_equal(f(jnp.zeros(3)), np.zeros(3))
    with pytest.raises(ef.EqxRuntimeError, match="eager vmap"):
        f(jnp.array([0.0, 0.0, 1.0]))


def test_eager_failure_points_at_the_users_line() -> None:
    x = jnp.arange(3.0)
    with pytest.raises(ef.EqxRuntimeError) as info:
        ef.error_if(x, x > 1, "points here")  # the line the message shows
    text = str(info.value)
    assert 'ef.error_if(x, x > 1, "points here")  # the line the message shows' in text
    assert "eqx.EqxRuntimeError: points here" in text
    stack = text.split("eqx.EqxRuntimeError:")[0]
    assert "eqx_filter" not in stack and "/jax/" not in stack


def test_default_on_error_follows_eqx_on_error(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(ef._error_if, "EQX_ON_ERROR", "off")
    x = jnp.arange(2.0)
    np.testing.assert_array_equal(ef.error_if(x, x > 0, "off by default"), x)
    with pytest.raises(ef.EqxRuntimeError, match="explicit raise"):
        ef.error_if(x, x > 0, "explicit raise", on_error="raise")


def test_concrete_true_pred_with_breakpoint_prints_then_opens_the_debugger(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    opened: list[bool] = []
    monkeypatch.setattr(sys, "breakpointhook", lambda *a, **k: opened.append(True))
    out = ef.error_if(jnp.float32(1.0), True, "concrete stop", on_error="breakpoint")
    assert opened == [True]
    assert float(out) == 1.0
    assert "eqx.EqxRuntimeError: concrete stop" in capsys.readouterr().out


def test_message_shows_the_stack_inside_jit_not_the_call_that_first_traced_it() -> None:
    @ef.filter_jit
    def f(x: jax.Array) -> jax.Array:
        return ef.error_if(x, x > 0, "inside f")

    f(jnp.float32(-1.0))  # FIRST TRACE: this call traces (and compiles) f
    with pytest.raises(ef.EqxRuntimeError) as info:
        f(jnp.float32(1.0))
    text = str(info.value)
    assert 'return ef.error_if(x, x > 0, "inside f")' in text
    assert "FIRST TRACE" not in text


def test_eager_failure_shows_the_failing_call_even_when_an_earlier_call_traced() -> None:
    x = jnp.arange(2.0)
    ef.error_if(x, x > 5, "eager site")  # EARLIER CALL: traces the shared check
    with pytest.raises(ef.EqxRuntimeError) as info:
        ef.error_if(x, x > 0, "eager site")  # FAILING CALL
    text = str(info.value)
    assert "# FAILING CALL" in text and "EARLIER CALL" not in text


@pytest.mark.parametrize("index", [1.0, jnp.array(0.0), "0", None])
def test_branched_error_if_rejects_a_non_integer_index_naming_it(index):
    with pytest.raises(TypeError, match=r"`index` must be an integer .* 2 messages \(0 to 1\)"):
        ef.branched_error_if(jnp.ones(2), False, index, ["a", "b"])


@pytest.mark.parametrize(("index", "bad"), [(2, 2), (-1, -1), (np.array([0, 5]), 5)])
def test_branched_error_if_rejects_a_concrete_index_outside_the_messages(index, bad):
    with pytest.raises(ValueError, match=rf"`index` {bad} is out of range: there are 2 messages"):
        ef.branched_error_if(jnp.ones(2), jnp.array(False), index, ["a", "b"])


def test_branched_error_if_accepts_integer_indices_of_any_kind_and_a_traced_one():
    x = jnp.ones(2)
    for index in (1, np.int64(1), jnp.array(1, dtype=jnp.int32), np.array([0, 1])):
        np.testing.assert_array_equal(ef.branched_error_if(x, False, index, ["a", "b"]), x)
    # A traced index keeps JAX's semantics: it is only known at run time.
    out = jax.jit(lambda i: ef.branched_error_if(x, False, i, ["a", "b"]))(7)
    np.testing.assert_array_equal(out, x)


def test_error_if_message_may_be_a_function_of_x_rendered_from_the_failing_values():
    seen = []

    def describe(x):
        seen.append(type(x["v"]))
        return f"negative values {x['v'][x['v'] < 0].tolist()} ({x['name']})"

    @ef.filter_jit
    def check(v):
        return ef.error_if({"v": v, "name": "weights"}, v < 0, describe)["v"]

    np.testing.assert_array_equal(check(jnp.array([1.0, 2.0])), [1.0, 2.0])
    assert seen == []  # only rendered when the check fails
    with pytest.raises(ef.EqxRuntimeError, match=r"negative values \[-2\.0\] \(weights\)"):
        check(jnp.array([1.0, -2.0]))
    assert seen == [np.ndarray]
    # A concrete Python predicate renders it right away, from the real `x`.
    with pytest.raises(ef.EqxTracetimeError, match=r"negative values \[-3\.0\] \(eager\)"):
        ef.error_if({"v": jnp.array([-3.0]), "name": "eager"}, True, describe)
    # Under vmap the function sees the whole batch.
    with pytest.raises(ef.EqxRuntimeError, match=r"negative values \[-5\.0\] \(weights\)"):
        jax.vmap(check)(jnp.array([4.0, -5.0]))


def test_branched_error_if_mixes_string_and_callable_messages():
    msgs = ["too small", lambda x: f"too big: {float(x):.1f}"]
    run = ef.filter_jit(lambda x: ef.branched_error_if(x, x > 1, jnp.where(x > 1, 1, 0), msgs))
    with pytest.raises(ef.EqxRuntimeError, match=r"too big: 7\.5"):
        run(jnp.array(7.5))
    with pytest.raises(ef.EqxRuntimeError, match=r"too big: 9\.0"):
        run(jnp.array(9.0))  # the same trace, rendered again for the new value
