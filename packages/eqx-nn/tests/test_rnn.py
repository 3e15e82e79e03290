import dataclasses
import inspect
import math

import jax
import jax.numpy as jnp
import jax.random as jr
import numpy as np
import pytest

from eqx_nn import GRUCell, LSTMCell

KEY = jr.key(7)


def _sigmoid(z):
    return 1 / (1 + np.exp(-z))


def _fields(cls):
    return [(f.name, bool(f.metadata.get("static", False))) for f in dataclasses.fields(cls)]


def test_gru_signature_and_fields():
    assert list(inspect.signature(GRUCell).parameters) == [
        "input_size",
        "hidden_size",
        "use_bias",
        "dtype",
        "key",
    ]
    assert _fields(GRUCell) == [
        ("weight_ih", False), ("weight_hh", False), ("bias", False), ("bias_n", False),
        ("input_size", True), ("hidden_size", True), ("use_bias", True),
    ]  # fmt: skip


def test_gru_init_splits_key_in_four_uniform_one_over_sqrt_hidden():
    cell = GRUCell(3, 4, key=KEY)
    ih, hh, b, bn = jr.split(KEY, 4)
    lim = math.sqrt(1 / 4)
    u = lambda k, s: jr.uniform(k, s, minval=-lim, maxval=lim)
    np.testing.assert_array_equal(cell.weight_ih, u(ih, (12, 3)))
    np.testing.assert_array_equal(cell.weight_hh, u(hh, (12, 4)))
    np.testing.assert_array_equal(cell.bias, u(b, (12,)))
    np.testing.assert_array_equal(cell.bias_n, u(bn, (4,)))


def test_gru_matches_equations():
    cell = GRUCell(3, 4, key=KEY)
    x, h = np.array([0.5, -1.0, 2.0]), np.array([0.1, 0.2, -0.3, 0.4])
    wi, wh = np.asarray(cell.weight_ih), np.asarray(cell.weight_hh)
    gi = wi @ x + np.asarray(cell.bias)
    gh = wh @ h
    r = _sigmoid(gi[:4] + gh[:4])
    z = _sigmoid(gi[4:8] + gh[4:8])
    n = np.tanh(gi[8:] + r * (gh[8:] + np.asarray(cell.bias_n)))
    np.testing.assert_allclose(
        cell(jnp.asarray(x, jnp.float32), jnp.asarray(h, jnp.float32)),
        n + z * (h - n),
        rtol=1e-5,
        atol=1e-6,
    )


def test_gru_without_bias():
    cell = GRUCell(2, 3, use_bias=False, key=KEY)
    assert cell.bias is None
    assert cell.bias_n is None
    out = cell(jnp.zeros(2), jnp.zeros(3))
    np.testing.assert_allclose(out, np.zeros(3))


def test_lstm_signature_and_fields():
    assert list(inspect.signature(LSTMCell).parameters) == [
        "input_size",
        "hidden_size",
        "use_bias",
        "dtype",
        "key",
    ]
    assert _fields(LSTMCell) == [
        ("weight_ih", False), ("weight_hh", False), ("bias", False),
        ("input_size", True), ("hidden_size", True), ("use_bias", True),
    ]  # fmt: skip


def test_lstm_init_splits_key_in_three():
    cell = LSTMCell(3, 2, key=KEY)
    ih, hh, b = jr.split(KEY, 3)
    lim = math.sqrt(1 / 2)
    np.testing.assert_array_equal(cell.weight_ih, jr.uniform(ih, (8, 3), minval=-lim, maxval=lim))
    np.testing.assert_array_equal(cell.weight_hh, jr.uniform(hh, (8, 2), minval=-lim, maxval=lim))
    np.testing.assert_array_equal(cell.bias, jr.uniform(b, (8,), minval=-lim, maxval=lim))


