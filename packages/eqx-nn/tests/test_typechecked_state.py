# ruff: noqa: E501
"""State, containers, wrappers and inference mode under jaxtyping's import hook.

The compatibility suite runs every `eqx*` package under the hook with beartype, so an
annotation narrower than what these accept (an integer `eps` or `momentum`, a NumPy
bool `inference`, a NumPy input) is a bug. The script runs in a fresh interpreter
because the hook only affects modules imported after it is installed.
"""

import subprocess
import sys

import pytest

_SCRIPT = r"""
from jaxtyping import install_import_hook
with install_import_hook(["eqx_tree", "eqx_module", "eqx_filter", "eqx_nn"], "beartype.beartype"):
    import eqx_filter
    import eqx_nn as nn
    from eqx_nn import *  # the layer modules load on first use: load them under the hook
import jax, jax.numpy as jnp, jax.random as jr, numpy as np
K1, K2 = jr.split(jr.key(0))

def batched(layer, x, state, **kwargs):
    call = lambda xi, st: layer(xi, st, **kwargs)
    return jax.vmap(call, axis_name="batch", in_axes=(0, None), out_axes=(0, None))(x, state)

for mode in ("ema", "batch"):
    bn, state = nn.make_with_state(nn.BatchNorm)(3, "batch", eps=0, momentum=1, inference=np.bool_(False), mode=mode)
    _, state = batched(bn, np.ones((4, 3, 2), np.float32), state)
    _, state = batched(bn, jnp.ones((4, 3)), state, inference=np.bool_(True))
    _, state = batched(nn.inference_mode(bn), jnp.ones((4, 3)), state)
bn, state = nn.make_with_state(nn.BatchNorm)(3, ["outer"], channelwise_affine=False, dtype=jnp.float16, mode="batch")
jax.vmap(bn, axis_name="outer", in_axes=(0, None), out_axes=(0, None))(jnp.ones((2, 3)), state)

sn, state = nn.make_with_state(nn.SpectralNorm)(nn.Conv1d(2, 3, 3, key=K1), "weight", num_power_iterations=2, eps=0, inference=np.bool_(False), key=K2)
_, state = sn(np.ones((2, 5), np.float32), state, key=K1)
_, state = sn(jnp.ones((2, 5)), state, inference=True)

nn.WeightNorm(nn.Linear(3, 2, key=K1))(np.ones(3, np.float32))
nn.WeightNorm(nn.Conv1d(2, 3, 3, key=K1), "weight", axis=None)(jnp.ones((2, 5)))

seq, state = nn.make_with_state(nn.Sequential)([nn.Linear(2, 3, key=K1), nn.Lambda(jax.nn.relu), nn.BatchNorm(3, "batch", mode="batch")])
seq[0], seq[1:], len(seq), list(seq), seq.is_stateful()
_, state = jax.vmap(lambda x, s: seq(x, s, key=K2), axis_name="batch", in_axes=(0, None), out_axes=(0, None))(jnp.ones((4, 2)), state)
nn.Sequential((nn.Linear(2, 2, key=K1), nn.Identity()))(np.ones(2, np.float32), key=K2)

shared = nn.Shared((nn.Linear(2, 2, key=K1), nn.Linear(2, 2, key=K2)), lambda p: p[1].weight, lambda p: p[0].weight)
shared()
shared(key=K1)

index = nn.StateIndex(np.zeros(2, np.float32))
counter = nn.StateIndex(0)
state = nn.State({"a": index, "b": [counter]})
state.get(index)
state = state.set(index, np.ones(2, np.float32))
state = state.set(counter, 1)
sub = state.substate([counter])
state = state.update(sub)
repr(state)
nn.delete_init_state({"a": index})
model, state = eqx_filter.filter_jit(nn.make_with_state(nn.Sequential))([nn.BatchNorm(2, "batch", mode="ema")])
nn.inference_mode([model, None, 3], value=False)
# The hook did instrument the layers: a wrong argument type is caught.
try:
    nn.Linear(3, 2, key=jr.key(0))("not an array")
except TypeError as error:
    assert type(error).__name__ == "TypeCheckError", error
else:
    raise AssertionError("the layers were imported without the import hook")
print("ok")
"""


def test_state_containers_and_wrappers_pass_the_jaxtyping_beartype_import_hook() -> None:
    pytest.importorskip("jaxtyping")
    pytest.importorskip("beartype")
    result = subprocess.run(
        [sys.executable, "-W", "error", "-c", _SCRIPT], capture_output=True, text=True, check=False
    )
    assert result.returncode == 0, result.stderr[-3000:]
    assert result.stdout.strip() == "ok"
