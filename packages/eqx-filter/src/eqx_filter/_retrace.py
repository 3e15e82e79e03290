"""Why did it retrace? A path-by-path diff of two call signatures.

`filter_jit` records, on each trace, the call's signature: the bound `(args, kwargs)`
with every array replaced by a `jax.ShapeDtypeStruct` and every other leaf as it was
(`eqx_filter._jit.trace_signatures`). Two consecutive signatures differ exactly where
the cache key differed: a treedef, a static leaf, or an array's shape/dtype/weak type.
`explain_signature_change` names each difference by its leaf path. It is plain
Python over PyTrees, runs only when asked (never on a cache hit), and needs no JIT.
"""

from __future__ import annotations

import dataclasses
import inspect
import weakref
from collections.abc import Callable, Sequence
from typing import Any

import jax
import jax.tree_util as jtu
import numpy as np

__all__ = ["explain_signature_change", "parameter_names", "short_aval"]

_PYTHON_NUMBERS = (bool, int, float, complex)
_MAX_REPR = 120


def short_aval(x: Any) -> str:
    """`f32[3,4]`-style summary of an array or `ShapeDtypeStruct`."""
    dtype = np.dtype(x.dtype)
    kind = {"f": "f", "i": "i", "u": "u", "b": "bool", "c": "c"}.get(dtype.kind, dtype.name)
    name = kind if kind == "bool" or kind == dtype.name else f"{kind}{dtype.itemsize * 8}"
    if dtype.name == "bfloat16":
        name = "bf16"
    return f"{name}[{','.join(str(d) for d in x.shape)}]"


def _is_abstract_array(x: Any) -> bool:
    return isinstance(x, jax.ShapeDtypeStruct) or (
        hasattr(x, "shape") and hasattr(x, "dtype") and not isinstance(x, type)
    )


def _describe_static(x: Any) -> str:
    if isinstance(x, weakref.ref):
        x = x()
    if inspect.isfunction(x) or inspect.isbuiltin(x) or inspect.ismethod(x):
        return f"<function {getattr(x, '__qualname__', repr(x))}>"
    if isinstance(x, type):
        return f"<class {x.__qualname__}>"
    text = repr(x)
    return text if len(text) <= _MAX_REPR else text[: _MAX_REPR - 3] + "..."


def _static_equal(a: Any, b: Any) -> bool:
    if isinstance(a, weakref.ref) and isinstance(b, weakref.ref):
        return a() is b()
    if type(a) is not type(b):
        return False
    try:
        return bool(a == b)
    except Exception:
        return a is b


def _weak(x: Any) -> bool:
    return bool(getattr(x, "weak_type", False))


def _leaf_change(a: Any, b: Any) -> str | None:
    a_array, b_array = _is_abstract_array(a), _is_abstract_array(b)
    if a_array and b_array:
        changes = []
        if tuple(a.shape) != tuple(b.shape):
            changes.append(f"shape changed {tuple(a.shape)} -> {tuple(b.shape)}")
        if np.dtype(a.dtype) != np.dtype(b.dtype):
            changes.append(f"dtype changed {np.dtype(a.dtype).name} -> {np.dtype(b.dtype).name}")
        if _weak(a) != _weak(b):
            changes.append(
                "weak type changed "
                f"({'weakly' if _weak(a) else 'strongly'} typed -> "
                f"{'weakly' if _weak(b) else 'strongly'} typed; a Python scalar passed to "
                "`jnp` functions gives a weakly typed array)"
            )
        if not changes:
            return None
        return "; ".join(changes) + f" ({short_aval(a)} -> {short_aval(b)})"
    if a_array != b_array:
        old = f"an array {short_aval(a)}" if a_array else f"the static value {_describe_static(a)}"
        new = f"an array {short_aval(b)}" if b_array else f"the static value {_describe_static(b)}"
        return f"changed from {old} to {new} (arrays are traced, everything else is static)"
    if _static_equal(a, b):
        return None
    if isinstance(a, _PYTHON_NUMBERS) and isinstance(b, _PYTHON_NUMBERS) and type(a) is type(b):
        return (
            f"Python {type(a).__name__} {a!r} -> {b!r} (Python numbers are static; pass a jnp "
            "array to avoid retracing)"
        )
    return f"static value changed ({_describe_static(a)} -> {_describe_static(b)})"


def _is_leaf(x: Any) -> bool:
    return jtu.treedef_is_leaf(jtu.tree_structure(x)) and x is not None


def _children(x: Any) -> tuple[list[Any], Any]:
    """One level of `x`: its `(key, child)` pairs and the one-level treedef."""
    pairs, treedef = jtu.tree_flatten_with_path(x, is_leaf=lambda y: y is not x)
    return [(path[0], child) for path, child in pairs], treedef


