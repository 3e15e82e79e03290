"""`freeze`: a copy of a Module whose every field is marked `TRAINABLE: False`.

Per-instance freezing without changing the model's shape: each Module in the subtree
becomes an instance of a subclass of its own class (cached, one per class) whose
fields are redeclared with `TRAINABLE: False` added to their metadata. Paths,
attribute access, `isinstance` checks, `__call__` and leaves are all unchanged, so
`field_mask(model, TRAINABLE, True)` simply reads `False` there. No `__init__` runs
and arrays are not copied.
"""

from __future__ import annotations

import dataclasses
import threading
from typing import Any, TypeVar

import jax.tree_util as jtu

from eqx_tree import tree_flatten_one_level

from ._metadata import TRAINABLE, class_metadata

__all__ = ["freeze", "is_frozen_class"]

_T = TypeVar("_T")

_lock = threading.Lock()
# A registry, not a cache: `clear_caches` must not empty it, or a layer frozen after the
# clear would get a second `FrozenX` class and no longer match one frozen before.
_frozen_classes: dict[type, type] = {}


def is_frozen_class(cls: type) -> bool:
    """Whether `cls` is one of the subclasses `freeze` creates."""
    return bool(cls.__dict__.get("_eqx_frozen_copy_of", False))


def _redeclared(f: dataclasses.Field[Any]) -> dataclasses.Field[Any]:
    options: dict[str, Any] = {
        "init": f.init,
        "repr": f.repr,
        "hash": f.hash,
        "compare": f.compare,
        "kw_only": f.kw_only,
        "metadata": {**f.metadata, TRAINABLE: False},
    }
    if f.default is not dataclasses.MISSING:
        options["default"] = f.default
    if f.default_factory is not dataclasses.MISSING:
        options["default_factory"] = f.default_factory
    new_field: dataclasses.Field[Any] = dataclasses.field(**options)
    return new_field


def _frozen_class(cls: type) -> type:
    if is_frozen_class(cls):
        return cls
    with _lock:
        frozen = _frozen_classes.get(cls)
        if frozen is None:
            fields = dataclasses.fields(cls)
            namespace: dict[str, Any] = {
                "__module__": cls.__module__,
                "__qualname__": f"Frozen{cls.__qualname__}",
                "__doc__": cls.__doc__,
                "__annotations__": {f.name: f.type for f in fields},
                "_eqx_frozen_copy_of": cls,
            }
            namespace.update({f.name: _redeclared(f) for f in fields})
            frozen = type(cls)(f"Frozen{cls.__name__}", (cls,), namespace)
            _frozen_classes[cls] = frozen
    return frozen


def _freeze_node(node: Any) -> Any:
    if class_metadata(node) is None:
        return node
    new: Any = object.__new__(_frozen_class(type(node)))
    state = getattr(node, "__dict__", None)
    if state is not None:
        new.__dict__.update(state)
    for f in dataclasses.fields(node):
        if hasattr(node, f.name):
            object.__setattr__(new, f.name, getattr(node, f.name))
    return new


def freeze(module: _T) -> _T:
    """A copy of `module` in which every field (of it and of every Module inside it) is frozen.

    "Frozen" means the field metadata `TRAINABLE` is `False`, so
    `field_mask(tree, TRAINABLE, default=True)` is `False` on all of its leaves, while
    the rest of a model keeps its own annotations. The copy behaves exactly like the
    original (same leaves, paths and outputs; still an instance of the original class);
    only its class's field metadata differs. Applying `freeze` twice is harmless.

    Arguments:
        module: a Module, or any PyTree containing Modules (each is frozen).

    Returns:
        The frozen copy. Its classes are named `Frozen<Name>` in reprs.

    Example:
        ```python
        model = eqx.tree_at(lambda m: m.encoder, model, replace_fn=eqx.freeze)
        mask = eqx.field_mask(model, eqx.TRAINABLE, default=True)  # encoder: all False
        ```
    """

    # Bottom-up, so nested Modules are frozen too; an outer field's annotation alone
    # would be overridden by any inner field explicitly marked trainable.
    def rebuild(node: Any) -> Any:
        children = _module_children(node)
        if children is not None:
            leaves, treedef = children
            node = jtu.tree_unflatten(treedef, [rebuild(c) for c in leaves])
        return _freeze_node(node)

    result: _T = rebuild(module)
    return result


def _module_children(node: Any) -> tuple[list[Any], Any] | None:
    leaves, treedef = tree_flatten_one_level(node)
    if jtu.treedef_is_leaf(treedef):
        return None
    return leaves, treedef
