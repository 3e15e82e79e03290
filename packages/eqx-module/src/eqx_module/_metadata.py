"""Well-known per-field metadata keys, and `field_mask`: a bool PyTree read from them.

A Module field can carry metadata (`field(metadata={TRAINABLE: False})`); `field_mask`
turns one key of that metadata into a bool PyTree shaped like the model, which is what
`partition`, gradient masking and optax's `masked`/`mask=` take. Metadata is analysed
once per class (it is kept verbatim on the class), so reading it costs one walk of the
tree and no `__init__`.

How a value spreads: a field's annotation applies to its whole subtree; an annotation
on a field further down overrides it for that part (the nearest annotation wins).
Where nothing is annotated, `default` applies.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any, Final

import jax.tree_util as jtu

from eqx_tree import tree_flatten_one_level
from eqx_tree.internal import children_with_keys

__all__ = ["BUFFER", "SHARDING", "TRAINABLE", "WEIGHT_DECAY", "field_mask"]

TRAINABLE: Final = "trainable"
"""`False` marks a field as frozen: its leaves are not trained (default `True`)."""
WEIGHT_DECAY: Final = "weight_decay"
"""`False` exempts a field from weight decay, e.g. biases and norms (default `True`)."""
BUFFER: Final = "buffer"
"""`True` marks non-parameter state, such as running statistics (default `False`)."""
SHARDING: Final = "sharding"
"""Reserved for a per-field sharding annotation; its value is not a bool."""

WELL_KNOWN_KEYS: Final = (TRAINABLE, WEIGHT_DECAY, BUFFER, SHARDING)


def class_metadata(node: Any) -> Mapping[str, Mapping[Any, Any]] | None:
    """Per-field metadata of a Module instance's class, or `None` for any other node."""
    info = getattr(type(node), "_eqx_class_info", None)
    if info is None:
        return None
    metadata: Mapping[str, Mapping[Any, Any]] = info.metadata
    return metadata


def field_mask(
    tree: Any, key: str, default: bool, *, only: Callable[[Any], bool] | None = None
) -> Any:
    """A bool PyTree shaped like `tree`: each leaf's value of the field metadata `key`.

    Arguments:
        tree: a PyTree, typically a Module (concrete or from `filter_eval_shape`).
        key: the metadata key, e.g. `TRAINABLE` or `WEIGHT_DECAY`, or your own string.
        default: the value where no enclosing field has `key` in its metadata.
        only: if given, leaves for which `only(leaf)` is false are `False` whatever
            their metadata: `only=eqx.is_inexact_array` gives a mask of trainable
            arrays, ready for `partition` and optax (which cannot take functions).

    Returns:
        A PyTree with the structure of `tree` and a `bool` at every leaf. As a full
        tree it is also a prefix of `eqx.filter(tree, ...)`, so it serves as a
        `filter_spec` for `partition` and as an optax mask (`optax.masked`,
        `optax.adamw(..., mask=...)`).

    Raises:
        TypeError: `key` is not a string, `default` is not a bool, or an annotated
            field's value is not a bool (the message names `Class.field`).
        ValueError: `key` is neither well known nor used by any field in `tree`, which
            is almost always a typo that would silently give `default` everywhere.

    Example:
        ```python
        class Model(eqx.Module):
            embed: jax.Array = eqx.field(metadata={eqx.TRAINABLE: False})
            head: eqx.nn.Linear

        mask = eqx.field_mask(model, eqx.TRAINABLE, True, only=eqx.is_inexact_array)
        params, static = eqx.partition(model, mask)  # embed goes to `static`
        ```
    """
    if not isinstance(key, str):
        raise TypeError(
            f"field_mask: `key` must be a str metadata key, such as eqx.TRAINABLE or "
            f"eqx.WEIGHT_DECAY; got {type(key).__name__} {key!r}."
        )
    if not isinstance(default, bool):
        raise TypeError(
            f"field_mask: `default` must be True or False; got {type(default).__name__} "
            f"{default!r}."
        )
    seen_key = False

    def build(node: Any, value: bool) -> Any:
        nonlocal seen_key
        metadata = class_metadata(node)
        children = children_with_keys(node)
        if children is None:
            return value and (only is None or bool(only(node)))
        _, treedef = tree_flatten_one_level(node)
        new_children = []
        for child_key, child in children:
            child_value = value
            if metadata is not None and isinstance(child_key, jtu.GetAttrKey):
                field_metadata = metadata.get(child_key.name, {})
                if key in field_metadata:
                    seen_key = True
                    child_value = field_metadata[key]
                    if not isinstance(child_value, bool):
                        raise TypeError(
                            f"field_mask: the field `{type(node).__qualname__}."
                            f"{child_key.name}` has metadata {key!r}: {child_value!r}, "
                            "which is not a bool. Use True or False for this key."
                        )
            new_children.append(build(child, child_value))
        return jtu.tree_unflatten(treedef, new_children)

    mask = build(tree, default)
    if not seen_key and key not in WELL_KNOWN_KEYS:
        raise ValueError(
            f"field_mask: no field in the tree has the metadata key {key!r}, and it is not "
            f"a well-known key ({', '.join(map(repr, WELL_KNOWN_KEYS))}). Check the "
            "spelling, or use the constants eqx.TRAINABLE / eqx.WEIGHT_DECAY / eqx.BUFFER."
        )
    return mask
