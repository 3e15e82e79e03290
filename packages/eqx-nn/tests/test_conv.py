# ruff: noqa: B905
import dataclasses
import inspect
import itertools
import math

import jax
import jax.numpy as jnp
import jax.random as jr
import numpy as np
import pytest

from eqx_nn import Conv, Conv1d, Conv2d, Conv3d

KEY = jr.key(2)
NP_MODE = {"ZEROS": "constant", "REFLECT": "reflect", "REPLICATE": "edge", "CIRCULAR": "wrap"}


def _same_pads(sizes, kernel, stride, dilation, lower):
    pads = []
    for n, k, s, d in zip(sizes, kernel, stride, dilation, strict=False):
        total = max((-(-n // s) - 1) * s + d * (k - 1) + 1 - n, 0)
        lo = total - total // 2 if lower else total // 2
        pads.append((lo, total - lo))
    return pads


def naive_conv(x, w, b, stride, pads, dilation, groups, mode="ZEROS"):
    """Direct definition of an n-d grouped cross-correlation, one output at a time."""
    x, w = np.asarray(x, np.float64), np.asarray(w, np.float64)
    xp = np.pad(x, [(0, 0), *pads], mode=NP_MODE[mode])
    cout, cin_g, *kernel = w.shape
    out_sizes = [
        (xp.shape[i + 1] - d * (k - 1) - 1) // s + 1
        for i, (k, s, d) in enumerate(zip(kernel, stride, dilation))
    ]
    out = np.zeros((cout, *out_sizes))
    per_group = cout // groups
    for o in range(cout):
        g = o // per_group
        for pos in itertools.product(*map(range, out_sizes)):
            acc = 0.0
            for c in range(cin_g):
                for kpos in itertools.product(*map(range, kernel)):
                    idx = tuple(p * s + q * d for p, q, s, d in zip(pos, kpos, stride, dilation))
                    acc += w[(o, c, *kpos)] * xp[(g * cin_g + c, *idx)]
            out[(o, *pos)] = acc
    if b is not None:
        out = out + np.asarray(b, np.float64)
    return out


def test_conv_signature_matches_spec():
    assert list(inspect.signature(Conv).parameters) == [
        "num_spatial_dims", "in_channels", "out_channels", "kernel_size", "stride", "padding",
        "dilation", "groups", "use_bias", "padding_mode", "dtype", "key",
    ]  # fmt: skip
    params = inspect.signature(Conv2d).parameters
    assert list(params)[:6] == [
        "in_channels",
        "out_channels",
        "kernel_size",
        "stride",
        "padding",
        "dilation",
    ]
    assert params["stride"].default == (1, 1)
    assert params["padding"].default == (0, 0)
    assert inspect.signature(Conv1d).parameters["padding"].default == 0
    assert inspect.signature(Conv3d).parameters["dilation"].default == (1, 1, 1)


def test_conv_fields_order_and_static():
    fields = dataclasses.fields(Conv)
    assert [f.name for f in fields] == [
        "num_spatial_dims", "weight", "bias", "in_channels", "out_channels", "kernel_size",
        "stride", "padding", "dilation", "groups", "use_bias", "padding_mode",
    ]  # fmt: skip
    dynamic = [f.name for f in fields if not f.metadata.get("static", False)]
    assert dynamic == ["weight", "bias"]


def test_conv_init_shapes_keys_and_uniform_limit():
    conv = Conv(2, 4, 6, kernel_size=(3, 2), groups=2, key=KEY)
    assert conv.weight.shape == (6, 2, 3, 2)
    assert conv.bias.shape == (6, 1, 1)
    lim = 1 / math.sqrt(2 * 3 * 2)
    wkey, bkey = jr.split(KEY)
    np.testing.assert_array_equal(
        conv.weight, jr.uniform(wkey, (6, 2, 3, 2), minval=-lim, maxval=lim)
    )
    np.testing.assert_array_equal(conv.bias, jr.uniform(bkey, (6, 1, 1), minval=-lim, maxval=lim))


@pytest.mark.parametrize(
    ("padding", "expected"),
    [
        (1, ((1, 1), (1, 1))),
        ((1, 2), ((1, 1), (2, 2))),
        (((1, 0), (0, 2)), ((1, 0), (0, 2))),
        ("same", "SAME"),
        ("Same_Lower", "SAME_LOWER"),
        ("valid", "VALID"),
    ],
)
def test_conv_normalises_padding(padding, expected):
    conv = Conv(2, 1, 1, 3, padding=padding, key=KEY)
    assert conv.padding == expected
    assert conv.kernel_size == (3, 3)
    assert conv.stride == (1, 1)
    assert conv.dilation == (1, 1)


def test_conv_normalises_padding_mode_case():
    assert Conv(1, 1, 1, 3, padding_mode="reflect", key=KEY).padding_mode == "REFLECT"


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"padding": "full"}, "SAME, SAME_LOWER, VALID"),
        ({"padding": (1, 2, 3)}, "length 3"),
        ({"padding": ((1, 2, 3), 1)}, "pair"),
        ({"padding_mode": "mirror"}, "ZEROS, REFLECT, REPLICATE, CIRCULAR"),
        ({"stride": (1, 2, 3)}, "stride"),
        ({"kernel_size": (3,)}, "kernel_size"),
        ({"dilation": "2"}, "dilation"),
        ({"kernel_size": (3, 0)}, "`kernel_size` must be at least 1"),
        ({"stride": 0}, "`stride` must be at least 1"),
        ({"dilation": (1, -1)}, "`dilation` must be at least 1"),
    ],
)
def test_conv_rejects_bad_arguments(kwargs, match):
    args = {"kernel_size": 3, **kwargs}
    with pytest.raises(ValueError, match=match):
        Conv(2, 2, 2, key=KEY, **args)


