"""`import eqx` stays cheap: heavy modules only needed by some features load on first use."""

from __future__ import annotations

import ast
import importlib
import os
import pathlib
import pickle
import subprocess
import sys

import pytest

# Each costs milliseconds to import and serves one feature: pretty-printing, typing
# annotations, debugging primitives (`jax.extend` imports Pallas), checkpoint checksums
# (`xxhash`), the layers of `eqx.nn` (imported on first use; they import jaxtyping,
# which imports `numpy.typing`).
LAYER_MODULES = ("eqx_nn._linear", "eqx_nn._conv", "eqx_nn._mlp", "eqx_nn._attention")
# Rarely used transformations, the progress meters and the debugging tools (imported on
# first use: their wrapper classes cost more to create than the rest of `import eqx`).
FILTER_MODULES = ("eqx_filter._pmap", "eqx_filter._progress_meter", "eqx_filter._closure_convert")
DEBUG_MODULES = ("eqx.debug", "eqx_filter.debug")
LAZY_MODULES = {
    "eqx_tree": ("wadler_lindig", "numpy.typing", "jax.extend", "xxhash"),
    "eqx": (
        *("wadler_lindig", "jax.extend", "xxhash", "numpy.typing", "jaxtyping"),
        *(LAYER_MODULES + FILTER_MODULES + DEBUG_MODULES),
    ),
    "eqx_filter": (*FILTER_MODULES, "eqx_filter.debug"),
    "eqx_nn": ("jaxtyping", "eqx_filter", *LAYER_MODULES),
}
# Each lazily exporting namespace, and a name in it for the tests below.
NAMESPACES = {
    "eqx_nn": "Linear",
    "eqx.nn": "Linear",
    "eqx_filter": "filter_jit",
    "eqx": "filter_jit",
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


def test_the_first_use_of_a_transform_loads_its_module_only() -> None:
    loaded = _modules_after("import eqx\neqx.filter_pmap")
    assert "eqx_filter._pmap" in loaded
    assert loaded.isdisjoint({"eqx_filter._progress_meter", "eqx.debug"})
    assert "eqx.debug" in _modules_after("import eqx\neqx.debug.find_nans")


def test_import_eqx_still_reads_and_checks_eqx_on_error() -> None:
    # Documented to happen at import, so `error_if`'s module is not loaded lazily.
    env = {**os.environ, "EQX_ON_ERROR": "explode"}
    out = subprocess.run(
        [sys.executable, "-c", "import eqx"], env=env, capture_output=True, text=True
    )
    assert out.returncode == 1
    assert (
        "EQX_ON_ERROR='explode'" in out.stderr
        and "must be one of raise, nan, breakpoint, off" in out.stderr
    )


@pytest.mark.parametrize(
    ("code", "expected"),
    [
        ("from eqx.nn import Linear as x", "eqx_nn._linear.Linear"),
        ("import eqx.nn as nn\nx = nn.Linear", "eqx_nn._linear.Linear"),
        ("import eqx_nn\nx = eqx_nn.Linear", "eqx_nn._linear.Linear"),
        ("from eqx_nn import *\nx = Linear", "eqx_nn._linear.Linear"),
        ("from eqx import filter_jit as x", "eqx_filter._jit._filter_jit.filter_jit"),
        ("import eqx_filter\nx = eqx_filter.filter_jit", "eqx_filter._jit._filter_jit.filter_jit"),
        ("from eqx import *\nx = filter_grad", "eqx_filter._grad.filter_grad"),
        ("from eqx.debug import find_nans as x", "eqx_filter.debug._find_nans.find_nans"),
    ],
)
def test_every_way_of_importing_a_name_gives_the_defining_object(code: str, expected: str) -> None:
    script = f"{code}\nprint(x.__module__ + '.' + x.__qualname__)"
    out = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == expected


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


def test_transforms_pickled_by_reference_unpickle_in_a_fresh_interpreter() -> None:
    import eqx_filter

    script = (
        "import pickle, sys\n"
        "for transform in pickle.loads(sys.stdin.buffer.read()):\n"
        "    print(transform.__module__, transform.__name__)"
    )
    transforms = (eqx_filter.filter_jit, eqx_filter.filter_pmap)
    out = subprocess.run(
        [sys.executable, "-c", script],
        input=pickle.dumps(transforms),
        capture_output=True,
        check=True,
    )
    assert out.stdout.decode().split() == [
        *(eqx_filter.filter_jit.__module__, "filter_jit"),
        *(eqx_filter.filter_pmap.__module__, "filter_pmap"),
    ]


@pytest.mark.parametrize(
    ("namespace", "count"), [("eqx_nn", 50), ("eqx.nn", 50), ("eqx_filter", 43), ("eqx", 99)]
)
def test_all_and_dir_list_every_name_before_any_module_is_loaded(
    namespace: str, count: int
) -> None:
    script = (
        f"import sys, {namespace} as m\n"
        "names = set(m.__all__)\n"
        "assert names <= set(dir(m)), names - set(dir(m))\n"
        f"assert sys.modules.keys().isdisjoint({LAYER_MODULES + FILTER_MODULES!r})\n"
        f"print(len(names), {NAMESPACES[namespace]!r} in names)"
    )
    out = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, check=True)
    assert out.stdout.split() == [str(count), "True"]


