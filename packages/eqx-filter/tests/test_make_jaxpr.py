"""filter_make_jaxpr."""

import jax
import jax.extend.core
import jax.numpy as jnp
import numpy as np

from eqx_filter import filter_make_jaxpr
from eqx_module import Module


class Model(Module):
    weight: jax.Array

    def __call__(self, x, n, label):
        return self.weight * x * n, label


def test_returns_jaxpr_out_struct_and_static_out():
    model = Model(jnp.arange(3.0))
    jaxpr, out_struct, static_out = filter_make_jaxpr(model)(jnp.ones(3), 2, "lbl")
    assert isinstance(jaxpr, jax.extend.core.ClosedJaxpr)
    assert out_struct == (jax.ShapeDtypeStruct((3,), jnp.float32), None)
    assert static_out == (None, "lbl")


def test_function_arrays_become_the_same_const_objects():
    model = Model(jnp.arange(3.0))
    jaxpr, _, _ = filter_make_jaxpr(model)(jnp.ones(3), 2, "lbl")
    assert any(c is model.weight for c in jaxpr.consts)


def test_python_scalars_are_static_and_structs_are_traced():
    jaxpr, _, _ = filter_make_jaxpr(lambda x, n: x * n)(jax.ShapeDtypeStruct((2,), jnp.float32), 3)
    assert len(jaxpr.jaxpr.invars) == 1
    np.testing.assert_array_equal(
        jax.core.eval_jaxpr(jaxpr.jaxpr, jaxpr.consts, jnp.ones(2))[0], jnp.full(2, 3.0)
    )


def test_kwargs_nested_outputs_and_none():
    def f(x, *, scale, name):
        return {"y": x * scale, "name": name, "none": None, "pair": (x, 3)}

    jaxpr, out_struct, static_out = filter_make_jaxpr(f)(jnp.ones(2), scale=2.0, name="n")
    struct = jax.ShapeDtypeStruct((2,), jnp.float32)
    assert out_struct == {"y": struct, "name": None, "none": None, "pair": (struct, None)}
    assert static_out == {"y": None, "name": "n", "none": None, "pair": (None, 3)}
    assert len(jaxpr.jaxpr.invars) == 1  # only the array; the Python float is static
    pair_x, y = jax.core.eval_jaxpr(jaxpr.jaxpr, jaxpr.consts, jnp.ones(2))  # sorted keys
    np.testing.assert_array_equal(pair_x, jnp.ones(2))
    np.testing.assert_array_equal(y, jnp.full(2, 2.0))