def test_conv_rejects_channels_not_divisible_by_groups_naming_both():
    with pytest.raises(ValueError, match=r"in_channels.*=3.*groups.*=2"):
        Conv(1, 3, 4, 1, groups=2, key=KEY)


def test_conv_rejects_wrong_rank_suggesting_vmap():
    conv = Conv2d(2, 3, 3, key=KEY)
    with pytest.raises(ValueError, match="needs to have rank 3"):
        conv(jnp.ones((2, 5)))
    with pytest.raises(ValueError, match=r"needs to have rank 3.*jax.vmap"):
        conv(jnp.ones((4, 2, 5, 5)))


def test_conv_rejects_wrong_channel_count():
    with pytest.raises(ValueError, match=r"2 channels.*\(3, 5\)"):
        Conv1d(2, 3, 3, key=KEY)(jnp.ones((3, 5)))


@pytest.mark.parametrize(
    ("stride", "padding", "dilation", "groups"),
    [
        (1, 0, 1, 1),
        (2, 1, 1, 1),
        (1, ((2, 0),), 2, 1),
        (3, ((1, 2),), 1, 2),
        (2, "SAME", 1, 1),
        (2, "SAME_LOWER", 2, 2),
        (1, "VALID", 1, 1),
    ],
)
def test_conv1d_zeros_matches_naive_loop_and_lax(stride, padding, dilation, groups):
    conv = Conv1d(4, 2, 3, stride, padding, dilation, groups, key=KEY)
    x = jr.normal(jr.key(9), (4, 9))
    if isinstance(padding, str):
        pads = (
            _same_pads((9,), (3,), (stride,), (dilation,), padding == "SAME_LOWER")
            if padding != "VALID"
            else [(0, 0)]
        )
        lax_padding = padding
    else:
        pads = list(conv.padding)
        lax_padding = conv.padding
    expected = naive_conv(x, conv.weight, conv.bias, (stride,), pads, (dilation,), groups)
    np.testing.assert_allclose(conv(x), expected, rtol=1e-5, atol=1e-5)
    lax_out = (
        jax.lax.conv_general_dilated(
            x[None],
            conv.weight,
            (stride,),
            lax_padding,
            rhs_dilation=(dilation,),
            feature_group_count=groups,
        )[0]
        + conv.bias
    )
    np.testing.assert_allclose(conv(x), lax_out, rtol=1e-6, atol=1e-6)


