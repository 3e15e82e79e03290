"""The `internal` modules: what one eqx package lends another, listed and kept stable.

A sibling's released versions import these names, so adding or removing one is an API
change of the lending package (recorded in its changelog); this test pins the lists and
checks that docs/architecture.md names every entry.
"""

from __future__ import annotations

import importlib
import pathlib
import re
import types
from typing import Any

import jax.numpy as jnp
import pytest

ROOT = pathlib.Path(__file__).resolve().parents[1]

INTERNAL = {
    "eqx_tree.internal": [
        "LazyExports",
        "array_size",
        "children_with_keys",
        "find_aliases",
        "read_choice",
        "sentinel",
        "user_frame",
        "warn_at_user_code",
    ],
    "eqx_nn.internal": ["dot_product_attention", "dot_product_attention_weights"],
}


@pytest.mark.parametrize("module_name", sorted(INTERNAL))
def test_internal_module_lends_exactly_its_listed_names(module_name: str) -> None:
    module = importlib.import_module(module_name)
    assert module.__all__ == INTERNAL[module_name]
    # Modules are not lent names (jaxtyping's import hook adds `import jaxtyping`).
    public = {
        n
        for n, v in vars(module).items()
        if not n.startswith("_") and n != "annotations" and not isinstance(v, types.ModuleType)
    }
    assert public == set(INTERNAL[module_name])


@pytest.mark.parametrize("module_name", sorted(INTERNAL))
def test_architecture_page_lists_each_internal_name(module_name: str) -> None:
    page = (ROOT / "docs" / "architecture.md").read_text()
    missing = [n for n in INTERNAL[module_name] if f"`{module_name}.{n}`" not in page]
    assert missing == [], f"docs/architecture.md does not list {missing} of {module_name}"


def test_one_sentinel_object_for_every_package() -> None:
    from eqx_tree.internal import sentinel

    holders = ["eqx_tree._sentinel", "eqx_nn._misc"]
    others = [importlib.import_module(name).sentinel for name in holders]
    assert all(other is sentinel for other in others)
    assert sentinel is not None and repr(sentinel) == "sentinel"


def test_only_eqx_tree_defines_a_sentinel_class() -> None:
    definitions = [
        str(path.relative_to(ROOT))
        for path in sorted(ROOT.glob("packages/*/src/**/*.py"))
        if re.search(r"^class _?Sentinel\b", path.read_text(), re.MULTILINE)
    ]
    assert definitions == ["packages/eqx-tree/src/eqx_tree/_sentinel.py"]


def test_sequential_hands_stateful_layers_the_shared_sentinel() -> None:
    import eqx_nn
    from eqx_tree.internal import sentinel

    seen: list[Any] = []

    class Record(eqx_nn.StatefulLayer):
        def __call__(self, x: Any, state: Any, *, key: Any = None) -> Any:
            seen.append(state)
            return x, state

    out = eqx_nn.Sequential([Record()])(jnp.array(2.0))
    assert float(out) == 2.0
    assert len(seen) == 1 and seen[0] is sentinel


def test_eqx_attention_path_is_eqx_nn_internal() -> None:
    import eqx_nn.internal

    attention = importlib.import_module("eqx.nn._attention")
    assert attention.dot_product_attention is eqx_nn.internal.dot_product_attention
    weights = attention.dot_product_attention_weights
    assert weights is eqx_nn.internal.dot_product_attention_weights
