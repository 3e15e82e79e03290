"""`find_nans`: list, eagerly, every leaf of a PyTree holding a NaN or an infinity."""

from __future__ import annotations

import dataclasses
from typing import Any

import jax
import jax.numpy as jnp
import jax.tree_util as jtu
import numpy as np

from eqx_tree import is_inexact_array

from .._compat import tracer_type

__all__ = ["NonFiniteCount", "NonFinitePaths", "find_nans"]


@dataclasses.dataclass(frozen=True)
class NonFiniteCount:
    """How many elements of one leaf are NaN and how many infinite, out of `size`."""

    nan: int
    inf: int
    size: int


class NonFinitePaths(list[str]):
    """The result of `find_nans`: a list of paths, with per-path counts in `counts`.

    It *is* the list of `jax.tree_util.keystr` paths (so it compares equal to a plain
    list); `counts[path]` is a `NonFiniteCount`, and `str()` gives one line per path.
    """

    counts: dict[str, NonFiniteCount]

    def __init__(self, counts: dict[str, NonFiniteCount]) -> None:
        super().__init__(counts)
        self.counts = counts

    def __str__(self) -> str:
        if not self:
            return "no NaN or infinite values"
        return "\n".join(
            f"{path or '<root>'}: {c.nan} NaN, {c.inf} inf (of {c.size} elements)"
            for path, c in self.counts.items()
        )


def _counts(leaf: Any) -> tuple[Any, Any]:
    if isinstance(leaf, jax.Array):
        return jnp.sum(jnp.isnan(leaf)), jnp.sum(jnp.isinf(leaf))
    array = np.asarray(leaf)
    return np.sum(np.isnan(array)), np.sum(np.isinf(array))


def find_nans(tree: Any) -> NonFinitePaths:
    """The paths of the leaves of `tree` that hold a NaN or an infinity, with counts.

    Eager: it reads the values, so call it outside `jit` (on a model, its gradients, a
    batch); inside compiled code use `check_finite`. Floating and complex JAX and NumPy
    arrays and Python floats are inspected; other leaves cannot hold NaN and are skipped.

    **Returns:** a list of `jax.tree_util.keystr` paths in flatten order (`""` for a
    root that is itself an array), which also carries `counts[path]`
    (`NonFiniteCount(nan, inf, size)`) and prints one line per path.

    **Raises:** `TypeError` if a leaf is being traced (inside `jit`, `vmap`, `grad`).

    ```python
    >>> eqx.debug.find_nans({"a": jnp.ones(2), "b": [jnp.array([0.0, jnp.nan])]})
    ["['b'][0]"]
    ```
    """
    pending: list[tuple[str, Any, Any, int]] = []
    for path, leaf in jtu.tree_flatten_with_path(tree)[0]:
        if isinstance(leaf, tracer_type):
            raise TypeError(
                f"`find_nans` reads values, but the leaf at `{jtu.keystr(path)}` is being "
                "traced (inside `jit`, `vmap` or `grad`). Call it outside the transform, "
                "or use `eqx.debug.check_finite` inside compiled code."
            )
        if is_inexact_array(leaf) or isinstance(leaf, (float, complex)):
            nan, inf = _counts(leaf)
            pending.append((jtu.keystr(path), nan, inf, int(np.size(leaf))))
    # One transfer for all the counts, rather than one round trip per leaf.
    fetched = jax.device_get([(nan, inf) for _, nan, inf, _ in pending])
    counts = {
        path: NonFiniteCount(int(nan), int(inf), size)
        for (path, _, _, size), (nan, inf) in zip(pending, fetched, strict=True)
        if nan or inf
    }
    return NonFinitePaths(counts)
