"""`field` and `static_field`: dataclass fields with eqx metadata.

`field` is `dataclasses.field` plus two eqx options, recorded in the field's metadata:
`converter` (run once on the value after `__post_init__`) and `static` (the value lives
in the PyTree structure rather than among its leaves). Any other metadata is kept
verbatim, so later per-field analyses can read it.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import field as _dataclass_field
from typing import Any, TypeVar, overload

from eqx_tree import EqxDeprecationWarning
from eqx_tree.internal import warn_at_user_code

_T = TypeVar("_T")

__all__ = ["field", "static_field"]


@overload
def field(
    *,
    converter: Callable[[Any], Any] | None = None,
    static: bool = False,
    default: _T,
    init: bool = True,
    repr: bool = True,
    hash: bool | None = None,
    compare: bool = True,
    metadata: Mapping[Any, Any] | None = None,
    kw_only: bool = ...,
) -> _T: ...


@overload
def field(
    *,
    converter: Callable[[Any], Any] | None = None,
    static: bool = False,
    default_factory: Callable[[], _T],
    init: bool = True,
    repr: bool = True,
    hash: bool | None = None,
    compare: bool = True,
    metadata: Mapping[Any, Any] | None = None,
    kw_only: bool = ...,
) -> _T: ...


@overload
def field(
    *,
    converter: Callable[[Any], Any] | None = None,
    static: bool = False,
    init: bool = True,
    repr: bool = True,
    hash: bool | None = None,
    compare: bool = True,
    metadata: Mapping[Any, Any] | None = None,
    kw_only: bool = ...,
) -> Any: ...


def field(
    *,
    converter: Callable[[Any], Any] | None = None,
    static: bool = False,
    **kwargs: Any,
) -> Any:
    """Declares a Module field, like `dataclasses.field`, with eqx options.

    Arguments:
        converter: called once on the field's value after `__init__` and
            `__post_init__` (which still see the raw value); its result is stored.
        static: if true, the value is part of the PyTree structure (the treedef),
            not a leaf. Static values must be hashable to cross `jax.jit`.
        **kwargs: passed to `dataclasses.field` (`default`, `default_factory`,
            `init`, `repr`, `metadata`, `kw_only`, ...).

    Returns:
        A `dataclasses.Field`. Its metadata is a copy of `metadata`, plus
        `"converter"` only when a converter is given and `"static": True` only when
        `static` is true.

    Raises:
        ValueError: `metadata` already has a `converter` or `static` key.

    Example:
        ```python
        class Layer(eqx_module.Module):
            weight: jax.Array = field(converter=jnp.asarray)
            activation: Callable = field(static=True, default=jax.nn.relu)
        ```
    """
    metadata = dict(kwargs.pop("metadata", None) or {})
    if "converter" in metadata:
        raise ValueError(
            "Cannot use metadata with `converter` already set. Pass the converter as "
            "`field(converter=...)` instead of inside `metadata`."
        )
    if "static" in metadata:
        raise ValueError(
            "Cannot use metadata with `static` already set. Pass `field(static=True)` "
            "instead of putting `static` inside `metadata`."
        )
    if converter is not None:
        metadata["converter"] = converter
    if static:
        metadata["static"] = True
    return _dataclass_field(metadata=metadata, **kwargs)


def static_field(**kwargs: Any) -> Any:
    """Deprecated alias of `field(static=True, **kwargs)`.

    Arguments:
        **kwargs: as for `field`.

    Returns:
        `field(static=True, **kwargs)`.

    Warns:
        EqxDeprecationWarning: always; use `field(static=True)` instead.
    """
    warn_at_user_code(
        "`static_field` is deprecated; use `field(static=True, ...)` instead.",
        EqxDeprecationWarning,
    )
    return field(static=True, **kwargs)
