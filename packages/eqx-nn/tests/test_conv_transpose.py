# ruff: noqa: E501
import dataclasses
import inspect
import itertools

import jax
import jax.numpy as jnp
import jax.random as jr
import numpy as np
import pytest

from eqx_nn import Conv, ConvTranspose, ConvTranspose1d, ConvTranspose2d, ConvTranspose3d

KEY = jr.key(3)


def _spec_pads(n_in, k, s, d, a, padding):
    """(p_lo, p_hi, a) per the documented meaning of each padding form."""
    if padding == "VALID":
        return 0, 0, a
    if isinstance(padding, str):
        t = d * (k - 1) - s + a + 1
        a, t = max(-t, 0), max(t, 0)
        p_lo = (t + (padding == "SAME_LOWER")) // 2
        return p_lo, t - p_lo, a
    return padding[0], padding[1], a


def naive_conv_transpose_1d(x, w, b, k, s, d, a, padding, groups):
    """Scatter definition: z[o, i*s - p_lo + d*(k-1-j)] += W[o, c, j] * x[c, i]."""
    x, w = np.asarray(x, np.float64), np.asarray(w, np.float64)
    _cin, n = x.shape
    cout, cin_g, _ = w.shape
    p_lo, p_hi, a = _spec_pads(n, k, s, d, a, padding)
    length = (n - 1) * s - p_lo - p_hi + d * (k - 1) + a + 1
    z = np.zeros((cout, length))
    per_group = cout // groups
    for o, c_local, i, j in itertools.product(range(cout), range(cin_g), range(n), range(k)):
        t = i * s - p_lo + d * (k - 1 - j)
        if 0 <= t < length:
            z[o, t] += w[o, c_local, j] * x[(o // per_group) * cin_g + c_local, i]
    return z + np.asarray(b, np.float64)


def test_conv_transpose_signatures_match_spec():
    assert list(inspect.signature(ConvTranspose).parameters) == [
        "num_spatial_dims", "in_channels", "out_channels", "kernel_size", "stride", "padding",
        "output_padding", "dilation", "groups", "use_bias", "padding_mode", "dtype", "key",
    ]  # fmt: skip
    for cls in (ConvTranspose1d, ConvTranspose2d, ConvTranspose3d):
        names = list(inspect.signature(cls).parameters)
        assert names[:7] == [
            "in_channels", "out_channels", "kernel_size", "stride", "output_padding", "padding",
            "dilation",
        ]  # fmt: skip
    assert inspect.signature(ConvTranspose2d).parameters["output_padding"].default == (0, 0)


def test_conv_transpose_fields_put_output_padding_after_padding():
    names = [f.name for f in dataclasses.fields(ConvTranspose)]
    assert names == [
        "num_spatial_dims", "weight", "bias", "in_channels", "out_channels", "kernel_size",
        "stride", "padding", "output_padding", "dilation", "groups", "use_bias", "padding_mode",
    ]  # fmt: skip


def test_conv_transpose_1d_positional_order_is_output_padding_then_padding():
    layer = ConvTranspose1d(1, 1, 3, 2, 1, 0, key=KEY)
    assert layer.output_padding == (1,)
    assert layer.padding == ((0, 0),)


def test_conv_transpose_init_matches_conv():
    t = ConvTranspose(2, 4, 2, 3, groups=2, key=KEY)
    c = Conv(2, 4, 2, 3, groups=2, key=KEY)
    np.testing.assert_array_equal(t.weight, c.weight)
    np.testing.assert_array_equal(t.bias, c.bias)


@pytest.mark.parametrize(
    ("k", "s", "d", "a", "padding", "groups"),
    [
        (3, 1, 1, 0, (0, 0), 1),
        (3, 2, 1, 1, (1, 1), 1),
        (2, 3, 2, 2, (0, 2), 2),
        (3, 2, 1, 0, "SAME", 1),
        (4, 2, 1, 1, "SAME_LOWER", 2),
        (1, 3, 1, 0, "SAME", 1),
        (3, 2, 1, 1, "VALID", 1),
    ],
)
def test_conv_transpose1d_matches_naive_scatter(k, s, d, a, padding, groups):
    pad_arg = padding if isinstance(padding, str) else (padding,)
    layer = ConvTranspose1d(4, 2, k, s, a, pad_arg, d, groups, key=KEY)
    x = jr.normal(jr.key(8), (4, 5))
    expected = naive_conv_transpose_1d(x, layer.weight, layer.bias, k, s, d, a, padding, groups)
    out = layer(x)
    assert out.shape == expected.shape
    np.testing.assert_allclose(out, expected, rtol=1e-5, atol=1e-5)


def test_conv_transpose_same_gives_input_times_stride_minus_output_padding():
    layer = ConvTranspose2d(1, 1, 3, stride=2, output_padding=1, padding="SAME", key=KEY)
    assert layer(jnp.ones((1, 4, 5))).shape == (1, 7, 9)


def test_conv_transpose_matches_lax_conv_transpose_for_explicit_padding():
    layer = ConvTranspose2d(2, 3, (3, 2), stride=(2, 1), padding=((1, 0), (0, 1)), key=KEY)
    x = jr.normal(jr.key(1), (2, 4, 3))
    flipped = layer.weight  # cross-correlation with the stored weight, no flip
    pads = ((3 - 1 - 1, 3 - 1 - 0), (2 - 1 - 0, 2 - 1 - 1))
    expected = (
        jax.lax.conv_transpose(
            x[None], flipped, (2, 1), pads, dimension_numbers=("NCHW", "OIHW", "NCHW")
        )[0]
        + layer.bias
    )
    np.testing.assert_allclose(layer(x), expected, rtol=1e-5, atol=1e-6)


def _jacobian(f, shape):
    return jax.jacobian(lambda v: f(v).reshape(-1))(jnp.zeros(shape)).reshape(
        -1, int(np.prod(shape))
    )


@pytest.mark.parametrize(
    ("padding", "mode", "stride"),
    [((1, 1), "ZEROS", 2), ((0, 2), "ZEROS", 1), ("SAME", "ZEROS", 2), ("SAME", "CIRCULAR", 2),
     ("SAME_LOWER", "CIRCULAR", 3), ("SAME", "CIRCULAR", 1)],
)  # fmt: skip
def test_conv_transpose_is_the_jacobian_transpose_of_the_matching_conv(padding, mode, stride):
    n, k = 6, 4
    pad_arg = padding if isinstance(padding, str) else (padding,)
    conv = Conv(1, 2, 3, k, stride, pad_arg, padding_mode=mode, use_bias=False, key=KEY)
    m = conv(jnp.zeros((2, n))).shape[1]
    convt_len = ConvTranspose(1, 3, 2, k, stride, pad_arg, use_bias=False, key=KEY)
    a = n - convt_len(jnp.zeros((3, m))).shape[1]
    assert 0 <= a < stride
    convt = ConvTranspose(
        1, 3, 2, k, stride, pad_arg, a, padding_mode=mode, use_bias=False, key=KEY
    )
    # Transposition swaps the channel axes and flips the kernel (ConvTranspose does not flip).
    convt = jax.tree_util.tree_map(
        lambda w: (
            jnp.flip(jnp.swapaxes(conv.weight, 0, 1), -1)
            if getattr(w, "shape", None) == (2, 3, k)
            else w
        ),
        convt,
    )
    j_conv = _jacobian(conv, (2, n))
    j_convt = _jacobian(convt, (3, m))
    np.testing.assert_allclose(j_convt, j_conv.T, rtol=1e-5, atol=1e-6)


def test_conv_transpose_all_ones_weights_give_transposed_jacobian_in_2d():
    conv = Conv(2, 2, 2, 3, 2, 1, use_bias=False, key=KEY)
    convt = ConvTranspose(2, 2, 2, 3, 2, 1, 1, use_bias=False, key=KEY)
    ones = lambda tree: jax.tree_util.tree_map(
        lambda w: jnp.ones_like(w) if hasattr(w, "shape") else w, tree
    )
    conv, convt = ones(conv), ones(convt)
    j_conv = _jacobian(conv, (2, 6, 6))
    j_convt = _jacobian(convt, (2, 3, 3))
    np.testing.assert_allclose(j_convt, j_conv.T)


def test_conv_transpose_rejects_output_padding_not_below_stride():
    with pytest.raises(ValueError, match=r"output_padding.*\(2,\).*stride.*\(2,\)"):
        ConvTranspose1d(1, 1, 3, stride=2, output_padding=2, key=KEY)


@pytest.mark.parametrize("mode", ["REFLECT", "replicate"])
def test_conv_transpose_reflect_and_replicate_are_not_implemented(mode):
    with pytest.raises(NotImplementedError, match="padding_mode"):
        ConvTranspose1d(1, 1, 3, padding_mode=mode, key=KEY)


@pytest.mark.parametrize(("padding", "output_padding"), [(1, 0), ("VALID", 0), ("SAME", 1)])
def test_conv_transpose_circular_needs_same_padding_and_no_output_padding(padding, output_padding):
    with pytest.raises(NotImplementedError, match="CIRCULAR"):
        ConvTranspose1d(1, 1, 3, 2, output_padding, padding, padding_mode="circular", key=KEY)


def test_conv_transpose_rejects_wrong_rank():
    with pytest.raises(ValueError, match=r"needs to have rank 2.*jax.vmap"):
        ConvTranspose1d(1, 1, 3, key=KEY)(jnp.ones((2, 1, 4)))


@pytest.mark.parametrize("dtype", [jnp.float16, jnp.complex64])
def test_conv_transpose_keeps_dtype(dtype):
    layer = ConvTranspose1d(2, 2, 3, 2, dtype=dtype, key=KEY)
    assert layer(jnp.ones((2, 4), dtype)).dtype == dtype


def test_conv_transpose3d_output_size_formula():
    layer = ConvTranspose3d(1, 2, (2, 3, 1), stride=(2, 1, 3), output_padding=(1, 0, 2),
                            padding=((0, 1), (1, 1), (0, 0)), dilation=(1, 2, 1), key=KEY)  # fmt: skip
    # (n-1)s - p_lo - p_hi + d(k-1) + a + 1
    assert layer(jnp.ones((1, 3, 4, 2))).shape == (
        2,
        2 * 2 - 1 + 1 + 1 + 1,
        3 - 2 + 4 + 1,
        3 + 2 + 1,
    )


def test_conv_transpose_works_under_jit_grad_and_vmap():
    layer = ConvTranspose1d(2, 3, 3, stride=2, key=KEY)
    xs = jr.normal(jr.key(2), (3, 2, 4))
    out = jax.jit(jax.vmap(layer))(xs)
    np.testing.assert_allclose(out[0], layer(xs[0]), rtol=1e-6)
    grad = jax.grad(lambda m: jnp.sum(m(xs[0])))(layer)
    np.testing.assert_allclose(grad.bias, np.full((3, 1), out.shape[-1]))


def _x64():
    return jax.enable_x64(True) if hasattr(jax, "enable_x64") else jax.experimental.enable_x64()


def test_conv_transpose_defaults_to_float64_under_x64():
    with _x64():
        layer = ConvTranspose1d(2, 3, 2, stride=2, key=KEY)
        assert layer.weight.dtype == layer.bias.dtype == jnp.float64
        assert layer(jnp.ones((2, 4))).dtype == jnp.float64


@pytest.mark.parametrize(
    ("padding", "stride", "dilation"),
    [("SAME", 2, 1), ("SAME", 3, 2), ("SAME", 1, 1), ("VALID", 2, 1), ("VALID", 2, 2)],
)
def test_conv_transpose_string_padding_matches_lax_conv_transpose(padding, stride, dilation):
    # lax.conv_transpose with transpose_kernel=False is the same input-dilated
    # cross-correlation; its SAME/VALID pads agree with the documented formulas whenever the
    # stride is at most the dilated kernel size.
    layer = ConvTranspose1d(2, 3, 3, stride, padding=padding, dilation=dilation, key=KEY)
    x = jr.normal(jr.key(5), (2, 5))
    expected = (
        jax.lax.conv_transpose(
            x[None], layer.weight, (stride,), padding, rhs_dilation=(dilation,),
            dimension_numbers=("NCH", "OIH", "NCH"),
        )[0]
        + layer.bias
    )  # fmt: skip
    np.testing.assert_allclose(layer(x), expected, rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize(
    "kwargs",
    [{"kernel_size": 0}, {"kernel_size": 2, "stride": 0}, {"kernel_size": 2, "dilation": 0}],
)
def test_conv_transpose_rejects_non_positive_sizes(kwargs):
    name = "dilation" if "dilation" in kwargs else "stride" if "stride" in kwargs else "kernel_size"
    with pytest.raises(ValueError, match=f"`{name}` must be at least 1"):
        ConvTranspose(1, 1, 1, key=KEY, **kwargs)
