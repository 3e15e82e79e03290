"""`Partial`."""

import typing

import jax
import jax.numpy as jnp
import jax.tree_util as jtu
import pytest

from eqx_module import Module, Partial


def f(a: int, b: int, c: int, *, d: int = 0, e: int = 0) -> tuple[int, ...]:
    return (a, b, c, d, e)


def test_partial_call_order_is_args_call_args_call_kwargs_keywords() -> None:
    p = Partial(f, 1, e=5)
    assert p(2, 3, d=4) == (1, 2, 3, 4, 5)


def test_partial_fields() -> None:
    p = Partial(f, 1, e=5)
    assert p.func is f
    assert p.args == (1,)
    assert p.keywords == {"e": 5}


def test_partial_arguments_are_leaves() -> None:
    p = Partial(jnp.add, jnp.array(1.0))
    leaves = jtu.tree_leaves(p)
    assert any(leaf is p.args[0] for leaf in leaves)
    doubled = jtu.tree_map(lambda x: x * 2 if isinstance(x, jax.Array) else x, p)
    assert doubled(2.0) == 4.0
    assert jax.jit(lambda a: Partial(jnp.add, a)(2.0))(jnp.array(1.0)) == 3.0


def test_partial_accepts_any_callable() -> None:
    assert Partial(max, 3)(5) == 5


def test_partial_duplicate_keyword_raises() -> None:
    with pytest.raises(TypeError):
        Partial(f, 1, 2, 3, d=1)(d=2)


def test_partial_is_generic_so_it_can_annotate_a_field() -> None:
    # Libraries annotate with `Partial[...]` at import time: it must be subscriptable.
    alias = Partial[jax.Array]
    assert typing.get_origin(alias) is Partial
    assert typing.get_args(alias) == (jax.Array,)

    class Holder(Module):
        fn: Partial[jax.Array]

    holder = Holder(Partial(jnp.multiply, jnp.array(3.0)))
    assert holder.fn(jnp.array(2.0)) == 6.0
    # The subscripted alias also constructs a plain Partial.
    built = alias(jnp.add, jnp.array(1.0))
    assert type(built) is Partial
    assert built(2.0) == 3.0
