# ruff: noqa: E501
"""The layers under jaxtyping's import hook with beartype.

The compatibility suite runs every `eqx*` package under that hook, so an annotation
narrower than what the layers accept (a NumPy scalar, a list, an integer `eps`) is a bug.
The script runs in a fresh interpreter because the hook only affects modules imported
after it is installed.
"""

import subprocess
import sys

import pytest

_SCRIPT = r"""
import warnings
from jaxtyping import install_import_hook
with install_import_hook(["eqx_tree", "eqx_module", "eqx_filter", "eqx_nn"], "beartype.beartype"):
    import eqx_filter
    import eqx_nn as nn
    from eqx_nn import _attention
    from eqx_nn import *  # the layer modules load on first use: load them under the hook
import jax, jax.numpy as jnp, jax.random as jr, numpy as np
K = jr.key(0)
x4, s34 = jnp.ones(4), jnp.ones((3, 4))
nn.Linear(3, 2, key=K)(np.ones(3, np.float32))
nn.Linear("scalar", "scalar", key=jr.PRNGKey(0))(1.0)
nn.Linear(3, 2, dtype=jnp.complex64, key=K)(jnp.ones(3, jnp.complex64))
nn.Identity(1, a=2)(5)
nn.MLP(2, 3, 4, 3, scan=True, key=K)(jnp.ones(2))
nn.MLP(2, "scalar", 4, 2, activation=nn.PReLU(), final_activation=jnp.tanh, key=K)(jnp.ones(2))
nn.Conv2d(2, 4, 3, padding="same", padding_mode="circular", key=K)(jnp.ones((2, 5, 5)))
nn.Conv(1, 2, 4, [3], stride=[2], padding=[(1, 2)], dilation=[1], groups=2, key=K)(np.ones((2, 9), np.float32))
nn.ConvTranspose2d(2, 4, 3, 2, 1, 1, key=K)(jnp.ones((2, 4, 4)))
nn.ConvTranspose1d(2, 2, 3, stride=2, padding="SAME", padding_mode="CIRCULAR", key=K)(jnp.ones((2, 4)))
nn.MaxPool2d(2, 2, use_ceil=True)(jnp.ones((1, 5, 5)))
nn.AvgPool1d(3, 2, 1)(np.ones((1, 5), np.float32))
nn.Pool(np.float32(0), jax.lax.add, 1, 2)(jnp.ones((1, 5)))
nn.AdaptiveMaxPool2d((2, 3))(jnp.ones((1, 5, 7)))
nn.AdaptivePool(2, 1, jnp.sum)(jnp.ones((1, 5)))
nn.Dropout(np.float32(0.3))(x4, key=K)
nn.Dropout(jnp.array(0.3), inference=np.bool_(False))(np.ones(4), key=K)
nn.Embedding(5, 3, key=K)(2)
nn.Embedding(weight=np.ones((5, 3)))(jnp.array(2))
nn.RotaryPositionalEmbedding(4, theta=500)(s34)
nn.RotaryPositionalEmbedding.precompute_freqs_cis(4, 3, 10000.0, jnp.float32)
mha = nn.MultiheadAttention(2, 4, dropout_p=0.1, key=K)
mha(s34, s34, s34, np.ones((2, 3, 3), bool), key=K, process_heads=lambda q, k, v: (q, k, v))
mha(s34, s34, s34, inference=True)
_attention.dot_product_attention(s34, s34, s34, jnp.ones((3, 3), bool), nn.Dropout(0.5), key=K)
nn.GRUCell(3, 4, use_bias=False, key=K)(np.ones(3, np.float32), jnp.zeros(4))
nn.LSTMCell(3, 4, key=K)(jnp.ones(3), [jnp.zeros(4), jnp.zeros(4)])
nn.PReLU(jnp.full((3,), 0.1))(jnp.ones(3), key=None)
nn.LayerNorm([2, 3], eps=0)(jnp.ones((2, 3)), None)
nn.RMSNorm(4, eps=1e-6)(x4)
nn.GroupNorm(2, channelwise_affine=False)(jnp.ones((4, 3)))
eqx_filter.filter_grad(lambda m, x: m(x).sum())(nn.MLP(2, 3, 4, 2, key=K), jnp.ones(2))
import eqx_tree
# `where` through a type-annotated property: placeholders fail its return check.
assert eqx_tree.tree_at(lambda d: d.deterministic, nn.Dropout(0.5), True).inference is True
# The hook did instrument the layers: a wrong argument type is caught.
try:
    nn.Linear(3, 2, key=jr.key(0))("not an array")
except TypeError as error:
    assert type(error).__name__ == "TypeCheckError", error
else:
    raise AssertionError("the layers were imported without the import hook")
print("ok")
"""


def test_layers_pass_the_jaxtyping_beartype_import_hook():
    pytest.importorskip("jaxtyping")
    pytest.importorskip("beartype")
    result = subprocess.run(
        [sys.executable, "-c", _SCRIPT], capture_output=True, text=True, check=False
    )
    assert result.returncode == 0, result.stderr[-3000:]
    assert result.stdout.strip() == "ok"
