"""filter_eval_shape."""

import jax
import jax.numpy as jnp

from eqx_filter import filter_eval_shape
from eqx_module import Module


class Unhashable:
    __hash__ = None  # type: ignore[assignment]


class Model(Module):
    weight: jax.Array

    def __call__(self, x, tag):
        return {"y": self.weight @ x, "tag": tag}


def test_arrays_and_structs_are_abstract_and_outputs_become_structs():
    model = Model(jnp.ones((2, 3)))
    tag = Unhashable()
    out = filter_eval_shape(model, jax.ShapeDtypeStruct((3,), jnp.float32), tag)
    assert out["y"] == jax.ShapeDtypeStruct((2,), jnp.float32)
    assert out["tag"] is tag  # passed through by identity, need not be hashable


def test_the_function_is_not_computed():
    calls = []

    def f(x):
        calls.append(type(x))
        return x * 2

    out = filter_eval_shape(f, jnp.ones((4, 4)))
    assert out == jax.ShapeDtypeStruct((4, 4), jnp.float32)
    assert issubclass(calls[0], jax.core.Tracer)


def test_non_array_outputs_are_the_same_objects():
    marker = object()
    out = filter_eval_shape(lambda x, m: (m, 3, x), jnp.ones(1), marker)
    assert out[0] is marker
    assert out[1] == 3


def test_kwargs_nested_modules_and_python_scalars():
    class Outer(Module):
        inner: Model
        label: str

    model = Outer(Model(jnp.ones((2, 3))), "outer")

    def f(m, x, *, n, fn):
        return {"y": fn(m.inner(x, None)["y"]) * n, "label": m.label, "n": n, "none": None}

    out = filter_eval_shape(f, model, jnp.ones(3), n=2, fn=jnp.tanh)
    assert out == {
        "y": jax.ShapeDtypeStruct((2,), jnp.float32),
        "label": "outer",
        "n": 2,
        "none": None,
    }
