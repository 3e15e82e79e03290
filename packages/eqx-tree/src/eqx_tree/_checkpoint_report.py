"""What went wrong when a checkpoint or flat dict did not fit `like`: the report and errors.

Loading compares every stored leaf with `like` and collects *all* the differences
before saying anything, so one run shows every renamed, missing or reshaped leaf
instead of one per attempt. `LoadReport` is that collection; the errors carry it.

Errors are `ValueError`s (the file or the data given is wrong, not the program):
- `CheckpointFormatError`: the file is not a valid checkpoint (truncated, tampered,
  not safetensors at all). Raised before any tensor data is read.
- `CheckpointMismatchError`: the file is valid but does not fit `like`. `.report`
  holds the full `LoadReport`.
Both derive from `CheckpointError`, so `except CheckpointError` catches either.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from ._checkpoint_leaves import LeafSpec, NamedLeaf

__all__ = [
    "CheckpointError",
    "CheckpointFormatError",
    "CheckpointMismatchError",
    "LeafMismatch",
    "LoadReport",
    "compare_leaves",
    "mismatch_message",
]


class CheckpointError(ValueError):
    """Base class of the errors raised by `tree_save` / `tree_load` / `tree_from_flat_dict`."""


class CheckpointFormatError(CheckpointError):
    """The file is not a valid checkpoint: truncated, corrupted, or a malformed header.

    Raised while validating the header, before any tensor data is read, so a bad file
    never yields a partial tree and never makes `tree_load` allocate what the header
    claims.
    """


@dataclasses.dataclass(frozen=True)
class LeafMismatch:
    """One leaf whose stored shape or dtype differs from `like`'s.

    Attributes:
        name: the stored (dotted) name, for example `"layers.0.weight"`.
        path: the leaf's path in `like`, as `jax.tree_util.keystr` writes it.
        field: `"shape"` or `"dtype"`.
        expected: the value `like` asks for, as text (for example `"(3, 4)"`).
        found: the value stored, as text.
    """

    name: str
    path: str
    field: str
    expected: str
    found: str

    def __str__(self) -> str:
        return (
            f"{self.path} (stored as {self.name!r}): {self.field} {self.found} stored, "
            f"{self.expected} expected"
        )


def _plural(count: int, singular: str, plural: str) -> str:
    return f"{count} {singular if count == 1 else plural}"


@dataclasses.dataclass(frozen=True)
class LoadReport:
    """Everything about a checkpoint that did not match `like`.

    Attributes:
        missing: leaves `like` has that the source lacks, as `keystr` paths of `like`.
            With `strict=False` these keep `like`'s values.
        unexpected: stored names that no leaf of `like` asks for. With `strict=False`
            they are ignored.
        mismatched: leaves present on both sides with a different shape or dtype. These
            always raise, whatever `strict` says.

    A report is falsy when everything matched: `if report: print(report)`.
    """

    missing: tuple[str, ...] = ()
    unexpected: tuple[str, ...] = ()
    mismatched: tuple[LeafMismatch, ...] = ()

    def __bool__(self) -> bool:
        return bool(self.missing or self.unexpected or self.mismatched)

    def __str__(self) -> str:
        if not self:
            return "every leaf matched"
        lines: list[str] = []
        if self.mismatched:
            count = _plural(len(self.mismatched), "leaf", "leaves")
            lines.append(f"{count} with a different shape or dtype:")
            lines.extend(f"  {mismatch}" for mismatch in self.mismatched)
        if self.missing:
            count = _plural(len(self.missing), "leaf", "leaves")
            lines.append(f"{count} of `like` missing from the source:")
            lines.extend(f"  {path}" for path in self.missing)
        if self.unexpected:
            count = _plural(len(self.unexpected), "stored name", "stored names")
            lines.append(f"{count} that `like` has no leaf for:")
            lines.extend(f"  {name!r}" for name in self.unexpected)
        return "\n".join(lines)


class CheckpointMismatchError(CheckpointError):
    """The stored leaves do not fit `like`; `.report` lists every difference.

    Raised for any shape or dtype mismatch, and, with `strict=True`, for missing or
    unexpected leaves.
    """

    report: LoadReport

    def __init__(self, message: str, report: LoadReport) -> None:
        super().__init__(message)
        self.report = report


def compare_leaves(
    expected: Sequence[tuple[NamedLeaf, LeafSpec]], found: Mapping[str, LeafSpec]
) -> LoadReport:
    """Compare what `like` asks for with what the source holds, collecting every difference.

    A Python scalar in `like` matches a stored 0-d array of its dtype (`int` ↔ int64),
    so only shape and dtype are compared.
    """
    missing: list[str] = []
    mismatched: list[LeafMismatch] = []
    for named, want in expected:
        have = found.get(named.name)
        if have is None:
            missing.append(named.keystr)
            continue
        if have.shape != want.shape:
            mismatched.append(
                LeafMismatch(named.name, named.keystr, "shape", str(want.shape), str(have.shape))
            )
        if have.dtype != want.dtype:
            mismatched.append(
                LeafMismatch(named.name, named.keystr, "dtype", str(want.dtype), str(have.dtype))
            )
    wanted = {named.name for named, _ in expected}
    unexpected = tuple(name for name in found if name not in wanted)
    return LoadReport(tuple(missing), unexpected, tuple(mismatched))


def mismatch_message(report: LoadReport, source: str, *, offer_non_strict: bool) -> str:
    """The error message for a report that must raise."""
    if report.mismatched:
        why = "the stored shapes or dtypes differ from `like`'s"
        fix = (
            "build `like` with the shapes and dtypes that were saved (for example the "
            "same hyperparameters), or convert the leaves before loading"
        )
    else:
        why = "the stored names and `like`'s leaves differ"
        fix = "build `like` with the same structure that was saved"
        if offer_non_strict:
            fix = "pass strict=False to load what matches and get this report back, or " + fix
    return f"{source} does not fit `like`: {why}.\n{report}\nTo fix: {fix}."
