"""`filter_jit(check_aliasing=True)`: arguments storing an array or node twice warn."""

from __future__ import annotations

import warnings
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import eqx_filter as ef
from eqx_module import Module
from eqx_tree import EqxAliasingWarning


class Layer(Module):
    weight: jax.Array


class Model(Module):
    encoder: Any
    decoder: Any

    def __call__(self, x: jax.Array) -> jax.Array:
        return self.decoder.weight @ (self.encoder.weight @ x)


def apply(model: Model, x: jax.Array) -> jax.Array:
    return model(x)


def test_an_argument_storing_one_layer_twice_warns_naming_both_paths() -> None:
    layer = Layer(jnp.eye(2))
    f = ef.filter_jit(apply, check_aliasing=True)
    with pytest.warns(EqxAliasingWarning) as record:
        out = f(Model(layer, layer), jnp.ones(2))
    np.testing.assert_array_equal(out, np.ones(2))  # the call itself still runs
    assert len(record) == 1
    message = str(record[0].message)
    assert "`filter_jit(apply)` was called with arguments that store 1 object(s) twice" in message
    assert (
        "A Layer appears in the PyTree multiple times, at args[0].encoder and at args[0].decoder"
        in message
    )
    assert record[0].filename == __file__


def test_the_same_array_twice_in_a_list_is_named_in_its_keyword_argument() -> None:
    w = jnp.ones(3)
    f = ef.filter_jit(lambda xs: xs[0] + xs[1], check_aliasing=True)
    with pytest.warns(
        EqxAliasingWarning,
        match=r"array float32\[3\] .* at kwargs\['xs'\]\[0\] and at kwargs\['xs'\]\[1\]",
    ):
        f(xs=[w, w])


def test_it_checks_every_call_even_without_a_retrace() -> None:
    f = ef.filter_jit(apply, check_aliasing=True)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        f(Model(Layer(jnp.eye(2)), Layer(jnp.eye(2))), jnp.ones(2))  # compiles
    layer = Layer(jnp.eye(2))
    with pytest.warns(EqxAliasingWarning, match="args\\[0\\].encoder"):
        f(Model(layer, layer), jnp.ones(2))  # same treedef: the compiled program is reused


def test_the_same_array_as_two_arguments_is_fine_and_off_is_silent() -> None:
    w = jnp.ones(2)
    layer = Layer(jnp.eye(2))
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        ef.filter_jit(lambda a, b: a + b, check_aliasing=True)(w, w)
        ef.filter_jit(apply)(Model(layer, layer), jnp.ones(2))


def test_a_module_as_the_function_is_checked_too() -> None:
    layer = Layer(jnp.eye(2))
    with pytest.warns(EqxAliasingWarning, match="at fun.encoder and at fun.decoder"):
        ef.filter_jit(Model(layer, layer), check_aliasing=True)(jnp.ones(2))


def test_the_decorator_form_keeps_the_option() -> None:
    @ef.filter_jit(check_aliasing=True)
    def g(xs: list[jax.Array]) -> jax.Array:
        return xs[0]

    w = jnp.ones(1)
    with pytest.warns(EqxAliasingWarning, match=r"args\[0\]\[0\] and at args\[0\]\[1\]"):
        g([w, w])


@pytest.mark.usefixtures("not_under_import_hook")
def test_a_non_bool_option_is_a_type_error_at_filter_jit() -> None:
    with pytest.raises(TypeError, match="`check_aliasing` must be True or False; got 'yes'"):
        ef.filter_jit(apply, check_aliasing="yes")  # type: ignore[call-overload]


def test_without_the_option_the_wrapper_is_the_plain_one() -> None:
    # The default hot path has no aliasing branch: the option picks another class.
    plain = ef.filter_jit(apply)
    checked = ef.filter_jit(apply, check_aliasing=True)
    assert type(checked) is not type(plain)
    assert isinstance(checked, type(plain))
    assert "check_aliasing" not in repr(plain._config)
    assert "check_aliasing=True" in repr(checked._config)


def test_the_compiled_code_is_the_same_with_and_without_the_option() -> None:
    x = jnp.ones(2)
    layer = Layer(jnp.eye(2))
    model = Model(layer, Layer(jnp.eye(2)))
    plain = ef.filter_jit(apply).lower(model, x).as_text()
    checked = ef.filter_jit(apply, check_aliasing=True).lower(model, x).as_text()
    assert plain == checked
