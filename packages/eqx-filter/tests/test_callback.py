"""filter_pure_callback."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from eqx_filter import filter_jit, filter_pure_callback


def host(x, mode, *, offset):
    return {"y": np.sin(x) + offset, "mode": mode}


def test_arrays_cross_and_non_arrays_are_closed_over():
    x = jnp.array([0.1, 0.2])
    expected = {"y": jax.ShapeDtypeStruct((2,), jnp.float32), "mode": "m"}
    out = filter_pure_callback(host, x, "m", offset=1.0, result_shape_dtypes=expected)
    np.testing.assert_allclose(out["y"], np.sin([0.1, 0.2]) + 1.0, rtol=1e-6)
    assert out["mode"] == "m"


def test_works_under_jit():
    expected = {"y": jax.ShapeDtypeStruct((2,), jnp.float32), "mode": "m"}
    f = filter_jit(
        lambda x: filter_pure_callback(host, x, "m", offset=0.0, result_shape_dtypes=expected)
    )
    np.testing.assert_allclose(f(jnp.zeros(2))["y"], np.zeros(2))


def test_mismatched_static_outputs_raise():
    expected = {"y": jax.ShapeDtypeStruct((2,), jnp.float32), "mode": "other"}
    # Users see it inside JAX's callback error, a RuntimeError.
    with pytest.raises(RuntimeError, match="Callback did not return matching static elements"):
        out = filter_pure_callback(
            host, jnp.zeros(2), "m", offset=0.0, result_shape_dtypes=expected
        )
        jax.block_until_ready(out)


def test_vmap_method_is_forwarded():
    expected = {"y": jax.ShapeDtypeStruct((2,), jnp.float32), "mode": "m"}

    def f(x):
        return filter_pure_callback(
            host, x, "m", offset=0.0, result_shape_dtypes=expected, vmap_method="sequential"
        )["y"]

    np.testing.assert_allclose(jax.vmap(f)(jnp.zeros((3, 2))), np.zeros((3, 2)))


def test_sharding_is_forwarded_and_nested_modules_cross():
    from eqx_module import Module

    class Box(Module):
        value: jax.Array
        tag: str

    sharding = jax.sharding.SingleDeviceSharding(jax.devices()[0])
    seen = []

    def host(box):
        seen.append(box.tag)
        return Box(np.asarray(box.value) * 2, box.tag)

    box = Box(jnp.arange(3.0), "t")
    expected = Box(jax.ShapeDtypeStruct((3,), jnp.float32), "t")
    out = filter_jit(
        lambda b: filter_pure_callback(host, b, result_shape_dtypes=expected, sharding=sharding)
    )(box)
    np.testing.assert_array_equal(out.value, jnp.arange(3.0) * 2)
    assert out.tag == "t" and seen == ["t"]


def test_an_array_in_result_shape_dtypes_stands_for_its_shape_and_dtype():
    out = filter_pure_callback(
        lambda x, tag: (np.asarray(x) * 2, tag),
        jnp.ones(2),
        "t",
        result_shape_dtypes=(np.zeros(2, np.float32), "t"),
    )
    np.testing.assert_array_equal(out[0], jnp.full(2, 2.0))
    assert out[1] == "t"
