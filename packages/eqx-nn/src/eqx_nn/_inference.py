"""`inference_mode`: switch every layer of a model between training and inference."""

from typing import Any, TypeVar

import jax.tree_util as jtu

from eqx_tree import tree_at

__all__ = ["inference_mode"]

_PyTree = TypeVar("_PyTree")


def _has_inference(x: Any) -> bool:
    # Classes are leaves too (rarely); a class attribute is not a node of the tree.
    return not isinstance(x, type) and hasattr(x, "inference")


def _inference_nodes(pytree: Any) -> tuple[Any, ...]:
    # The root counts, and matches are recursed into (an attention layer with an
    # `inference` flag still holds a `Dropout` with its own).
    nodes = [pytree.inference] if _has_inference(pytree) else []

    def is_leaf(x: Any) -> bool:
        return x is not pytree and _has_inference(x)

    for child in jtu.tree_leaves(pytree, is_leaf=is_leaf):
        if is_leaf(child):
            nodes.extend(_inference_nodes(child))
    return tuple(nodes)


def inference_mode(pytree: _PyTree, value: bool = True) -> _PyTree:
    """Set the `inference` flag of every layer in `pytree` that has one.

    Finds every node with an `inference` attribute (the root included, and recursing into
    matches, so for example `MultiheadAttention.dropout.inference` is reached) and sets it
    to `value` with `tree_at`: no `__init__` runs. Works on partitioned models too, where
    some of those attributes are `None`.

    Arguments:
        pytree: the model (any PyTree).
        value: `True` for inference mode (dropout off, batch norm uses running
            statistics, ...), `False` for training mode.

    Returns:
        A copy of `pytree` with every `inference` attribute set to `value`.

    Example:
        ```python
        eval_model = eqx.nn.inference_mode(model)
        train_model = eqx.nn.inference_mode(eval_model, value=False)
        ```
    """
    nodes = _inference_nodes(pytree)
    if not nodes:
        return pytree
    return tree_at(
        _inference_nodes, pytree, replace=(value,) * len(nodes), is_leaf=lambda x: x is None
    )
