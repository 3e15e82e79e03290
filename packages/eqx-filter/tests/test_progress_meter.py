"""Progress meters: `NoProgressMeter`, `TextProgressMeter`, `TqdmProgressMeter`."""

import sys

import jax
import jax.numpy as jnp
import pytest

import eqx_filter as ef


def _run(meter, steps, total):
    """A compiled loop reporting `(i + 1) / total` after each of `steps` steps."""

    @jax.jit
    def run(total):
        state = meter.init()
        state = jax.lax.fori_loop(0, steps, lambda i, s: meter.step(s, (i + 1) / total), state)
        meter.close(state)
        return state

    out = run(total)
    jax.effects_barrier()
    return out


def test_text_meter_prints_each_sufficient_increase_in_order(capsys):
    _run(ef.TextProgressMeter(minimum_increase=0.25), 10, 10.0)
    # Printed at 0, then whenever progress grew by >= 0.25 since the last line, then 100.
    assert capsys.readouterr().out.split() == ["0.00%", "30.00%", "60.00%", "90.00%", "100.00%"]


def test_text_meter_under_vmap_reports_the_least_advanced_element(capsys):
    meter = ef.TextProgressMeter(minimum_increase=0.25)
    totals = jnp.array([10.0, 20.0])  # the second only gets half way

    def one(total):
        state = jax.lax.fori_loop(0, 10, lambda i, s: meter.step(s, (i + 1) / total), meter.init())
        meter.close(state)
        return state

    jax.vmap(one)(totals)
    jax.effects_barrier()
    assert capsys.readouterr().out.split() == ["0.00%", "25.00%", "50.00%", "100.00%"]


def test_no_progress_meter_does_nothing(capsys):
    assert _run(ef.NoProgressMeter(), 5, 5.0) is None
    assert capsys.readouterr().out == ""


def test_tqdm_meter_draws_a_bar_to_100_percent(capsys):
    pytest.importorskip("tqdm")
    bar_id, count = _run(ef.TqdmProgressMeter(refresh_steps=3), 10, 10.0)
    assert int(count) == 10 and bar_id.dtype == jnp.int32
    err = capsys.readouterr().err
    assert "30%" in err and "90%" in err and "100%" in err
    assert "40%" not in err  # redrawn only every 3 steps


def test_tqdm_is_imported_lazily_with_a_clear_error_when_missing(monkeypatch):
    meter = ef.TqdmProgressMeter()  # constructing needs no tqdm
    monkeypatch.setitem(sys.modules, "tqdm", None)
    monkeypatch.setitem(sys.modules, "tqdm.auto", None)
    with pytest.raises(ImportError, match=r"`TqdmProgressMeter` needs the tqdm package"):
        meter.init()


@pytest.mark.parametrize(
    ("make", "message"),
    [
        (
            lambda: ef.TextProgressMeter(minimum_increase=1.5),
            r"`minimum_increase` must be in \[0, 1\]",
        ),
        (
            lambda: ef.TextProgressMeter(minimum_increase=-0.1),
            r"`minimum_increase` must be in \[0, 1\]",
        ),
        (lambda: ef.TqdmProgressMeter(refresh_steps=0), "`refresh_steps` must be a positive int"),
        (lambda: ef.TqdmProgressMeter(refresh_steps=2.5), "`refresh_steps` must be a positive int"),
    ],
)
def test_bad_settings_are_value_errors_naming_them(make, message):
    with pytest.raises(ValueError, match=message):
        make()


def test_the_abstract_meter_is_generic_and_abstract():
    assert ef.AbstractProgressMeter[int] is not None
    with pytest.raises(TypeError):
        ef.AbstractProgressMeter()
