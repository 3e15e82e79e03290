"""`debug.backward_nan`."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import pytest

import eqx_filter as ef


def test_prints_name_primals_and_cotangents_on_the_backward_pass(
    capsys: pytest.CaptureFixture[str],
) -> None:
    def loss(x: jax.Array) -> jax.Array:
        return ef.debug.backward_nan(x, name="foo") * 3.0

    grad = jax.grad(loss)(jnp.float32(1.0))
    jax.effects_barrier()
    assert float(grad) == 3.0
    assert capsys.readouterr().out == (
        "foo:\n   primals=Array(1., dtype=float32)\ncotangents=Array(3., dtype=float32)\n"
    )


def test_without_a_name_prints_only_values(capsys: pytest.CaptureFixture[str]) -> None:
    jax.grad(lambda x: ef.debug.backward_nan(x, terminate=False))(jnp.float32(2.0))
    jax.effects_barrier()
    assert capsys.readouterr().out.startswith("   primals=Array(2., dtype=float32)\n")


def test_is_the_identity_forward() -> None:
    x = jnp.arange(3.0)
    assert ef.debug.backward_nan(x).tolist() == x.tolist()


def test_nan_cotangent_terminates(capsys: pytest.CaptureFixture[str]) -> None:
    f = ef.filter_jit(jax.grad(lambda x: jnp.sqrt(ef.debug.backward_nan(x) - 1.0)))
    with pytest.raises(ef.EqxRuntimeError, match="Encountered NaN"):
        f(jnp.float32(0.0))


def test_nan_cotangent_without_terminate_passes_through() -> None:
    grad = jax.grad(lambda x: jnp.sqrt(ef.debug.backward_nan(x, terminate=False) - 1.0))(
        jnp.float32(0.0)
    )
    jax.effects_barrier()
    assert jnp.isnan(grad)
