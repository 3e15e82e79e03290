"""`tree_pformat` / `tree_pprint`: readable, width-aware renderings of PyTrees.

The layout is Wadler–Lindig (a structure fits on one line or breaks one item per
line), provided by the small pure-Python `wadler_lindig` library, which also honours
`__pdoc__` hooks. What eqx adds is how JAX things render: arrays as `f32[3,4]`,
JAX-wrapped functions as the function they wrap, `jax.tree_util.Partial` with its
fields, and optional truncation of chosen nodes.

`wadler_lindig` is imported on the first rendering, not with `eqx_tree`: importing it
costs more than the rest of `eqx_tree` together.
"""

from __future__ import annotations

import dataclasses
import types
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

import jax
import jax.numpy as jnp
import jax.tree_util as jtu
import numpy as np

if TYPE_CHECKING:
    import wadler_lindig as wl

__all__ = ["tree_pformat", "tree_pprint"]

_DTYPE_PREFIXES = (("bfloat", "bf"), ("float", "f"), ("uint", "u"), ("int", "i"), ("complex", "c"))


def _never(_: Any) -> bool:
    return False


def _short_dtype(dtype: Any) -> str:
    if jnp.issubdtype(dtype, jax.dtypes.extended):
        return str(dtype)  # typed PRNG keys: `key<fry>`; not NumPy dtypes
    name = np.dtype(dtype).name
    for long, short in _DTYPE_PREFIXES:
        if name.startswith(long):
            return short + name[len(long) :]
    return name


def _array_summary(shape: tuple[int, ...], dtype: Any, weak_type: bool, suffix: str = "") -> str:
    weak = "weak_" if weak_type else ""
    dims = ",".join(str(d) for d in shape)
    return f"{weak}{_short_dtype(dtype)}[{dims}]{suffix}"


def _weak_type(x: Any) -> bool:
    weak = getattr(x, "weak_type", None)
    if weak is None:
        weak = getattr(getattr(x, "aval", None), "weak_type", False)
    return bool(weak)


def _is_wrapped_callable(obj: Any) -> bool:
    return (
        callable(obj)
        and hasattr(obj, "__wrapped__")
        and not isinstance(obj, (types.FunctionType, type))
        and not dataclasses.is_dataclass(obj)
    )


def _pdoc_custom(
    short_arrays: bool, struct_as_array: bool, truncate_leaf: Callable[[Any], Any], indent: int
) -> Callable[[Any], wl.AbstractDoc | None]:
    import wadler_lindig as wl

    def custom(obj: Any) -> wl.AbstractDoc | None:
        if truncate_leaf(obj):
            return wl.TextDoc(f"{type(obj).__name__}(...)")
        if isinstance(obj, jax.Array):
            if not short_arrays:
                return None
            return wl.TextDoc(_array_summary(obj.shape, obj.dtype, _weak_type(obj)))
        if isinstance(obj, (np.ndarray, np.generic)):
            if not short_arrays:
                return None
            return wl.TextDoc(_array_summary(np.shape(obj), obj.dtype, False, "(numpy)"))
        if struct_as_array and isinstance(obj, jax.ShapeDtypeStruct):
            return wl.TextDoc(_array_summary(obj.shape, obj.dtype, bool(obj.weak_type)))
        if isinstance(obj, (jax.custom_jvp, jax.custom_vjp)):
            return recurse(obj.fun)
        if isinstance(obj, jtu.Partial):
            fields = [("func", obj.func), ("args", obj.args), ("keywords", obj.keywords)]
            return wl.bracketed(
                begin=wl.TextDoc("Partial("),
                docs=wl.named_objs(fields, **options),
                sep=wl.comma,
                end=wl.TextDoc(")"),
                indent=indent,
            )
        if _is_wrapped_callable(obj):
            name = getattr(obj, "__qualname__", None) or getattr(obj, "__name__", None)
            if isinstance(name, str):
                return wl.TextDoc(f"<wrapped function {name}>")
        return None

    options: dict[str, Any] = {"indent": indent, "short_arrays": short_arrays, "custom": custom}

    def recurse(obj: Any) -> wl.AbstractDoc:
        return wl.pdoc(obj, **options)

    return custom


def tree_pformat(
    pytree: Any,
    *,
    width: int = 80,
    indent: int = 2,
    short_arrays: bool = True,
    struct_as_array: bool = False,
    truncate_leaf: Callable[[Any], Any] = _never,
) -> str:
    """Render `pytree` as a string that fits `width` columns where it can.

    Arguments:
        pytree: anything; PyTrees, Modules and dataclasses render by structure.
        width: the target line width.
        indent: indentation of broken-up structures.
        short_arrays: render arrays as `f32[3,4]` (a weakly-typed JAX array adds a
            `weak_` prefix; a NumPy array adds a `(numpy)` suffix). `False` uses `repr`.
        struct_as_array: render a `jax.ShapeDtypeStruct` like an array.
        truncate_leaf: nodes for which this is truthy render as `Type(...)`.

    Returns:
        The rendering. Dataclasses and Modules show their `repr=True` fields, hiding
        a value that *is* its default; a missing attribute shows `<uninitialised>`
        and a recursive reference `<recursive>`.

    Example:
        >>> tree_pformat({"w": jnp.ones((3, 4)), "n": 1})
        "{'w': f32[3,4], 'n': 1}"
    """
    import wadler_lindig as wl

    custom = _pdoc_custom(short_arrays, struct_as_array, truncate_leaf, indent)
    return wl.pformat(pytree, width=width, indent=indent, short_arrays=short_arrays, custom=custom)


def tree_pprint(
    pytree: Any,
    *,
    width: int = 80,
    indent: int = 2,
    short_arrays: bool = True,
    struct_as_array: bool = False,
    truncate_leaf: Callable[[Any], Any] = _never,
) -> None:
    """Print `tree_pformat(pytree, ...)`."""
    print(
        tree_pformat(
            pytree,
            width=width,
            indent=indent,
            short_arrays=short_arrays,
            struct_as_array=struct_as_array,
            truncate_leaf=truncate_leaf,
        )
    )
