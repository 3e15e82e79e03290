"""`field` and `static_field`."""

import dataclasses

import pytest

from eqx_module import Module, field, static_field
from eqx_tree import EqxDeprecationWarning


def test_field_keeps_user_metadata_verbatim() -> None:
    f = field(metadata={"foo": 1})
    assert isinstance(f, dataclasses.Field)
    assert dict(f.metadata) == {"foo": 1}


def test_field_without_options_has_empty_metadata() -> None:
    assert dict(field().metadata) == {}


def test_field_copies_the_user_metadata() -> None:
    user = {"foo": 1}
    f = field(metadata=user, static=True)
    assert user == {"foo": 1}
    assert dict(f.metadata) == {"foo": 1, "static": True}


def test_field_records_converter_and_static_only_when_given() -> None:
    f = field(converter=int, static=True)
    assert dict(f.metadata) == {"converter": int, "static": True}
    assert "static" not in field(static=False).metadata
    assert "converter" not in field().metadata


def test_field_passes_dataclass_options_through() -> None:
    f = field(default=3, init=False, repr=False, kw_only=True)
    assert (f.default, f.init, f.repr, f.kw_only) == (3, False, False, True)
    g = field(default_factory=list)
    assert g.default_factory is list


def test_field_rejects_metadata_with_converter() -> None:
    with pytest.raises(ValueError, match="Cannot use metadata with `converter` already set"):
        field(metadata={"converter": int})


def test_field_rejects_metadata_with_static() -> None:
    with pytest.raises(ValueError, match="Cannot use metadata with `static` already set"):
        field(metadata={"static": True})


def test_static_field_is_deprecated_alias() -> None:
    with pytest.warns(EqxDeprecationWarning, match="deprecated") as record:
        f = static_field(default=1)
    assert dict(f.metadata) == {"static": True}
    assert f.default == 1
    assert record[0].filename == __file__


def test_static_field_value_is_in_treedef_not_leaves() -> None:
    import jax.tree_util as jtu

    class A(Module):
        x: int
        y: int = field(static=True)

    assert jtu.tree_leaves(A(1, 2)) == [1]
