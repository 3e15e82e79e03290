"""The JAX-transformed-callable warning, raised while a Module is constructed."""

from typing import Any

import jax
import jax.numpy as jnp
import pytest

from eqx_module import Module, Partial
from eqx_tree import EqxWarning


class Holder(Module):
    fn: Any


class HolderCustomInit(Module):
    fn: Any

    def __init__(self, fn: Any) -> None:
        self.fn = fn


def test_assigning_vmap_of_module_with_arrays_warns() -> None:
    inner = Partial(jnp.multiply, jnp.ones(3))
    with pytest.warns(EqxWarning, match="Possibly assigning a JAX-transformed callable") as rec:
        HolderCustomInit(jax.vmap(inner))
    assert rec[0].filename == __file__


def test_generated_init_arguments_are_checked_too() -> None:
    inner = Partial(jnp.multiply, jnp.ones(3))
    with pytest.warns(EqxWarning, match="Possibly assigning a JAX-transformed callable") as rec:
        Holder(jax.vmap(inner))
    assert rec[0].filename == __file__


@pytest.mark.parametrize("transform", [jax.jit, jax.grad, jax.vmap, jax.checkpoint])
def test_transform_of_plain_function_does_not_warn(transform: Any) -> None:
    def f(x: Any) -> Any:
        return x

    HolderCustomInit(transform(f))
    Holder(transform(f))


def test_jit_of_module_with_arrays_warns() -> None:
    inner = Partial(jnp.multiply, jnp.ones(3))
    with pytest.warns(EqxWarning, match="JAX-transformed callable"):
        HolderCustomInit(jax.jit(inner))


class CallableHolder(Module):
    """A wrapper whose job is to hold a callable, as the `eqx.filter_*` wrappers are."""

    _eqx_wraps_callable = True
    fn: Any


def test_a_class_that_wraps_callables_by_design_does_not_warn() -> None:
    inner = Partial(jnp.multiply, jnp.ones(3))
    holder = CallableHolder(jax.vmap(inner))  # filterwarnings=error: a warning fails
    assert holder.fn is not None


def test_a_transformed_callable_passed_by_keyword_to_a_generated_init_warns() -> None:
    inner = Partial(jnp.multiply, jnp.ones(3))
    with pytest.warns(EqxWarning, match="Possibly assigning a JAX-transformed callable") as rec:
        Holder(fn=jax.vmap(inner))
    assert rec[0].filename == __file__


def test_a_transformed_callable_as_a_field_default_warns_at_construction() -> None:
    transformed = jax.vmap(Partial(jnp.multiply, jnp.ones(3)))

    class WithDefault(Module):
        fn: Any = transformed

    with pytest.warns(EqxWarning, match="Possibly assigning a JAX-transformed callable"):
        WithDefault()
