"""The filtering API and transforms accept what they document under the hook.

The compatibility suite runs jaxtyping's import hook with beartype over all eqx packages,
so an annotation narrower than the behaviour is a bug. This runs typical uses of
`filter`/`partition`/`combine` and every transform except `filter_jit` (whose own tests
cover it) in a fresh interpreter with the hook installed over `eqx_filter`.
"""

import subprocess
import sys

_SCRIPT = """
import functools
from typing import Any
from jaxtyping import install_import_hook
with install_import_hook(["eqx_filter"], "beartype.beartype"):
    import eqx_filter as F
    from eqx_filter import *  # the modules load on first use: load them under the hook
import jax, jax.numpy as jnp, numpy as np
from eqx_module import Module

class Lin(Module):
    w: Any
    act: Any
    def __call__(self, x):
        return jnp.sum(self.act(self.w * x))

m = Lin(jnp.ones(2), jnp.tanh)
x = jnp.ones(2)
sds = jax.ShapeDtypeStruct((2,), jnp.float32)
F.filter(m, F.is_array)
F.filter(m, True, inverse=True, replace=0, is_leaf=lambda z: False)
F.filter(m, Lin(True, False))
F.filter([1], [np.bool_(True)])
F.combine(*F.partition(m, F.is_array, replace=None, is_leaf=None))
F.combine({"a": None}, {"a": 1}, is_leaf=lambda z: False)
F.if_array(0)(x)
F.filter_grad(lambda m, x: m(x))(m, x)
F.filter_grad(m)(x)
F.filter_grad(has_aux=True)(lambda x: (jnp.sum(x), 1))(x)
F.filter_value_and_grad(functools.partial(lambda k, x: jnp.sum(x * k), 2.0))(x)
F.filter_jvp(lambda x: x, (x,), (x,))
F.filter_jvp(lambda x: x, [x], [x])
F.filter_jvp(m, (x,), (None,))
F.filter_vjp(lambda x: x, x)[1](x)
F.filter_vjp(m, x, has_aux=False)
F.filter_jacfwd(m)(x)
F.filter_jacrev(m, has_aux=False)(x)
F.filter_hessian(m)(x)
F.filter_jacfwd(functools.partial(lambda x: x))(x)
cj = F.filter_custom_jvp(lambda x: x * 2)
cj.def_jvp(lambda p, t: (cj(*p), None))
jax.grad(cj)(1.0)
cj2 = F.filter_custom_jvp(m)
cj2.def_jvp(lambda p, t: (cj2(*p), None))
cj2(x)
cv = F.filter_custom_vjp(lambda x: x * 2)
cv.def_fwd(lambda p, x: (cv(x), None))
cv.def_bwd(lambda r, g, p, x: g)
jax.grad(cv)(1.0)
F.filter_custom_vjp(m)
F.filter_closure_convert(lambda x: x * m.w, x)(x)
F.filter_closure_convert(m, x)(x)
F.filter_checkpoint(m)(x)
policy = jax.checkpoint_policies.everything_saveable
F.filter_checkpoint(prevent_cse=False, policy=policy)(m)(x)
F.filter_vmap(m, in_axes=0)(jnp.ones((3, 2)))
F.filter_vmap(lambda x: x, in_axes=None, out_axes=0, axis_size=5)(x)
F.filter_vmap(lambda x: x, in_axes={"x": 0}, axis_name="i")(jnp.ones((3, 2)))
F.filter_vmap(lambda x: x, in_axes=[0])(jnp.ones((3, 2)))
F.filter_pmap(lambda x: x)(jnp.ones((jax.device_count(), 2)))
F.filter_pmap(lambda x: x, donate="all", axis_size=None)
F.filter_eval_shape(m, x)
F.filter_eval_shape(functools.partial(m), sds)
F.filter_make_jaxpr(m)(x)
F.filter_make_jaxpr(functools.partial(m))(x)
F.filter_pure_callback(lambda x: x, x, result_shape_dtypes=sds, vmap_method="sequential")
F.filter_pure_callback(np.sin, x, result_shape_dtypes=sds, vectorized=True)
F.filter_shard(m, jax.devices()[0])
F.filter_shard(m, jax.sharding.SingleDeviceSharding(jax.devices()[0]))
# The hook did instrument eqx_filter: a wrong argument type is caught.
try:
    F.filter([1], True, inverse="yes")
except TypeError as error:
    assert type(error).__name__ == "TypeCheckError", error
else:
    raise AssertionError("eqx_filter was imported without the import hook")
print("ok")
"""


def test_typical_uses_pass_under_the_jaxtyping_beartype_hook():
    result = subprocess.run(
        [sys.executable, "-c", _SCRIPT], capture_output=True, text=True, timeout=300
    )
    assert result.returncode == 0, result.stderr[-3000:]
    assert result.stdout.strip().endswith("ok")
