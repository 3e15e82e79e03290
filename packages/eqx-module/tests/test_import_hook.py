"""eqx_module's public API accepts what it documents under jaxtyping + beartype.

The compatibility suite runs jaxtyping's import hook with beartype over all eqx packages,
so an annotation narrower than the behaviour is a bug. This runs typical uses of every
public name in a fresh interpreter with the hook installed over `eqx_module`.
"""

import subprocess
import sys

import pytest

_SCRIPT = """
import functools, warnings
from typing import Any, ClassVar
from jaxtyping import install_import_hook
with install_import_hook(["eqx_module"], "beartype.beartype"):
    import eqx_module as M
import jax, jax.numpy as jnp, numpy as np

class Layer(M.Module):
    weight: Any
    scale: Any = M.field(converter=float, default=1)
    name: str = M.field(static=True, default="layer", metadata={"trainable": False})

    def __call__(self, x):
        return self.weight * x * self.scale

class Base(M.Module, strict=M.StrictConfig(force_abstact=False, unknown=1)):
    size: M.AbstractVar[int]
    kind: M.AbstractClassVar[str]

class Concrete(Base):
    size: int
    kind: ClassVar[str] = "c"

class Wrapper(M.Module):
    fn: Any

    @property
    def __wrapped__(self):
        return self.fn

layer = Layer(jnp.ones(2), 2)
assert layer(1.0).tolist() == [2.0, 2.0]
assert Concrete(3).size == 3
with warnings.catch_warnings():
    warnings.simplefilter("ignore")
    M.static_field(default=1)
M.field(default_factory=list, kw_only=True, repr=False)
assert M.StrictConfig() is False and M.StrictConfig(True) is None
wrapped = M.module_update_wrapper(Wrapper(print))
assert wrapped.__name__ == "print"
M.module_update_wrapper(Wrapper(print), len)
for fn in (max, functools.partial(max, 1), layer, jnp.add, lambda *a: a):
    M.Partial(fn, 1, 2)
assert M.Partial(max, 3)(5) == 5
assert M.Static({"a": (1, "b")}).value == {"a": (1, "b")}
assert M.Static(np.float32(1)).value == 1
method = M.BoundMethod(Layer.__call__, layer)
assert method(1.0).tolist() == [2.0, 2.0]
assert jax.jit(layer.__call__)(1.0).tolist() == [2.0, 2.0]
assert jax.jit(lambda m: m(1.0))(layer).tolist() == [2.0, 2.0]
jax.tree_util.tree_map(lambda x: None, layer)
jax.tree_util.tree_map(lambda x: object(), layer)
hash(Layer(1.0))
try:  # the hook is really active: a non-callable converter is refused by beartype
    M.field(converter=1)
except Exception as error:
    assert "converter" in str(error), error
else:
    raise AssertionError("the import hook did not check `field`")
print("ok")
"""


def test_public_api_passes_the_jaxtyping_beartype_import_hook() -> None:
    pytest.importorskip("jaxtyping")
    pytest.importorskip("beartype")
    result = subprocess.run(
        [sys.executable, "-c", _SCRIPT],
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    assert result.stdout.strip().endswith("ok")
