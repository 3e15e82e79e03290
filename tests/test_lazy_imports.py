"""`import eqx` stays cheap: heavy modules only needed by some features load on first use."""

from __future__ import annotations

import subprocess
import sys

import pytest

# Each costs milliseconds to import and serves one feature: pretty-printing, typing
# annotations, debugging primitives (`jax.extend` imports Pallas), checkpoint
# checksums (`xxhash`). `eqx.nn` imports
# jaxtyping (its shape annotations must resolve at runtime for runtime type checkers),
# which imports `numpy.typing`, so only `eqx_tree` is held to that one.
LAZY_MODULES = {
    "eqx_tree": ("wadler_lindig", "numpy.typing", "jax.extend", "xxhash"),
    "eqx": ("wadler_lindig", "jax.extend", "xxhash"),
}


def _modules_after(code: str) -> set[str]:
    script = f"import sys\n{code}\nprint('\\n'.join(sys.modules))"
    out = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, check=True)
    return set(out.stdout.split())


@pytest.mark.parametrize("package", sorted(LAZY_MODULES))
def test_importing_does_not_load_feature_only_modules(package: str) -> None:
    loaded = _modules_after(f"import {package}")
    assert sorted(loaded & set(LAZY_MODULES[package])) == []


def test_the_lazy_modules_load_when_their_feature_is_used() -> None:
    loaded = _modules_after(
        "import jax.numpy as jnp, eqx\n"
        "eqx.tree_pformat({'a': 1})\n"
        "eqx.debug.announce_transform(jnp.ones(2), announce=lambda s: None)\n"
        "import tempfile, os\n"
        "with tempfile.TemporaryDirectory() as d:\n"
        "    eqx.tree_save(os.path.join(d, 'm.safetensors'), {'a': jnp.ones(2)})"
    )
    assert {"wadler_lindig", "jax.extend", "xxhash"} <= loaded


def test_version_is_read_on_first_access_and_is_the_distribution_version() -> None:
    import importlib.metadata

    import eqx_tree

    assert eqx_tree.__version__ == importlib.metadata.version("eqx-tree")
    with pytest.raises(AttributeError, match="no attribute '__verison__'"):
        eqx_tree.__verison__
