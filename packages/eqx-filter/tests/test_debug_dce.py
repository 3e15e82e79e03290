"""`debug.store_dce` / `debug.inspect_dce`."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import pytest

import eqx_filter as ef


def test_inspect_dce_shows_live_and_eliminated_leaves(capsys: pytest.CaptureFixture[str]) -> None:
    @jax.jit
    def f(x: jax.Array, y: jax.Array) -> jax.Array:
        x, y, _ = ef.debug.store_dce((x, y, "foobar"), name="pair")
        return x

    f(jnp.int32(1), jnp.int32(2))
    ef.debug.inspect_dce(name="pair")
    assert capsys.readouterr().out == (
        "Found 1 call(s) to `eqx.debug.store_dce`.\nEntry 0:\n(i32[], <DCE'd>, 'foobar')\n"
    )


def test_store_dce_is_the_identity_inside_jit() -> None:
    out = jax.jit(lambda x: ef.debug.store_dce(x, name="identity") * 2)(jnp.arange(3.0))
    assert out.tolist() == [0.0, 2.0, 4.0]


def test_store_dce_outside_jit_raises() -> None:
    with pytest.raises(RuntimeError, match="should be used inside of JIT"):
        ef.debug.store_dce(jnp.ones(2))


def test_inspect_dce_inside_jit_raises() -> None:
    def f(x: jax.Array) -> jax.Array:
        ef.debug.inspect_dce()
        return x

    with pytest.raises(RuntimeError, match="inside of JIT"):
        jax.jit(f)(1.0)


def test_inspect_dce_with_no_calls(capsys: pytest.CaptureFixture[str]) -> None:
    ef.debug.inspect_dce(name="never-used")
    assert capsys.readouterr().out == "Found 0 call(s) to `eqx.debug.store_dce`.\n"


def test_store_dce_under_vmap_inside_jit(capsys: pytest.CaptureFixture[str]) -> None:
    @jax.jit
    def f(x: jax.Array, y: jax.Array) -> jax.Array:
        x, y = jax.vmap(lambda a, b: ef.debug.store_dce((a, b), name="vmapped"))(x, y)
        return y

    assert f(jnp.zeros(2), jnp.ones(2)).tolist() == [1.0, 1.0]
    ef.debug.inspect_dce(name="vmapped")
    assert capsys.readouterr().out.endswith("Entry 0:\n(<DCE'd>, f32[])\n")
