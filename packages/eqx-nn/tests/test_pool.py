# ruff: noqa: B905
import dataclasses
import inspect
import itertools

import jax
import jax.numpy as jnp
import jax.random as jr
import numpy as np
import pytest

from eqx_nn import AvgPool1d, AvgPool2d, AvgPool3d, MaxPool1d, MaxPool2d, MaxPool3d, Pool


def naive_pool(x, kernel, stride, pads, reduce, fill):
    """Direct loop: pad with `fill`, then reduce every window."""
    x = np.asarray(x, np.float64)
    xp = np.pad(x, [(0, 0), *pads], constant_values=fill)
    sizes = [(xp.shape[i + 1] - k) // s + 1 for i, (k, s) in enumerate(zip(kernel, stride))]
    out = np.zeros((x.shape[0], *sizes))
    for c in range(x.shape[0]):
        for pos in itertools.product(*map(range, sizes)):
            window = xp[(c, *(slice(p * s, p * s + k) for p, s, k in zip(pos, stride, kernel)))]
            out[(c, *pos)] = reduce(window)
    return out


def _ceil_pads(sizes, kernel, stride, pads):
    out = []
    for n, k, s, (lo, hi) in zip(sizes, kernel, stride, pads, strict=False):
        out.append((lo, hi + s) if (n + lo + hi - k) % s else (lo, hi))
    return out


def test_pool_signature_and_fields():
    assert list(inspect.signature(Pool).parameters) == [
        "init", "operation", "num_spatial_dims", "kernel_size", "stride", "padding", "use_ceil",
    ]  # fmt: skip
    fields = dataclasses.fields(Pool)
    assert [f.name for f in fields] == [
        "init", "operation", "num_spatial_dims", "kernel_size", "stride", "padding", "use_ceil",
    ]  # fmt: skip
    assert [f.name for f in fields if not f.metadata.get("static", False)] == ["init", "operation"]
    assert list(inspect.signature(MaxPool2d).parameters) == [
        "kernel_size",
        "stride",
        "padding",
        "use_ceil",
    ]


def test_avg_and_max_pool_inits_and_operations():
    avg, mx = AvgPool1d(2), MaxPool1d(2)
    assert avg.init == 0
    assert type(avg.init) is int
    assert avg.operation is jax.lax.add
    assert mx.init == -np.inf
    assert type(mx.init) is float
    assert mx.operation is jax.lax.max


@pytest.mark.parametrize(
    ("kernel", "stride", "padding", "use_ceil"),
    [
        (2, 1, 0, False),
        (3, 2, 1, False),
        (2, 2, ((1, 0),), False),
        (3, 2, 0, True),
        (2, 3, 1, True),
    ],
)
def test_max_pool1d_matches_naive_loop(kernel, stride, padding, use_ceil):
    x = jr.normal(jr.key(0), (2, 8))
    pool = MaxPool1d(kernel, stride, padding, use_ceil)
    pads = list(pool.padding)
    if use_ceil:
        pads = _ceil_pads((8,), (kernel,), (stride,), pads)
    expected = naive_pool(x, (kernel,), (stride,), pads, np.max, -np.inf)
    np.testing.assert_allclose(pool(x), expected, rtol=1e-6)


@pytest.mark.parametrize("use_ceil", [False, True])
def test_avg_pool2d_counts_padding_in_divisor_and_matches_naive_loop(use_ceil):
    x = jr.normal(jr.key(1), (2, 5, 6))
    pool = AvgPool2d((2, 3), stride=(2, 2), padding=(1, 0), use_ceil=use_ceil)
    pads = [(1, 1), (0, 0)]
    if use_ceil:
        pads = _ceil_pads((5, 6), (2, 3), (2, 2), pads)
    expected = naive_pool(x, (2, 3), (2, 2), pads, lambda w: w.sum() / 6, 0.0)
    np.testing.assert_allclose(pool(x), expected, rtol=1e-5, atol=1e-6)


def test_use_ceil_adds_a_partial_window():
    x = jnp.arange(5.0)[None]
    assert MaxPool1d(2, 2)(x).shape == (1, 2)
    np.testing.assert_array_equal(MaxPool1d(2, 2, use_ceil=True)(x), [[1.0, 3.0, 4.0]])


def test_pool3d_shapes():
    x = jnp.ones((1, 4, 4, 4))
    assert MaxPool3d(2, 2)(x).shape == (1, 2, 2, 2)
    np.testing.assert_allclose(AvgPool3d(2, 2)(x), np.ones((1, 2, 2, 2)))


def test_generic_pool_with_custom_operation():
    pool = Pool(0, jax.lax.add, 1, 2, 2)
    np.testing.assert_array_equal(pool(jnp.arange(4.0)[None]), [[1.0, 5.0]])


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"kernel_size": (2, 2)}, "kernel_size"),
        ({"kernel_size": 2, "stride": (1, 2)}, "stride"),
        ({"kernel_size": 2, "padding": ((1, 2, 3),)}, "padding"),
        ({"kernel_size": 2, "padding": (1, 1)}, "padding"),
        ({"kernel_size": "2"}, "kernel_size"),
        ({"kernel_size": 0}, "`kernel_size` must be at least 1"),
        ({"kernel_size": 2, "stride": 0}, "`stride` must be at least 1"),
    ],
)
def test_pool_rejects_bad_arguments(kwargs, match):
    with pytest.raises(ValueError, match=match):
        MaxPool1d(**kwargs)