@pytest.mark.parametrize("namespace", sorted(NAMESPACES))
def test_each_lazily_read_name_is_the_object_its_module_defines(namespace: str) -> None:
    module = importlib.import_module(namespace)
    exports = module._EXPORTS
    for name, source in exports.sources.items():
        defining = importlib.import_module(source, namespace)
        expected = (
            defining if defining.__name__ == f"{namespace}.{name}" else getattr(defining, name)
        )
        assert getattr(module, name) is expected, name


@pytest.mark.parametrize("namespace", sorted(NAMESPACES))
def test_an_unknown_name_raises_attribute_error_naming_module_and_name(namespace: str) -> None:
    module = importlib.import_module(namespace)
    right = NAMESPACES[namespace]
    wrong = right[:-2] + right[-1] + right[-2]  # two letters swapped
    with pytest.raises(AttributeError, match=f"module '{namespace}' has no attribute '{wrong}'"):
        getattr(module, wrong)
    # Python's own hint (from `dir(module)`) names the attribute that was meant.
    script = f"import {namespace} as m\nm.{wrong}"
    out = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True)
    assert out.returncode == 1
    assert out.stderr.strip().splitlines()[-1] == (
        f"AttributeError: module '{namespace}' has no attribute '{wrong}'. Did you mean: '{right}'?"
    )


def test_the_private_attention_module_is_reachable_as_an_attribute() -> None:
    import eqx
    from eqx_nn.internal import dot_product_attention

    assert eqx.nn._attention.dot_product_attention is dot_product_attention


def _type_checking_imports(path: pathlib.Path) -> dict[str, str]:
    """`{name: module}` of the imports under `if TYPE_CHECKING:` (`from . import m`: `.m`)."""
    tree = ast.parse(path.read_text())
    found: dict[str, str] = {}
    for node in tree.body:
        if isinstance(node, ast.If) and "TYPE_CHECKING" in ast.unparse(node.test):
            for statement in node.body:
                if isinstance(statement, ast.ImportFrom):
                    dots = "." * statement.level
                    for alias in statement.names:
                        module = statement.module or alias.name  # `from . import submodule`
                        found[alias.asname or alias.name] = dots + module
    return found


@pytest.mark.parametrize("namespace", sorted(NAMESPACES))
def test_type_checkers_see_exactly_the_lazily_read_names(namespace: str) -> None:
    module = importlib.import_module(namespace)
    assert module.__file__ is not None
    assert _type_checking_imports(pathlib.Path(module.__file__)) == module._EXPORTS.sources
