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
    if isinstance(x, type):
        return f"<class {x.__qualname__}>"
    name = getattr(x, "__qualname__", None) or getattr(x, "__name__", None)
    if callable(x) and isinstance(name, str):  # functions, and wrappers such as jax.nn.relu
        return f"<function {name}>"
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
        return "; ".join(changes) + f" ({short_aval(a)}\u2192{short_aval(b)})"
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
    """A true leaf (one leaf, no node) or `None`; empty containers/Modules are nodes."""
    if x is None:
        return True
    leaves = jtu.tree_leaves(x)
    return len(leaves) == 1 and leaves[0] is x


def _children(x: Any) -> tuple[list[Any], Any]:
    """One level of `x`: its `(key, child)` pairs and the one-level treedef."""
    pairs, treedef = jtu.tree_flatten_with_path(x, is_leaf=lambda y: y is not x)
    return [(path[0], child) for path, child in pairs], treedef


def _structure_summary(x: Any) -> str:
    if x is None:
        return "None"
    text = str(jtu.tree_structure(x))
    return text if len(text) <= 2 * _MAX_REPR else text[: 2 * _MAX_REPR - 3] + "..."


def _short(x: Any) -> str:
    """A one-line description of a value as recorded (arrays as `f32[3]`)."""
    if _is_abstract_array(x):
        return short_aval(x)
    if _is_leaf(x):
        return _describe_static(x)
    text = repr(jtu.tree_map(lambda y: _Shown(short_aval(y)) if _is_abstract_array(y) else y, x))
    return text if len(text) <= _MAX_REPR else text[: _MAX_REPR - 3] + "..."


class _Shown:
    def __init__(self, text: str) -> None:
        self.text = text

    def __repr__(self) -> str:
        return self.text


_Changes = list[tuple[tuple[Any, ...], str]]


def _diff(path: tuple[Any, ...], a: Any, b: Any, out: _Changes) -> None:
    if a is b:
        return
    a_leaf, b_leaf = _is_leaf(a), _is_leaf(b)
    if a_leaf and b_leaf:
        change = _leaf_change(a, b)
        if change is not None:
            out.append((path, change))
        return
    if a_leaf != b_leaf:
        out.append((path, f"treedef changed: {_structure_summary(a)} -> {_structure_summary(b)}"))
        return
    if type(a) is not type(b):
        out.append((path, f"type changed ({type(a).__qualname__} -> {type(b).__qualname__})"))
        return
    if isinstance(a, dict) and a.keys() != b.keys():
        _diff_dict_keys(path, a, b, out)
        return
    if type(a) in (list, tuple) and len(a) != len(b):
        out.append((path, f"length changed {len(a)} -> {len(b)} ({_short(a)} -> {_short(b)})"))
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


def _diff_dict_keys(
    path: tuple[Any, ...], a: dict[Any, Any], b: dict[Any, Any], out: _Changes
) -> None:
    """Two dicts with different keys: a treedef change, named by the keys."""
    for key in a:
        if key in b:
            _diff((*path, jtu.DictKey(key)), a[key], b[key], out)
    added = [f"key {key!r} added: {_short(b[key])}" for key in b if key not in a]
    removed = [f"key {key!r} removed: {_short(a[key])}" for key in a if key not in b]
    out.append((path, f"treedef changed ({'; '.join(removed + added)})"))


def _diff_keyword_arguments(old: dict[str, Any], new: dict[str, Any], out: _Changes) -> None:
    for key in {**old, **new}:
        path = (jtu.SequenceKey(2), jtu.DictKey(key))
        if key not in new:
            out.append((path, f"not passed now, passed before ({_short(old[key])})"))
        elif key not in old:
            out.append((path, f"passed now ({_short(new[key])}), not passed before"))
        else:
            _diff(path, old[key], new[key], out)


