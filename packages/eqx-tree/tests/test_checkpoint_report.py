"""LoadReport, LeafMismatch and the checkpoint errors."""

import numpy as np
import pytest

from eqx_tree import (
    CheckpointError,
    CheckpointFormatError,
    CheckpointMismatchError,
    LeafMismatch,
    LoadReport,
)
from eqx_tree._checkpoint_leaves import LeafSpec, NamedLeaf, named_leaves
from eqx_tree._checkpoint_report import compare_leaves, mismatch_message


def _expected(tree: object) -> list[tuple[NamedLeaf, LeafSpec]]:
    return [
        (named, LeafSpec("array", named.leaf.shape, named.leaf.dtype))
        for named in named_leaves(tree)
    ]


def test_an_empty_report_is_falsy_and_says_everything_matched() -> None:
    assert not LoadReport()
    assert str(LoadReport()) == "every leaf matched"


def test_a_report_lists_every_problem_by_path() -> None:
    report = LoadReport(
        missing=("['a']",),
        unexpected=("old.weight",),
        mismatched=(LeafMismatch("w", "['w']", "shape", "(2,)", "(3,)"),),
    )
    assert report
    assert str(report) == (
        "1 leaf with a different shape or dtype:\n"
        "  ['w'] (stored as 'w'): shape (3,) stored, (2,) expected\n"
        "1 leaf of `like` missing from the source:\n"
        "  ['a']\n"
        "1 stored name that `like` has no leaf for:\n"
        "  'old.weight'"
    )


def test_a_report_counts_in_plural_when_needed() -> None:
    report = LoadReport(missing=("['a']", "['b']"), unexpected=("x", "y"))
    assert "2 leaves of `like` missing" in str(report)
    assert "2 stored names that" in str(report)


def test_compare_leaves_finds_missing_unexpected_and_mismatched() -> None:
    expected = _expected({"a": np.zeros(2), "b": np.zeros(2, np.float32), "c": np.zeros(1)})
    found = {
        "a": LeafSpec("array", (3,), np.dtype(np.float64)),
        "b": LeafSpec("array", (2,), np.dtype(np.int32)),
        "d": LeafSpec("array", (1,), np.dtype(np.float64)),
    }
    report = compare_leaves(expected, found)
    assert report.missing == ("['c']",)
    assert report.unexpected == ("d",)
    assert report.mismatched == (
        LeafMismatch("a", "['a']", "shape", "(2,)", "(3,)"),
        LeafMismatch("b", "['b']", "dtype", "float32", "int32"),
    )


def test_compare_leaves_reports_shape_and_dtype_of_one_leaf_separately() -> None:
    expected = _expected({"a": np.zeros(2, np.float32)})
    report = compare_leaves(expected, {"a": LeafSpec("array", (1,), np.dtype(np.int8))})
    assert [m.field for m in report.mismatched] == ["shape", "dtype"]


def test_mismatch_message_offers_strict_false_only_for_key_differences() -> None:
    keys_only = LoadReport(missing=("['a']",))
    assert "strict=False" in mismatch_message(keys_only, "f", offer_non_strict=True)
    assert "strict=False" not in mismatch_message(keys_only, "f", offer_non_strict=False)
    shapes = LoadReport(mismatched=(LeafMismatch("w", "['w']", "shape", "(2,)", "(3,)"),))
    assert "strict=False" not in mismatch_message(shapes, "f", offer_non_strict=True)


def test_errors_are_value_errors_and_carry_the_report() -> None:
    report = LoadReport(missing=("['a']",))
    error = CheckpointMismatchError("message", report)
    assert error.report is report
    assert isinstance(error, CheckpointError)
    assert issubclass(CheckpointFormatError, CheckpointError)
    assert issubclass(CheckpointError, ValueError)
    with pytest.raises(ValueError, match="message"):
        raise error
