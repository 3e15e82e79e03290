"""orbax-checkpoint stays optional: not imported by `import eqx_tree`, a clear error without it."""

import subprocess
import sys

import jax.numpy as jnp
import pytest

import eqx_tree


def test_import_eqx_tree_does_not_import_orbax():
    code = "import sys, eqx_tree; print([m for m in sys.modules if m.startswith('orbax')])"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"


@pytest.mark.parametrize(
    ("name", "call"),
    [
        ("tree_save_orbax", lambda p: eqx_tree.tree_save_orbax(p, {"a": jnp.zeros(2)})),
        ("tree_load_orbax", lambda p: eqx_tree.tree_load_orbax(p, {"a": jnp.zeros(2)})),
        ("checkpoint_to_orbax", lambda p: eqx_tree.checkpoint_to_orbax(p, p)),
        ("checkpoint_from_orbax", lambda p: eqx_tree.checkpoint_from_orbax(p, p)),
    ],
)
def test_without_orbax_each_function_says_how_to_install_it(monkeypatch, tmp_path, name, call):
    monkeypatch.setitem(sys.modules, "orbax.checkpoint", None)  # makes the import fail
    with pytest.raises(ImportError, match=rf"`{name}` needs orbax-checkpoint.*eqx-tree\[orbax\]"):
        call(tmp_path / "x")
