"""`tree_summary`: parameters and bytes of a model per path, per Module type and per dtype.

Every array-like leaf (concrete, or a `jax.ShapeDtypeStruct` from `filter_eval_shape`,
so a model can be sized before it is allocated) becomes one row; rows are also totalled
per Module type (the nearest enclosing Module's class), per dtype, and split into
trainable and frozen by the `TRAINABLE` field metadata (or a mask you pass). The
result is data (`TreeSummary`), and `str()` of it is a table.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Iterator, Sequence
from typing import Any

import jax.tree_util as jtu

from eqx_tree import TreeSize, tree_flatten_one_level
from eqx_tree.internal import array_size, children_with_keys

from ._metadata import TRAINABLE, class_metadata, field_mask

__all__ = ["SummaryRow", "TreeSummary", "tree_summary"]


@dataclasses.dataclass(frozen=True)
class SummaryRow:
    """One array leaf: where it is, what it is, how big, and whether it trains."""

    path: str
    module: str
    shape: tuple[int, ...]
    dtype: str
    params: int
    nbytes: int
    trainable: bool


def _add(totals: dict[str, TreeSize], key: str, row: SummaryRow) -> None:
    old = totals.get(key, TreeSize(0, 0))
    totals[key] = TreeSize(old.params + row.params, old.nbytes + row.nbytes)


def _human_bytes(nbytes: int) -> str:
    size = float(nbytes)
    for unit in ("B", "KiB", "MiB", "GiB"):
        if size < 1024 or unit == "GiB":
            return f"{nbytes} B" if unit == "B" else f"{size:.1f} {unit}"
        size /= 1024
    raise AssertionError("unreachable")  # pragma: no cover


def _size_text(size: TreeSize) -> str:
    return f"{size.params:,} ({_human_bytes(size.nbytes)})"


def _table(header: tuple[str, ...], rows: Sequence[tuple[str, ...]], right: set[int]) -> list[str]:
    widths = [max(len(r[i]) for r in [header, *rows]) for i in range(len(header))]

    def line(cells: tuple[str, ...]) -> str:
        parts = [
            c.rjust(w) if i in right else c.ljust(w)
            for i, (c, w) in enumerate(zip(cells, widths, strict=True))
        ]
        return "  ".join(parts).rstrip()

    return [line(header), "  ".join("-" * w for w in widths), *(line(r) for r in rows)]


@dataclasses.dataclass(frozen=True)
class TreeSummary:
    """The result of `tree_summary`: one `SummaryRow` per array leaf, plus totals.

    `str(summary)` is a table: the rows, then totals per Module type, per dtype, and
    trainable versus frozen.
    """

    rows: tuple[SummaryRow, ...]

    def __iter__(self) -> Iterator[SummaryRow]:
        return iter(self.rows)

    def _totals(self, key: Callable[[SummaryRow], str]) -> dict[str, TreeSize]:
        totals: dict[str, TreeSize] = {}
        for row in self.rows:
            _add(totals, key(row), row)
        return totals

    @property
    def total(self) -> TreeSize:
        """All array leaves together."""
        return self._totals(lambda r: "").get("", TreeSize(0, 0))

    @property
    def trainable(self) -> TreeSize:
        """The array leaves whose trainable mask is true."""
        return self._totals(lambda r: str(r.trainable)).get("True", TreeSize(0, 0))

    @property
    def frozen(self) -> TreeSize:
        """The array leaves whose trainable mask is false."""
        return self._totals(lambda r: str(r.trainable)).get("False", TreeSize(0, 0))

    @property
    def by_module(self) -> dict[str, TreeSize]:
        """Totals per Module type (the class of each leaf's nearest enclosing Module)."""
        return self._totals(lambda r: r.module)

    @property
    def by_dtype(self) -> dict[str, TreeSize]:
        """Totals per dtype name."""
        return self._totals(lambda r: r.dtype)

    def __str__(self) -> str:
        lines = _table(
            ("path", "module", "shape", "dtype", "params", "bytes", "trainable"),
            [
                (
                    r.path,
                    r.module,
                    str(list(r.shape)),
                    r.dtype,
                    f"{r.params:,}",
                    _human_bytes(r.nbytes),
                    "yes" if r.trainable else "no",
                )
                for r in self.rows
            ],
            right={4, 5},
        )
        per_type = []
        for module in self.by_module:
            rows = [r for r in self.rows if r.module == module]
            trainable = sum(r.params for r in rows if r.trainable)
            frozen = sum(r.params for r in rows if not r.trainable)
            size = self.by_module[module]
            per_type.append(
                (
                    module,
                    f"{size.params:,}",
                    _human_bytes(size.nbytes),
                    f"{trainable:,}",
                    f"{frozen:,}",
                )
            )
        lines += [
            "",
            *_table(
                ("module type", "params", "bytes", "trainable", "frozen"),
                per_type,
                right={1, 2, 3, 4},
            ),
        ]
        lines += [
            "",
            f"total: {_size_text(self.total)}; trainable: {_size_text(self.trainable)}; "
            f"frozen: {_size_text(self.frozen)}",
            "dtypes: " + ", ".join(f"{d} {_size_text(s)}" for d, s in self.by_dtype.items()),
        ]
        return "\n".join(lines)


def _broadcast(mask: Any, tree: Any, path: tuple[Any, ...]) -> Any:
    """`mask` (a bool PyTree prefix of `tree`) expanded to the full structure of `tree`."""
    if isinstance(mask, bool):
        return jtu.tree_map(lambda _: mask, tree)
    mask_children = children_with_keys(mask)
    tree_children = children_with_keys(tree)
    where = jtu.keystr(path) or "the root"
    tree_names = [jtu.keystr((k,)) for k, _ in tree_children or []]
    if mask_children is None:
        raise TypeError(
            f"tree_summary: the `trainable` mask has {type(mask).__name__} {mask!r} at {where}; "
            "a mask holds only True/False (a bool applies to the whole subtree below it)."
        )
    mask_keys = [k for k, _ in mask_children]
    tree_keys = [k for k, _ in tree_children or []]
    if type(mask) is not type(tree) or mask_keys != tree_keys:
        raise ValueError(
            f"tree_summary: the `trainable` mask is not a prefix of the tree at {where}: the "
            f"tree has {type(tree).__name__} with children {tree_names}, "
            f"the mask has {type(mask).__name__} with children "
            f"{[jtu.keystr((k,)) for k in mask_keys]}. Build it with "
            "`eqx.field_mask(tree, ...)` or from a selection's `.mask()`."
        )
    _, treedef = tree_flatten_one_level(tree)
    return jtu.tree_unflatten(
        treedef,
        [
            _broadcast(m, t, (*path, k))
            for (k, m), (_, t) in zip(mask_children, tree_children or [], strict=True)
        ],
    )


def tree_summary(tree: Any, *, trainable: Any = None) -> TreeSummary:
    """Parameter counts and bytes of `tree` per path, per Module type and per dtype.

    Arguments:
        tree: a PyTree, typically a Module; its arrays may be concrete or abstract
            (`jax.ShapeDtypeStruct`, as `filter_eval_shape` returns), with the same result.
        trainable: a bool PyTree prefix of `tree` saying which leaves train; by default
            `field_mask(tree, TRAINABLE, default=True)`, i.e. the field metadata.

    Returns:
        A `TreeSummary` (data: `.rows`, `.total`, `.trainable`, `.frozen`,
        `.by_module`, `.by_dtype`); `print(summary)` shows it as a table.

    Raises:
        ValueError: `trainable` is not a prefix of `tree` (the message names the path).
        TypeError: `trainable` holds something other than bools at some path.

    Example:
        ```python
        abstract = eqx.filter_eval_shape(eqx.nn.MLP, 784, 10, 256, 2, key=jr.key(0))
        print(eqx.tree_summary(abstract))  # sized without allocating
        ```
    """
    if trainable is None:
        mask = field_mask(tree, TRAINABLE, True)
    else:
        mask = _broadcast(trainable, tree, ())
    rows: list[SummaryRow] = []

    def walk(node: Any, mask_node: Any, path: tuple[Any, ...], module: str) -> None:
        size = array_size(node)
        if size is not None:
            rows.append(
                SummaryRow(
                    path=jtu.keystr(path) or "<root>",
                    module=module,
                    shape=tuple(int(d) for d in node.shape),
                    dtype=str(getattr(node.dtype, "name", node.dtype)),
                    params=size.params,
                    nbytes=size.nbytes,
                    trainable=bool(mask_node),
                )
            )
            return
        children = children_with_keys(node)
        if not children:
            return
        if class_metadata(node) is not None:
            module = type(node).__qualname__
        mask_children = children_with_keys(mask_node) or []
        for (key, child), (_, child_mask) in zip(children, mask_children, strict=True):
            walk(child, child_mask, (*path, key), module)

    walk(tree, mask, (), "-")
    return TreeSummary(tuple(rows))