def _diff_call(old: tuple[Any, ...], new: tuple[Any, ...], out: _Changes) -> None:
    """`(fun, args, kwargs)` against `(fun, args, kwargs)`: arguments added or dropped
    (say, one left to its default) are named as such rather than as a treedef change."""
    _diff((jtu.SequenceKey(0),), old[0], new[0], out)
    old_args, new_args = old[1], new[1]
    if isinstance(old_args, tuple) and isinstance(new_args, tuple):
        for i in range(max(len(old_args), len(new_args))):
            path = (jtu.SequenceKey(1), jtu.SequenceKey(i))
            if i >= len(old_args):
                out.append((path, f"passed now ({_short(new_args[i])}), not passed before"))
            elif i >= len(new_args):
                out.append((path, f"not passed now, passed before ({_short(old_args[i])})"))
            else:
                _diff(path, old_args[i], new_args[i], out)
    else:
        _diff((jtu.SequenceKey(1),), old_args, new_args, out)
    old_kwargs, new_kwargs = old[2], new[2]
    if isinstance(old_kwargs, dict) and isinstance(new_kwargs, dict):
        _diff_keyword_arguments(old_kwargs, new_kwargs, out)
    else:
        _diff((jtu.SequenceKey(2),), old_kwargs, new_kwargs, out)


def _static_fields_differ(
    path: tuple[Any, ...],
    a: Any,
    b: Any,
    a_pairs: list[Any],
    b_pairs: list[Any],
    out: _Changes,
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


def _path_text(path: tuple[Any, ...], names: Sequence[str]) -> tuple[str, str]:
    """The path as `jax.tree_util.keystr` writes it for the call, and a hint.

    A whole positional argument reads as its parameter name (`x`); a path inside one
    keeps the call's form (`args[0].layers[2].activation`), and the hint gives it by
    parameter name (`model.layers[2].activation`). Keyword arguments read `kwargs['n']`;
    the function itself, `fun`.
    """
    if len(path) >= 2 and isinstance(path[0], jtu.SequenceKey):
        group = path[0].idx
        rest = path[1:]
        if group == 0:  # the function itself (a Module or closure) was part of the key
            return "fun" + jtu.keystr(rest), ""
        prefix = "args" if group == 1 else "kwargs"
        if group == 1 and isinstance(rest[0], jtu.SequenceKey) and rest[0].idx < len(names):
            name = names[rest[0].idx]
            if len(rest) == 1:
                return name, ""
            return prefix + jtu.keystr(rest), f" (that is, {name}{jtu.keystr(rest[1:])})"
        return prefix + jtu.keystr(rest), ""
    if len(path) == 1 and isinstance(path[0], jtu.SequenceKey) and path[0].idx < 3:
        return ("fun", "args", "kwargs")[path[0].idx], ""
    return jtu.keystr(path) or "(the whole call)", ""


def explain_signature_change(old: Any, new: Any, parameter_names: Sequence[str] = ()) -> list[str]:
    """The differences between two recorded trace signatures, one line per leaf path.

    **Arguments:**

    - `old`, `new`: `(fun, args, kwargs)` tuples as `trace_signatures` records them
      (arrays as `ShapeDtypeStruct`s). A pair `(args, kwargs)` is accepted too.
    - `parameter_names`: the names of the positional parameters, so that a whole
      argument `args[1]` reads as `x`.

    **Returns:** lines such as `x: shape changed (3, 4) -> (5, 4) (f32[3,4]→f32[5,4])`,
    `args[0].layers[2].activation: static value changed (<function a> -> <function b>)`,
    `kwargs['n']: Python int 3 -> 4 (...)` or
    `kwargs['opts']: treedef changed: PyTreeDef(...) -> PyTreeDef(...)`; empty if
    nothing differs (for example, only a sharding changed).

    ```python
    old = ((jax.ShapeDtypeStruct((3,), jnp.float32),), {})
    new = ((jax.ShapeDtypeStruct((4,), jnp.float32),), {})
    explain_signature_change(old, new, ["x"])
    # ['x: shape changed (3,) -> (4,) (f32[3]→f32[4])']
    ```
    """
    if len(old) == 2 and len(new) == 2:
        old, new = (None, *old), (None, *new)
    found: _Changes = []
    _diff_call(tuple(old), tuple(new), found)
    lines = []
    for path, change in found:
        text, hint = _path_text(path, parameter_names)
        lines.append(f"{text}: {change}{hint}")
    return lines


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
