"""`debug.assert_max_traces` and `debug.get_num_traces`."""

from __future__ import annotations

from typing import Any

import jax
import jax.numpy as jnp
import pytest

import eqx_filter as ef


def test_counts_traces_inside_filter_jit_not_calls() -> None:
    @ef.filter_jit
    @ef.debug.assert_max_traces(max_traces=1)
    def f(x: jax.Array) -> jax.Array:
        return x + 1

    for _ in range(3):
        f(jnp.ones(2))
    assert ef.debug.get_num_traces(f) == 1


def test_going_over_the_limit_names_the_changed_argument_and_both_structures() -> None:
    f = ef.filter_jit(ef.debug.assert_max_traces(lambda x, n: x * n, max_traces=1))
    f(jnp.ones(3), 2)
    with pytest.raises(RuntimeError, match="can only be traced 1 times") as info:
        f(jnp.ones(4), 2)
    text = str(info.value)
    assert "The argument `x` has a structure that matches no earlier call" in text
    assert "shape=(4,)" in text and "shape=(3,)" in text
    assert "x: shape changed (3,) -> (4,)" in text
    assert "`n`" not in text


def test_a_changed_keyword_argument_is_named_as_a_keyword_argument() -> None:
    counted = ef.debug.assert_max_traces(lambda x, n=1: x * n, max_traces=1)
    counted(jnp.ones(2), n=jnp.ones(2))
    with pytest.raises(RuntimeError, match="can only be traced 1 times") as info:
        counted(jnp.ones(2), n=jnp.ones(3))
    text = str(info.value)
    assert "The keyword argument `n` has a structure that matches no earlier call" in text
    assert "The argument keyword argument" not in text


def test_message_says_when_no_argument_could_be_identified() -> None:
    counted = ef.debug.assert_max_traces(lambda x: x, max_traces=1)
    counted(jnp.ones(2))
    with pytest.raises(RuntimeError, match="No argument could be identified"):
        counted(jnp.ones(2))


def test_max_traces_none_only_counts() -> None:
    counted = ef.debug.assert_max_traces(lambda x: x, max_traces=None)
    for i in range(4):
        counted(jnp.ones(i + 1))
    assert ef.debug.get_num_traces(counted) == 4


def test_counter_is_shared_by_flatten_unflatten_clones() -> None:
    counted = ef.debug.assert_max_traces(lambda x: x, max_traces=None)
    leaves, treedef = jax.tree_util.tree_flatten(counted)
    clone = jax.tree_util.tree_unflatten(treedef, leaves)
    counted(1)
    clone(2)
    assert ef.debug.get_num_traces(counted) == ef.debug.get_num_traces(clone) == 2


def test_wrapper_keeps_the_wrapped_name_and_binds_as_a_method() -> None:
    def step(x: Any) -> Any:
        return x

    counted = ef.debug.assert_max_traces(step, max_traces=2)
    assert counted.__wrapped__ is step and counted.__name__ == "step"

    class Holder:
        @ef.debug.assert_max_traces(max_traces=None)
        def method(self, x: int) -> tuple[Any, int]:
            return self, x

    holder = Holder()
    assert holder.method(3) == (holder, 3)


def test_get_num_traces_without_a_wrapper_raises() -> None:
    with pytest.raises(ValueError, match="assert_max_traces"):
        ef.debug.get_num_traces(ef.filter_jit(lambda x: x))


def test_bad_max_traces_type() -> None:
    with pytest.raises(TypeError, match="max_traces"):
        ef.debug.assert_max_traces(lambda x: x, max_traces="1")  # type: ignore[arg-type]


def test_a_keyword_argument_is_named_as_one_and_a_positional_one_by_its_parameter() -> None:
    @ef.filter_jit
    @ef.debug.assert_max_traces(max_traces=1)
    def by_keyword(x: jax.Array, n: int) -> jax.Array:
        return x * n

    by_keyword(jnp.ones(2), n=3)
    with pytest.raises(RuntimeError, match=r"kwargs\['n'\]: Python int 3 -> 4"):
        by_keyword(jnp.ones(2), n=4)

    @ef.filter_jit
    @ef.debug.assert_max_traces(max_traces=1)
    def by_position(x: jax.Array, n: int) -> jax.Array:
        return x * n

    by_position(jnp.ones(2), 3)
    with pytest.raises(RuntimeError, match=r"\n  n: Python int 3 -> 4"):
        by_position(jnp.ones(2), 4)