@pytest.mark.parametrize("mode", ["REFLECT", "REPLICATE", "CIRCULAR"])
@pytest.mark.parametrize("padding", [1, ((2, 1), (0, 1)), "SAME", "SAME_LOWER", "VALID"])
def test_conv2d_padding_modes_match_naive_loop(mode, padding):
    conv = Conv2d(2, 2, (3, 2), stride=(2, 1), padding=padding, padding_mode=mode, key=KEY)
    x = jr.normal(jr.key(3), (2, 5, 4))
    if padding == "VALID":
        pads = [(0, 0), (0, 0)]
    elif isinstance(padding, str):
        pads = _same_pads((5, 4), (3, 2), (2, 1), (1, 1), padding == "SAME_LOWER")
    else:
        pads = list(conv.padding)
    expected = naive_conv(x, conv.weight, conv.bias, (2, 1), pads, (1, 1), 1, mode)
    np.testing.assert_allclose(conv(x), expected, rtol=1e-5, atol=1e-5)


def test_conv_same_padding_keeps_size_with_stride_one():
    conv = Conv2d(1, 1, 4, padding="SAME", padding_mode="circular", key=KEY)
    assert conv(jnp.ones((1, 6, 7))).shape == (1, 6, 7)


def test_conv3d_matches_lax():
    conv = Conv3d(2, 3, 2, stride=(1, 2, 1), padding=1, use_bias=False, key=KEY)
    assert conv.bias is None
    x = jr.normal(jr.key(4), (2, 3, 4, 3))
    expected = jax.lax.conv_general_dilated(x[None], conv.weight, (1, 2, 1), ((1, 1),) * 3)[0]
    np.testing.assert_allclose(conv(x), expected, rtol=1e-6)


@pytest.mark.parametrize("dtype", [jnp.float16, jnp.bfloat16, jnp.complex64])
def test_conv_keeps_dtype(dtype):
    conv = Conv1d(2, 2, 3, dtype=dtype, key=KEY)
    assert conv.weight.dtype == dtype
    assert conv(jnp.ones((2, 5), dtype)).dtype == dtype


def test_conv_works_under_jit_grad_and_vmap():
    conv = Conv1d(2, 3, 3, padding=1, key=KEY)
    xs = jr.normal(jr.key(1), (4, 2, 6))
    out = jax.jit(jax.vmap(conv))(xs)
    np.testing.assert_allclose(out[1], conv(xs[1]), rtol=1e-6)
    grad = jax.grad(lambda c: jnp.sum(c(xs[0])))(conv)
    np.testing.assert_allclose(grad.bias, np.full((3, 1), 6.0))


def test_conv_accepts_numpy_input():
    conv = Conv1d(1, 1, 2, key=KEY)
    x = np.arange(4.0, dtype=np.float32)[None]
    np.testing.assert_allclose(conv(x), conv(jnp.asarray(x)))


def _x64():
    return jax.enable_x64(True) if hasattr(jax, "enable_x64") else jax.experimental.enable_x64()


def test_conv_defaults_to_float64_under_x64():
    with _x64():
        conv = Conv1d(2, 3, 2, key=KEY)
        assert conv.weight.dtype == conv.bias.dtype == jnp.float64
        assert conv(jnp.ones((2, 4))).dtype == jnp.float64


@pytest.mark.parametrize("mode", ["ZEROS", "REFLECT", "REPLICATE", "CIRCULAR"])
@pytest.mark.parametrize("padding", [((2, 1),), "SAME", "SAME_LOWER"])
def test_conv1d_padding_modes_with_dilation_and_groups_match_naive_loop(mode, padding):
    conv = Conv1d(4, 2, 3, 2, padding, 2, 2, padding_mode=mode, key=KEY)
    x = jr.normal(jr.key(6), (4, 7))
    if isinstance(padding, str):
        pads = _same_pads((7,), (3,), (2,), (2,), padding == "SAME_LOWER")
    else:
        pads = list(padding)
    expected = naive_conv(x, conv.weight, conv.bias, (2,), pads, (2,), 2, mode)
    np.testing.assert_allclose(conv(x), expected, rtol=1e-5, atol=1e-5)
