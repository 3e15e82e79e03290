"""`tree_to_flat_dict` / `tree_from_flat_dict`: a pytree as a `{"layers.0.weight": array}` dict.

Other ecosystems pass weights around as flat "state dicts" keyed by dotted names
(PyTorch's `module.state_dict()`, Hugging Face checkpoints). These two functions move
weights between such a dict and a pytree, with the same names `tree_save` writes (see
`_checkpoint_leaves` for the naming rule).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, TypeVar

import jax

from ._checkpoint_leaves import leaf_spec, named_leaves, restore_leaf
from ._checkpoint_report import CheckpointMismatchError, compare_leaves, mismatch_message

__all__ = ["tree_from_flat_dict", "tree_to_flat_dict"]

_T = TypeVar("_T")


def tree_to_flat_dict(pytree: Any, sep: str = ".") -> dict[str, Any]:
    """Flatten a pytree to a dict from dotted leaf names to leaves.

    Array leaves (`jax.Array`, `np.ndarray`, `np.generic`) and Python
    `bool`/`int`/`float`/`complex` leaves are included, unchanged (no copy, no
    conversion); other leaves (functions, strings, ...) are left out. Names join each
    key of the leaf's path with `sep`: attribute names, sequence indices and dict keys,
    for example `"layers.0.weight"`. Within a key, `%` becomes `%25` and `sep` is
    percent-encoded (`{"a.b": x}` gives `"a%2Eb"`), so names are unambiguous. The dict is
    in flatten order.

    Arguments:
        pytree: any pytree, for example a Module.
        sep: the separator between name parts.

    Returns:
        `{name: leaf}`.

    Raises:
        ValueError: `sep` is empty or contains `%`, or two leaves would get the same name.

    Example:
        ```python
        params = {"layers": [{"weight": jnp.ones((2, 3)), "bias": jnp.zeros(2)}]}
        flat = eqx_tree.tree_to_flat_dict(params)
        # {"layers.0.bias": Array([0., 0.]), "layers.0.weight": Array(...)}
        torch_style = {name: np.asarray(leaf) for name, leaf in flat.items()}
        ```
    """
    return {named.name: named.leaf for named in named_leaves(pytree, sep)}


def tree_from_flat_dict(like: _T, flat: Mapping[str, Any], sep: str = ".") -> _T:
    """Fill `like`'s array leaves from a flat `{name: array}` dict; inverse of `tree_to_flat_dict`.

    Every leaf `tree_to_flat_dict(like, sep)` would name must be in `flat`, with the same
    shape and dtype, and `flat` must hold nothing else. Each value becomes the kind of
    leaf `like` has there: a JAX array (placed on `like`'s sharding when it has one) for
    a `jax.Array` or `jax.ShapeDtypeStruct`, a NumPy array for a NumPy array, and a
    Python scalar for a Python scalar. Leaves that are not stored (functions, strings)
    are taken from `like`.

    Arguments:
        like: a pytree with the target structure; its array leaves may be arrays or
            `jax.ShapeDtypeStruct`s (for example from `filter_eval_shape`).
        flat: names to values: NumPy arrays, JAX arrays, NumPy or Python scalars.
        sep: the separator the names were built with.

    Returns:
        A tree with `like`'s structure and `flat`'s values.

    Raises:
        CheckpointMismatchError: (a `ValueError`) listing together every missing name,
            every unexpected name, and every shape or dtype that differs, each with its
            path and both values.
        TypeError: a value in `flat` is not an array or scalar.
        ValueError: as for `tree_to_flat_dict`.

    Example:
        ```python
        state_dict = {name: t.numpy() for name, t in torch_model.state_dict().items()}
        model = eqx_tree.tree_from_flat_dict(model, state_dict)
        ```
    """
    expected = named_leaves(like, sep)
    found = {}
    for name, value in flat.items():
        spec = leaf_spec(value)
        if spec is None:
            raise TypeError(
                f"flat[{name!r}] is a {type(value).__name__}; values must be arrays or "
                "Python/NumPy scalars (convert tensors with np.asarray first)"
            )
        found[name] = spec
    report = compare_leaves(
        [(named, spec) for named in expected if (spec := leaf_spec(named.leaf)) is not None],
        found,
    )
    if report:
        raise CheckpointMismatchError(
            mismatch_message(report, "the flat dict", offer_non_strict=False), report
        )
    leaves, treedef = jax.tree_util.tree_flatten(like)
    for named in expected:
        leaves[named.index] = restore_leaf(named.leaf, flat[named.name])
    return jax.tree_util.tree_unflatten(treedef, leaves)
