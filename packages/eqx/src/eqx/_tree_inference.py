"""`eqx.tree_inference`: the deprecated spelling of `eqx.nn.inference_mode`.

This is the only function the meta-package defines itself: Equinox keeps the
old name at the top level, so migrating code may still call it.
"""

from typing import TypeVar

from eqx_nn import inference_mode
from eqx_tree import EqxDeprecationWarning
from eqx_tree.internal import warn_at_user_code

_PyTree = TypeVar("_PyTree")


def tree_inference(pytree: _PyTree, value: bool = True) -> _PyTree:
    """Deprecated alias of `eqx.nn.inference_mode`; switch to that.

    Sets the `inference` attribute of every layer in `pytree` that has one (dropout,
    attention, batch norm, ...) to `value`, and returns the new tree.

    Arguments:
        pytree: the model (any PyTree).
        value: `True` for inference mode, `False` for training mode.

    Returns:
        A copy of `pytree` with every `inference` attribute set to `value`.

    Warns:
        EqxDeprecationWarning: always, pointing at the caller.

    Example:
        ```python
        model = eqx.nn.inference_mode(model)  # instead of eqx.tree_inference(model, True)
        ```
    """
    warn_at_user_code(
        "`eqx.tree_inference` is deprecated: use `eqx.nn.inference_mode(pytree, value)` "
        "instead, which does the same thing.",
        EqxDeprecationWarning,
    )
    return inference_mode(pytree, value=value)
