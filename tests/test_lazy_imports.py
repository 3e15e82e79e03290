"""`import eqx` stays cheap: heavy modules only needed by some features load on first use."""

from __future__ import annotations

import ast
import importlib
import pathlib
import pickle
import subprocess
import sys

import pytest

ROOT = pathlib.Path(__file__).resolve().parents[1]

# Each costs milliseconds to import and serves one feature: pretty-printing, typing
# annotations, debugging primitives (`jax.extend` imports Pallas), checkpoint checksums
# (`xxhash`), the layers of `eqx.nn` (imported on first use; they import jaxtyping,
# which imports `numpy.typing`).
LAYER_MODULES = ("eqx_nn._linear", "eqx_nn._conv", "eqx_nn._mlp", "eqx_nn._attention")
LAZY_MODULES = {
    "eqx_tree": ("wadler_lindig", "numpy.typing", "jax.extend", "xxhash"),
    "eqx": ("wadler_lindig", "jax.extend", "xxhash", "numpy.typing", "jaxtyping", *LAYER_MODULES),
    "eqx_nn": ("jaxtyping", "eqx_filter", *LAYER_MODULES),
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


def test_the_first_use_of_a_layer_loads_its_module_only() -> None:
    loaded = _modules_after("import eqx\neqx.nn.Linear")
    assert {"eqx_nn._linear", "jaxtyping"} <= loaded
    assert "eqx_nn._conv" not in loaded


@pytest.mark.parametrize(
    "code",
    [
        "from eqx.nn import Linear",
        "import eqx.nn as nn\nLinear = nn.Linear",
        "import eqx_nn\nLinear = eqx_nn.Linear",
        "from eqx_nn import *",
    ],
)
def test_every_way_of_importing_a_layer_gives_the_class(code: str) -> None:
    script = f"{code}\nprint(Linear.__module__, Linear.__qualname__)"
    out = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, check=True)
    assert out.stdout.split() == ["eqx_nn._linear", "Linear"]


def test_a_layer_pickled_here_unpickles_in_a_fresh_interpreter() -> None:
    import jax.numpy as jnp
    import jax.random as jr

    import eqx_nn

    layer = eqx_nn.Linear(2, 1, key=jr.key(0))
    script = (
        "import pickle, sys\n"
        "layer = pickle.loads(sys.stdin.buffer.read())\n"
        "print(type(layer).__module__, layer.weight.shape)"
    )
    out = subprocess.run(
        [sys.executable, "-c", script], input=pickle.dumps(layer), capture_output=True, check=True
    )
    assert out.stdout.decode().split() == ["eqx_nn._linear", "(1,", "2)"]
    assert pickle.loads(pickle.dumps(eqx_nn.Linear)) is eqx_nn.Linear
    assert jnp.array_equal(pickle.loads(pickle.dumps(layer)).weight, layer.weight)


@pytest.mark.parametrize("namespace", ["eqx_nn", "eqx.nn"])
def test_all_and_dir_list_every_layer_before_any_is_loaded(namespace: str) -> None:
    script = (
        f"import sys, {namespace} as m\n"
        "names = set(m.__all__)\n"
        "assert names <= set(dir(m)), names - set(dir(m))\n"
        f"assert sys.modules.keys().isdisjoint({LAYER_MODULES!r})\n"
        "print(len(names), 'Linear' in names, 'LoRALinear' in names)"
    )
    out = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, check=True)
    assert out.stdout.split() == ["50", "True", "True"]


@pytest.mark.parametrize("namespace", ["eqx_nn", "eqx.nn"])
def test_each_listed_name_is_the_object_its_module_defines(namespace: str) -> None:
    import eqx_nn

    module = importlib.import_module(namespace)
    for name in module.__all__:
        source = eqx_nn._EXPORTS.sources[name]
        assert getattr(module, name) is getattr(importlib.import_module(source, "eqx_nn"), name)


@pytest.mark.parametrize("namespace", ["eqx_nn", "eqx.nn"])
def test_an_unknown_name_raises_attribute_error_naming_module_and_name(namespace: str) -> None:
    module = importlib.import_module(namespace)
    with pytest.raises(AttributeError, match=f"module '{namespace}' has no attribute 'Linaer'"):
        module.Linaer
    # Python's own hint (from `dir(module)`) names the attribute that was meant.
    script = f"import {namespace} as m\nm.Linaer"
    out = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True)
    assert out.returncode == 1
    assert out.stderr.strip().splitlines()[-1] == (
        f"AttributeError: module '{namespace}' has no attribute 'Linaer'. Did you mean: 'Linear'?"
    )


def test_the_private_attention_module_is_reachable_as_an_attribute() -> None:
    import eqx
    from eqx_nn.internal import dot_product_attention

    assert eqx.nn._attention.dot_product_attention is dot_product_attention


def _type_checking_imports(path: pathlib.Path) -> dict[str, str]:
    """`{name: module}` of the `from M import name as name` under `if TYPE_CHECKING:`."""
    tree = ast.parse(path.read_text())
    found: dict[str, str] = {}
    for node in tree.body:
        if isinstance(node, ast.If) and "TYPE_CHECKING" in ast.unparse(node.test):
            for statement in node.body:
                if isinstance(statement, ast.ImportFrom) and statement.module is not None:
                    module = "." * statement.level + statement.module
                    found.update({alias.name: module for alias in statement.names})
    return found


def test_type_checkers_see_exactly_the_lazily_exported_names() -> None:
    import eqx_nn

    package = ROOT / "packages" / "eqx-nn" / "src" / "eqx_nn" / "__init__.py"
    assert _type_checking_imports(package) == eqx_nn._EXPORTS.sources
    namespace = ROOT / "packages" / "eqx" / "src" / "eqx" / "nn" / "__init__.py"
    assert _type_checking_imports(namespace) == dict.fromkeys(eqx_nn.__all__, "eqx_nn")
