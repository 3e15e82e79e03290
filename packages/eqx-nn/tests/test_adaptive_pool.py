import dataclasses
import inspect
import itertools

import jax
import jax.numpy as jnp
import jax.random as jr
import numpy as np
import pytest

from eqx_nn import (
    AdaptiveAvgPool1d,
    AdaptiveAvgPool2d,
    AdaptiveAvgPool3d,
    AdaptiveMaxPool1d,
    AdaptiveMaxPool2d,
    AdaptiveMaxPool3d,
    AdaptivePool,
)


def _bins(size, target):
    q, r = divmod(size, target)
    edges = [0]
    for i in range(target):
        edges.append(edges[-1] + q + (1 if i < r else 0))
    return list(itertools.pairwise(edges))


def test_adaptive_pool_signature_and_fields():
    assert list(inspect.signature(AdaptivePool).parameters) == [
        "target_shape",
        "num_spatial_dims",
        "operation",
    ]
    fields = dataclasses.fields(AdaptivePool)
    assert [f.name for f in fields] == ["target_shape", "operation"]
    assert fields[0].metadata.get("static") is True
    assert not fields[1].metadata.get("static", False)
    assert list(inspect.signature(AdaptiveMaxPool2d).parameters) == ["target_shape"]


def test_adaptive_bins_first_r_are_one_longer():
    x = jnp.arange(7.0)[None]
    # size 7, target 3: bins of 3, 2, 2
    np.testing.assert_allclose(AdaptiveAvgPool1d(3)(x), [[1.0, 3.5, 5.5]])
    np.testing.assert_allclose(AdaptiveMaxPool1d(3)(x), [[2.0, 4.0, 6.0]])


def test_adaptive_avg_pool2d_matches_naive_bins():
    x = np.asarray(jr.normal(jr.key(0), (2, 7, 5)))
    out = AdaptiveAvgPool2d((3, 2))(jnp.asarray(x))
    expected = np.zeros((2, 3, 2))
    for i, (a, b) in enumerate(_bins(7, 3)):
        for j, (c, d) in enumerate(_bins(5, 2)):
            expected[:, i, j] = x[:, a:b, c:d].mean(axis=(1, 2))
    np.testing.assert_allclose(out, expected, rtol=1e-5, atol=1e-6)


def test_adaptive_max_pool3d_shape_and_value():
    x = jr.normal(jr.key(1), (1, 4, 5, 6))
    out = AdaptiveMaxPool3d(2)(x)
    assert out.shape == (1, 2, 2, 2)
    np.testing.assert_allclose(out[0, 1, 1, 1], x[0, 2:, 3:, 3:].max())
    assert AdaptiveAvgPool3d((1, 1, 1))(x).shape == (1, 1, 1, 1)


def test_adaptive_pool_target_shape_validation():
    with pytest.raises(ValueError, match="target_shape"):
        AdaptivePool((2, 2, 2), 2, jnp.mean)
    assert AdaptivePool(3, 2, jnp.mean).target_shape == (3, 3)


def test_adaptive_pool_rejects_wrong_rank():
    with pytest.raises(ValueError, match="Expected input with 2 dimensions"):
        AdaptiveAvgPool2d(2)(jnp.ones((4, 4)))


def test_adaptive_pool_rejects_input_smaller_than_target():
    with pytest.raises(ValueError, match=r"size 2.*target size 3"):
        AdaptiveAvgPool1d(3)(jnp.ones((1, 2)))


def test_adaptive_pool_works_under_jit_grad_and_vmap():
    pool = AdaptiveAvgPool1d(2)
    xs = jr.normal(jr.key(2), (3, 1, 4))
    np.testing.assert_allclose(jax.jit(jax.vmap(pool))(xs)[2], pool(xs[2]), rtol=1e-6)
    grad = jax.grad(lambda x: jnp.sum(pool(x)))(jnp.ones((1, 5)))
    np.testing.assert_allclose(grad, [[1 / 3, 1 / 3, 1 / 3, 1 / 2, 1 / 2]], rtol=1e-6)
    assert AdaptiveAvgPool1d(2)(jnp.ones((1, 4), jnp.float16)).dtype == jnp.float16