def test_lstm_matches_equations():
    cell = LSTMCell(3, 2, key=KEY)
    x, h, c = np.array([0.5, -1.0, 2.0]), np.array([0.1, -0.2]), np.array([0.3, 0.7])
    lin = np.asarray(cell.weight_ih) @ x + np.asarray(cell.weight_hh) @ h + np.asarray(cell.bias)
    i, f, g, o = _sigmoid(lin[:2]), _sigmoid(lin[2:4]), np.tanh(lin[4:6]), _sigmoid(lin[6:])
    c_new = f * c + i * g
    h_new = o * np.tanh(c_new)
    f32 = lambda a: jnp.asarray(a, jnp.float32)
    h_out, c_out = cell(f32(x), (f32(h), f32(c)))
    np.testing.assert_allclose(c_out, c_new, rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(h_out, h_new, rtol=1e-5, atol=1e-6)


@pytest.mark.usefixtures("not_under_import_hook")
def test_cells_reject_batched_input_suggesting_vmap():
    with pytest.raises(ValueError, match=r"input.*\(3,\).*jax.vmap"):
        GRUCell(3, 4, key=KEY)(jnp.ones((2, 3)), jnp.zeros(4))
    with pytest.raises(ValueError, match=r"hidden\[0\].*\(2,\)"):
        LSTMCell(3, 2, key=KEY)(jnp.ones(3), (jnp.zeros(3), jnp.zeros(2)))


@pytest.mark.parametrize("dtype", [jnp.float16, jnp.bfloat16, jnp.complex64])
def test_cells_keep_dtype(dtype):
    gru = GRUCell(2, 3, dtype=dtype, key=KEY)
    assert gru.weight_ih.dtype == dtype
    assert gru(jnp.ones(2, dtype), jnp.zeros(3, dtype)).dtype == dtype
    lstm = LSTMCell(2, 3, dtype=dtype, key=KEY)
    h, c = lstm(jnp.ones(2, dtype), (jnp.zeros(3, dtype), jnp.zeros(3, dtype)))
    assert h.dtype == c.dtype == dtype


def test_gru_scan_jit_vmap_and_grad():
    cell = GRUCell(2, 3, key=KEY)
    xs = jr.normal(jr.key(0), (4, 5, 2))

    def run(cell, seq):
        final, _ = jax.lax.scan(lambda h, x: (cell(x, h), None), jnp.zeros(3), seq)
        return final

    out = jax.jit(jax.vmap(run, in_axes=(None, 0)))(cell, xs)
    h = jnp.zeros(3)
    for x in xs[2]:
        h = cell(x, h)
    np.testing.assert_allclose(out[2], h, rtol=1e-5, atol=1e-6)
    grads = jax.grad(lambda c: jnp.sum(run(c, xs[0])))(cell)
    assert grads.weight_hh.shape == (9, 3)
    assert np.all(np.isfinite(grads.weight_hh))


def _x64():
    return jax.enable_x64(True) if hasattr(jax, "enable_x64") else jax.experimental.enable_x64()


def test_cells_default_to_float64_under_x64():
    with _x64():
        gru = GRUCell(2, 3, key=KEY)
        lstm = LSTMCell(2, 3, key=KEY)
        leaves = jax.tree_util.tree_leaves((gru, lstm))
        assert {leaf.dtype for leaf in leaves} == {jnp.dtype(jnp.float64)}
        assert gru(jnp.ones(2), jnp.zeros(3)).dtype == jnp.float64
        h, c = lstm(jnp.ones(2), (jnp.zeros(3), jnp.zeros(3)))
        assert h.dtype == c.dtype == jnp.float64


def test_lstm_accepts_hidden_state_as_a_list():
    cell = LSTMCell(2, 3, key=KEY)
    x, h, c = jnp.ones(2), jnp.full(3, 0.5), jnp.full(3, -0.5)
    expected = cell(x, (h, c))
    for got, want in zip(cell(x, [h, c]), expected, strict=True):
        np.testing.assert_allclose(got, want)


def test_gru_complex_init_draws_both_parts_within_the_bound():
    cell = GRUCell(3, 16, dtype=jnp.complex64, key=KEY)
    lim = 1 / math.sqrt(16)
    for weight in (cell.weight_ih, cell.weight_hh, cell.bias, cell.bias_n):
        assert weight.dtype == jnp.complex64
        assert float(jnp.max(jnp.abs(weight.real))) <= lim
        assert float(jnp.max(jnp.abs(weight.imag))) <= lim
        assert not np.allclose(weight.real, weight.imag)
    # split(key, 4) -> ih, hh, b, b_n; each complex draw splits its key into real/imag.
    ihkey = jr.split(KEY, 4)[0]
    rkey, ikey = jr.split(ihkey)
    np.testing.assert_allclose(
        cell.weight_ih.real, jr.uniform(rkey, (48, 3), minval=-lim, maxval=lim), rtol=1e-6
    )
    np.testing.assert_allclose(
        cell.weight_ih.imag, jr.uniform(ikey, (48, 3), minval=-lim, maxval=lim), rtol=1e-6
    )
