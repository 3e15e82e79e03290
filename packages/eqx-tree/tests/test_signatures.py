"""Signatures are API: parameter names, order, kinds and defaults of every public name.

Code written against Equinox passes these by keyword (`tree_at(where, tree, replace_fn=f)`,
`tree_pformat(x, width=40)`), so a renamed or reordered parameter is a breaking change.
"""

import inspect
from typing import Any

import pytest

import eqx_tree
from eqx_tree._sentinel import sentinel

_P = inspect.Parameter
_POS = _P.POSITIONAL_OR_KEYWORD
_KW = _P.KEYWORD_ONLY
_VAR = _P.VAR_POSITIONAL
_NO = _P.empty

_PFORMAT_OPTIONS = [
    ("width", _KW, 80),
    ("indent", _KW, 2),
    ("short_arrays", _KW, True),
    ("struct_as_array", _KW, False),
    ("truncate_leaf", _KW, "always False"),
]

_EXPECTED: dict[str, list[tuple[str, Any, Any]]] = {
    "tree_at": [
        ("where", _POS, _NO),
        ("pytree", _POS, _NO),
        ("replace", _POS, sentinel),
        ("replace_fn", _POS, sentinel),
        ("is_leaf", _POS, None),
    ],
    "tree_equal": [
        ("pytrees", _VAR, _NO),
        ("typematch", _KW, False),
        ("rtol", _KW, 0.0),
        ("atol", _KW, 0.0),
    ],
    "tree_flatten_one_level": [("pytree", _POS, _NO)],
    "tree_check": [("pytree", _POS, _NO), ("arrays", _KW, False)],
    "tree_pformat": [("pytree", _POS, _NO), *_PFORMAT_OPTIONS],
    "tree_pprint": [("pytree", _POS, _NO), *_PFORMAT_OPTIONS],
    "apply_updates": [("model", _POS, _NO), ("updates", _POS, _NO)],
    "tree_serialise_leaves": [
        ("path_or_file", _POS, _NO),
        ("pytree", _POS, _NO),
        ("filter_spec", _POS, eqx_tree.default_serialise_filter_spec),
        ("is_leaf", _POS, None),
    ],
    "tree_deserialise_leaves": [
        ("path_or_file", _POS, _NO),
        ("like", _POS, _NO),
        ("filter_spec", _POS, eqx_tree.default_deserialise_filter_spec),
        ("is_leaf", _POS, None),
    ],
    "default_serialise_filter_spec": [("f", _POS, _NO), ("x", _POS, _NO)],
    "default_deserialise_filter_spec": [("f", _POS, _NO), ("x", _POS, _NO)],
    "register_cache_clearer": [("fn", _POS, _NO)],
    "clear_caches": [],
    "is_array": [("element", _POS, _NO)],
    "is_array_like": [("element", _POS, _NO)],
    "is_inexact_array": [("element", _POS, _NO)],
    "is_inexact_array_like": [("element", _POS, _NO)],
    # Self-describing checkpoints.
    "tree_save": [("path", _POS, _NO), ("pytree", _POS, _NO), ("metadata", _KW, None)],
    "tree_load": [("path", _POS, _NO), ("like", _POS, _NO), ("strict", _KW, True)],
    "tree_to_flat_dict": [("pytree", _POS, _NO), ("sep", _POS, ".")],
    "tree_from_flat_dict": [("like", _POS, _NO), ("flat", _POS, _NO), ("sep", _POS, ".")],
}


@pytest.mark.parametrize("name", sorted(_EXPECTED))
def test_public_function_signature_matches_the_spec(name: str) -> None:
    parameters = list(inspect.signature(getattr(eqx_tree, name)).parameters.values())
    actual = [(p.name, p.kind, p.default) for p in parameters]
    expected = _EXPECTED[name]
    assert [(n, k) for n, k, _ in actual] == [(n, k) for n, k, _ in expected]
    for (param, _, default), (_, _, want) in zip(actual, expected, strict=True):
        if want == "always False":
            assert callable(default), param
            assert default(object()) is False and default(None) is False
        else:
            assert default is want or default == want, (param, default, want)


def test_the_sentinel_default_is_not_none() -> None:
    assert sentinel is not None
    assert repr(sentinel) == "sentinel"


def test_tree_path_error_is_a_runtime_error_with_a_path_tuple() -> None:
    error = eqx_tree.TreePathError("message", [1, 2])
    assert isinstance(error, RuntimeError)
    assert error.path == (1, 2)


def test_the_spec_names_are_all_exported() -> None:
    spec_names = {
        "tree_at",
        "tree_equal",
        "tree_flatten_one_level",
        "tree_check",
        "tree_pformat",
        "tree_pprint",
        "apply_updates",
        "clear_caches",
        "is_array",
        "is_array_like",
        "is_inexact_array",
        "is_inexact_array_like",
        "tree_serialise_leaves",
        "tree_deserialise_leaves",
        "default_serialise_filter_spec",
        "default_deserialise_filter_spec",
        "register_cache_clearer",
        "EqxWarning",
        "EqxDeprecationWarning",
        "TreePathError",
        "__version__",
    }
    missing = sorted(name for name in spec_names if not hasattr(eqx_tree, name))
    assert missing == []