def _structure_summary(x: Any) -> str:
    if x is None:
        return "None"
    text = str(jtu.tree_structure(x))
    return text if len(text) <= 2 * _MAX_REPR else text[: 2 * _MAX_REPR - 3] + "..."


def _diff(path: tuple[Any, ...], a: Any, b: Any, out: list[tuple[tuple[Any, ...], str]]) -> None:
    if a is b:
        return
    a_leaf, b_leaf = _is_leaf(a), _is_leaf(b)
    if a_leaf and b_leaf:
        change = _leaf_change(a, b)
        if change is not None:
            out.append((path, change))
        return
    if a_leaf != b_leaf or a is None or b is None:
        out.append((path, f"treedef changed: {_structure_summary(a)} -> {_structure_summary(b)}"))
        return
    a_pairs, a_def = _children(a)
    b_pairs, b_def = _children(b)
    if a_def != b_def and _static_fields_differ(path, a, b, a_pairs, b_pairs, out):
        a_def = b_def  # explained by the static fields; compare the children as well
    if a_def != b_def:
        out.append((path, f"treedef changed: {_structure_summary(a)} -> {_structure_summary(b)}"))
        return
    for (key, a_child), (_, b_child) in zip(a_pairs, b_pairs, strict=True):
        _diff((*path, key), a_child, b_child, out)


def _static_fields_differ(
    path: tuple[Any, ...],
    a: Any,
    b: Any,
    a_pairs: list[Any],
    b_pairs: list[Any],
    out: list[tuple[tuple[Any, ...], str]],
) -> bool:
    """For two dataclasses (Modules) of one type: report their changed static fields."""
    if type(a) is not type(b) or not dataclasses.is_dataclass(a):
        return False
    if [key for key, _ in a_pairs] != [key for key, _ in b_pairs]:
        return False
    children = {getattr(key, "name", None) for key, _ in a_pairs}
    found = False
    for field in dataclasses.fields(a):
        if field.name in children:
            continue
        change = _leaf_change(getattr(a, field.name, None), getattr(b, field.name, None))
        if change is not None:
            out.append(((*path, jtu.GetAttrKey(field.name)), change))
            found = True
    return found


def _path_text(path: tuple[Any, ...], names: Sequence[str]) -> str:
    """`args[0].w` as `x.w` when argument 0 is the parameter `x`."""
    if len(path) >= 2 and isinstance(path[0], jtu.SequenceKey):
        group = path[0].idx
        rest = path[1:]
        if group == 0:  # the function itself (a Module or closure) was part of the key
            return "fun" + jtu.keystr(rest)
        if group == 1 and isinstance(rest[0], jtu.SequenceKey) and rest[0].idx < len(names):
            return names[rest[0].idx] + jtu.keystr(rest[1:])
        prefix = "args" if group == 1 else "kwargs"
        return prefix + jtu.keystr(rest)
    return jtu.keystr(path) or "(the whole call)"


def explain_signature_change(old: Any, new: Any, parameter_names: Sequence[str] = ()) -> list[str]:
    """The differences between two recorded trace signatures, one line per leaf path.

    **Arguments:**

    - `old`, `new`: `(fun, args, kwargs)` tuples as `trace_signatures` records them
      (arrays as `ShapeDtypeStruct`s). A pair `(args, kwargs)` is accepted too.
    - `parameter_names`: the names of the positional parameters, so that `args[0]`
      reads as `x`.

    **Returns:** lines such as `x: shape changed (3, 4) -> (5, 4) (f32[3,4] -> f32[5,4])`,
    `kwargs['n']: Python int 3 -> 4 (...)` or
    `args[0]['opts']: treedef changed: PyTreeDef(...) -> PyTreeDef(...)`; empty if
    nothing differs (for example, only a sharding changed).

    ```python
    old = ((), (jax.ShapeDtypeStruct((3,), jnp.float32),), {})
    new = ((), (jax.ShapeDtypeStruct((4,), jnp.float32),), {})
    explain_signature_change(old, new, ["x"])
    # ['x: shape changed (3,) -> (4,) (f32[3] -> f32[4])']
    ```
    """
    if len(old) == 2 and len(new) == 2:
        old, new = (None, *old), (None, *new)
    found: list[tuple[tuple[Any, ...], str]] = []
    _diff((), tuple(old), tuple(new), found)
    return [f"{_path_text(path, parameter_names)}: {change}" for path, change in found]


def parameter_names(fun: Callable[..., Any] | None) -> list[str]:
    """The positional parameter names of `fun` (following `__wrapped__`), if known."""
    if fun is None:
        return []
    try:
        signature = inspect.signature(fun)
    except (TypeError, ValueError):
        return []
    kinds = (inspect.Parameter.POSITIONAL_ONLY, inspect.Parameter.POSITIONAL_OR_KEYWORD)
    return [p.name for p in signature.parameters.values() if p.kind in kinds]
