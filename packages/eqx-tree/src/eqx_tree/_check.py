"""`tree_check`: refuse PyTrees with cycles or with a subtree (or array) stored twice."""

from __future__ import annotations

from typing import Any

from ._aliases import find_aliases

__all__ = ["tree_check"]


def tree_check(pytree: Any, *, arrays: bool = False) -> None:
    """Raise if `pytree` contains a cycle, or the same non-leaf node in two places.

    A subtree stored twice becomes two independent copies after any JAX
    transformation (flatten, then unflatten), silently untying what looked tied.
    Repeated leaves, `[]`, `None` and field-less Modules (nodes with no leaves) are fine.

    Args:
        pytree: the PyTree to check.
        arrays: also refuse a JAX or NumPy array leaf stored twice (the same object, by
            `id`): like a repeated subtree, it becomes two copies under a transform.
            Off by default, since a repeated array is sometimes intended (the same
            input passed in two places). NumPy scalars are never flagged.

    Raises:
        ValueError: «self-referential» for a cycle; «appears in the PyTree multiple
            times» for a node with at least one leaf occurring twice (by `id`), or with
            `arrays=True` an array occurring twice; the message names the node's type
            (or the array's dtype and shape) and both paths.

    Example:
        >>> shared = [1]
        >>> tree_check([shared, shared])
        Traceback (most recent call last):
        ...
        ValueError: ...appears in the PyTree multiple times...
    """
    aliases = find_aliases(pytree, arrays=arrays)
    if aliases:
        raise ValueError(aliases[0].describe())
