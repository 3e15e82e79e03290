"""`debug.announce_transform`: which JAX rules processed the arrays."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np

import eqx_filter as ef


def _announced(fn, *args, **kwargs) -> list[str]:  # type: ignore[no-untyped-def]
    lines: list[str] = []
    kwargs["announce"] = lines.append
    out = fn(lambda x: ef.debug.announce_transform(x, **kwargs), *args)
    jax.block_until_ready(out)
    return lines


def test_eager_call_runs_impl() -> None:
    lines: list[str] = []
    out = ef.debug.announce_transform(jnp.ones(2), name="e", announce=lines.append)
    np.testing.assert_array_equal(out, np.ones(2))
    assert lines == ["(e) impl"]


def test_jit_traces_and_lowers() -> None:
    assert _announced(lambda f, x: jax.jit(f)(x), jnp.ones(2), name="j") == [
        "(j) abstract",
        "(j) mlir",
    ]


def test_vmap_under_jit() -> None:
    lines = _announced(lambda f, x: jax.jit(jax.vmap(f))(x), jnp.ones(2), name="v")
    assert lines == ["(v) vmap:abstract", "(v) vmap:mlir"]


def test_grad_reports_primal_tangent_and_transpose() -> None:
    lines = _announced(lambda f, x: jax.grad(lambda y: f(y).sum())(x), jnp.ones(2), name="g")
    assert "(g) jvp_p:impl" in lines
    assert "(g) jvp_t:transpose:impl" in lines


def test_intermediates_reports_rules_in_progress() -> None:
    lines = _announced(lambda f, x: jax.vmap(f)(x), jnp.ones(2), name="i", intermediates=True)
    assert lines == ["(i) vmap", "(i) vmap:impl"]


def test_non_arrays_pass_through_unannounced() -> None:
    lines: list[str] = []
    assert ef.debug.announce_transform("text", announce=lines.append) == "text"
    assert lines == []
