"""Every eqx_tree function (checkpoints too) accepts its documented inputs under
jaxtyping + beartype.

The compatibility suite runs jaxtyping's import hook with beartype over all eqx packages,
so an annotation narrower than the behaviour (`rtol: float` refusing `0`, `BinaryIO`
refusing `io.BytesIO`) is a bug. This runs typical calls of every public function in a
fresh interpreter with the hook installed.
"""

import subprocess
import sys

import pytest

_SCRIPT = """
import functools, io, pathlib, sys
from jaxtyping import install_import_hook
with install_import_hook(["eqx_tree"], "beartype.beartype"):
    import eqx_tree as T
import jax, jax.numpy as jnp, ml_dtypes, numpy as np

d = pathlib.Path(sys.argv[1])
tree = {
    "a": jnp.ones(2),
    "b": [np.ones(3), 1, 2.0, True, 1j, np.float32(1), ml_dtypes.bfloat16(1)],
    "k": jax.random.key(0),
    "f": print,
    "n": None,
}
buffer = io.BytesIO()
T.tree_serialise_leaves(buffer, tree)
buffer.seek(0)
T.tree_deserialise_leaves(buffer, tree)
for target in (str(d / "x"), d / "y", d / "z.bin"):
    T.tree_serialise_leaves(target, tree)
    T.tree_deserialise_leaves(target, tree)
with open(d / "w.eqx", "wb") as f:
    T.tree_serialise_leaves(f, tree, T.default_serialise_filter_spec, lambda x: x is None)
with open(d / "w.eqx", "rb") as f:
    T.tree_deserialise_leaves(f, tree, filter_spec=T.default_deserialise_filter_spec)
T.tree_at(lambda t: t["a"], tree, jnp.zeros(2))
T.tree_at(lambda t: t["n"], tree, replace_fn=lambda x: 1, is_leaf=lambda x: x is None)
assert T.tree_equal(1, 1, rtol=0, atol=0) is True
assert bool(T.tree_equal(tree, tree, typematch=True, rtol=1e-3, atol=1))
assert bool(jax.jit(lambda x: T.tree_equal(x, x))(jnp.ones(2)))
T.tree_flatten_one_level(tree)
T.tree_check(tree)
T.tree_pformat(tree, width=40, indent=4, short_arrays=False, struct_as_array=True)
T.tree_pformat(tree, truncate_leaf=lambda x: x is print)
T.tree_pprint(jax.ShapeDtypeStruct((1,), jnp.float32))
T.apply_updates({"w": jnp.ones(2), "s": None}, {"w": jnp.ones(2), "s": None})
T.apply_updates([1.0], [None])
T.register_cache_clearer(lambda: None)
T.register_cache_clearer(functools.partial(print, end=""))
T.clear_caches()
for x in (1, 1.0, jnp.ones(1), np.float32(1), object(), None, "s"):
    T.is_array(x), T.is_array_like(x), T.is_inexact_array(x), T.is_inexact_array_like(x)

# Checkpoints (spec 8.2).
ckpt = str(d / "c.safetensors")
tree = {"a": jnp.ones(2), "b": 1.5, "k": jax.random.key(0), "c": np.ones(2, np.complex128)}
T.tree_save(ckpt, tree, metadata={"x": 1})
T.tree_save(d / "c2.safetensors", tree)
like = jax.tree_util.tree_map(
    lambda x: jax.ShapeDtypeStruct(x.shape, x.dtype) if isinstance(x, jax.Array) else x, tree
)
T.tree_load(ckpt, like)
T.tree_load(d / "c2.safetensors", tree, strict=False)
T.tree_from_flat_dict(tree, T.tree_to_flat_dict(tree))
T.tree_from_flat_dict(tree, T.tree_to_flat_dict(tree, sep="/"), sep="/")
assert T.tree_load_metadata(ckpt) == {"x": 1}
print("ok")
"""


def test_public_functions_pass_the_jaxtyping_beartype_import_hook(tmp_path):
    pytest.importorskip("jaxtyping")
    pytest.importorskip("beartype")
    result = subprocess.run(
        [sys.executable, "-c", _SCRIPT, str(tmp_path)],
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    assert result.stdout.strip().endswith("ok")