def test_pool_rejects_wrong_rank_with_value_error():
    with pytest.raises(ValueError, match=r"rank 3.*\(4, 4\)"):
        MaxPool2d(2)(jnp.ones((4, 4)))
    with pytest.raises(ValueError, match=r"jax\.vmap"):
        MaxPool1d(2)(jnp.ones((2, 3, 4)))


def test_pool_rejects_padding_larger_than_kernel():
    with pytest.raises(RuntimeError, match="Paddings should be less than the size of the kernel"):
        MaxPool1d(2, padding=3)(jnp.ones((1, 8)))


@pytest.mark.parametrize("dtype", [jnp.float16, jnp.bfloat16, jnp.float32])
def test_pools_keep_dtype(dtype):
    x = jnp.ones((1, 4), dtype)
    assert MaxPool1d(2)(x).dtype == dtype
    assert AvgPool1d(2)(x).dtype == dtype


def test_pools_work_under_jit_grad_and_vmap():
    pool = AvgPool1d(2, 2)
    xs = jr.normal(jr.key(2), (3, 2, 4))
    np.testing.assert_allclose(jax.jit(jax.vmap(pool))(xs)[1], pool(xs[1]), rtol=1e-6)
    grad = jax.grad(lambda x: jnp.sum(MaxPool1d(2, 2)(x)))(jnp.array([[1.0, 3.0, 2.0, 0.0]]))
    np.testing.assert_array_equal(grad, [[0.0, 1.0, 1.0, 0.0]])


def test_generic_pool_accepts_a_numpy_scalar_init():
    x = jnp.array([[1.0, 2.0, 3.0, 4.0]])
    pool = Pool(np.float32(0.0), jax.lax.add, 1, 2, stride=2)
    np.testing.assert_array_equal(pool(x), [[3.0, 7.0]])


def test_pool_float64_input_keeps_dtype():
    ctx = jax.enable_x64(True) if hasattr(jax, "enable_x64") else jax.experimental.enable_x64()
    with ctx:
        x = jnp.arange(6.0).reshape(1, 6)
        assert x.dtype == jnp.float64
        np.testing.assert_array_equal(AvgPool1d(2, 2)(x), [[0.5, 2.5, 4.5]])
        assert MaxPool1d(2, 2)(x).dtype == jnp.float64
