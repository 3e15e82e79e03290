"""Which leaves a checkpoint stores, how each is named, and how it comes back.

Shared by `tree_save` / `tree_load` and `tree_to_flat_dict` / `tree_from_flat_dict`, so
the two always agree on names and on what counts as a stored leaf.

- **Stored leaves** are arrays (`is_array`: `jax.Array`, `np.ndarray`, `np.generic`) and Python
  `bool` / `int` / `float` / `complex`. Everything else (functions, strings, objects) is
  not stored; `like` supplies it on loading. `None` is an empty subtree, not a leaf.
- **Names** join the key path with `sep`: `GetAttrKey("layers")`, `SequenceKey(0)`,
  `GetAttrKey("weight")` → `"layers.0.weight"`. `DictKey` and `FlattenedIndexKey` give
  `str(key)`. Inside each part, `%` is written `%25` and `sep` is percent-encoded
  (`.` → `%2E`), so a dict key `"a.b"` becomes the single part `"a%2Eb"` and names stay
  unambiguous. This matters for `eqx_nn.State`, whose keys are dotted markers such as
  `"Model.norm.ema_state_index"`. Two leaves with the same name (say dict keys `1` and
  `"1"` of a custom node) are rejected.
- **Python scalars** are stored as 0-d `bool` / `int64` / `float64` / `complex128`
  arrays and load back as `like`'s Python type.
- **Typed PRNG keys** (`jax.random.key`) are stored as their `key_data` (uint32) and
  load back as keys of the same implementation.
"""

from __future__ import annotations

import dataclasses
from typing import TYPE_CHECKING, Any

import jax
import jax.numpy as jnp
import numpy as np

if TYPE_CHECKING:  # numpy.typing costs ~5 ms to import, for annotations only
    import numpy.typing as npt

from ._predicates import is_array

__all__ = [
    "LeafSpec",
    "NamedLeaf",
    "key_name",
    "leaf_spec",
    "named_leaves",
    "check_storable",
    "escape_part",
    "is_key_dtype",
    "restore_leaf",
    "to_numpy",
]

_PYTHON_SCALAR_DTYPES: dict[type, np.dtype[Any]] = {
    bool: np.dtype(np.bool_),
    int: np.dtype(np.int64),
    float: np.dtype(np.float64),
    complex: np.dtype(np.complex128),
}


@dataclasses.dataclass(frozen=True)
class LeafSpec:
    """What one leaf is: `kind` is `"array"`, `"prng_key"` (a typed key array), or the
    Python scalar type `"bool"`, `"int"`, `"float"` or `"complex"`."""

    kind: str
    shape: tuple[int, ...]
    dtype: Any  # a NumPy dtype, or a JAX PRNG key dtype (`key<fry>`) for kind "prng_key"


@dataclasses.dataclass(frozen=True)
class NamedLeaf:
    """A stored leaf: its index among all leaves, key path, `keystr` form, name and value."""

    index: int
    path: tuple[Any, ...]
    keystr: str
    name: str
    leaf: Any


def _python_scalar_type(leaf: object) -> type | None:
    # bool before int: `True` is an int too.
    for kind in (bool, int, float, complex):
        if isinstance(leaf, kind):
            return kind
    return None


def is_key_dtype(dtype: Any) -> bool:
    """Whether `dtype` is a typed PRNG key dtype (`jax.random.key`, not the legacy uint32)."""
    return bool(jnp.issubdtype(dtype, jax.dtypes.prng_key))


def leaf_spec(leaf: Any) -> LeafSpec | None:
    """The spec of a stored leaf (or a `ShapeDtypeStruct`), or `None` if not stored."""
    if isinstance(leaf, jax.ShapeDtypeStruct) or is_array(leaf):
        if is_key_dtype(leaf.dtype):
            return LeafSpec("prng_key", tuple(leaf.shape), leaf.dtype)
        # `np.shape`: newer JAX's typed scalar literals are arrays without `.shape`.
        return LeafSpec("array", tuple(np.shape(leaf)), np.dtype(leaf.dtype))
    scalar_type = _python_scalar_type(leaf)
    if scalar_type is not None:
        return LeafSpec(scalar_type.__name__, (), _PYTHON_SCALAR_DTYPES[scalar_type])
    return None


def key_name(key: object) -> str:
    """The name part of one path entry: the attribute, index or dict key as text."""
    if isinstance(key, jax.tree_util.GetAttrKey):
        return key.name
    if isinstance(key, jax.tree_util.SequenceKey):
        return str(key.idx)
    if isinstance(key, jax.tree_util.DictKey):
        return str(key.key)
    if isinstance(key, jax.tree_util.FlattenedIndexKey):
        return str(key.key)
    return str(key)


def _percent_encode(text: str) -> str:
    return "".join(f"%{byte:02X}" for byte in text.encode("utf-8"))


def escape_part(part: str, sep: str) -> str:
    """Escape one name part so it never contains `sep`: `%` → `%25`, then `sep` → `%2E` (for `.`).

    Names of ordinary models are unchanged; only keys containing `%` or `sep` (such as
    the `"Model.norm.ema_state_index"` markers of an `eqx_nn.State`) are escaped, and
    the escaping is reversible (`urllib.parse.unquote`).
    """
    return part.replace("%", "%25").replace(sep, _percent_encode(sep))


def named_leaves(pytree: Any, sep: str = ".") -> list[NamedLeaf]:
    """Every stored leaf of `pytree` (and every `ShapeDtypeStruct`), named, in flatten order.

    Raises:
        ValueError: `sep` is empty or contains `%`, or two leaves get the same name.
    """
    if not sep or "%" in sep:
        raise ValueError(
            f"sep must be a non-empty string without '%' (the escape character), got {sep!r}; "
            "for example '.' or '/'"
        )
    result: list[NamedLeaf] = []
    seen: dict[str, str] = {}
    leaves_with_paths = jax.tree_util.tree_flatten_with_path(pytree)[0]
    for index, (path, leaf) in enumerate(leaves_with_paths):
        if leaf_spec(leaf) is None:
            continue
        keystr = jax.tree_util.keystr(path)
        name = sep.join(escape_part(key_name(key), sep) for key in path)
        if name in seen:
            raise ValueError(
                f"the leaves at {seen[name]} and {keystr} would both be named {name!r}; "
                "rename one of the keys so every stored leaf has a distinct name"
            )
        seen[name] = keystr
        result.append(NamedLeaf(index=index, path=path, keystr=keystr, name=name, leaf=leaf))
    return result


def check_storable(named: NamedLeaf) -> LeafSpec:
    """The spec of a leaf about to be saved, checked from its shape and dtype alone.

    No value is read, so nothing is copied off the device; `to_numpy` does that later.

    Raises:
        TypeError: the leaf is abstract (`ShapeDtypeStruct`) or of object dtype.
        ValueError: a Python `int` outside the int64 range.
    """
    leaf = named.leaf
    if isinstance(leaf, jax.ShapeDtypeStruct):
        raise TypeError(
            f"the leaf at {named.keystr} is a ShapeDtypeStruct, which has no values to "
            "save; save a tree of concrete arrays (ShapeDtypeStructs belong in `like`)"
        )
    spec = leaf_spec(leaf)
    assert spec is not None, leaf
    if isinstance(leaf, int) and spec.kind == "int" and not -(2**63) <= leaf < 2**63:
        raise ValueError(
            f"the Python int at {named.keystr} is {leaf}, outside the int64 range a "
            "checkpoint can store; store it as a string in metadata instead"
        )
    if spec.dtype == np.dtype(object):
        raise TypeError(
            f"the leaf at {named.keystr} is an object array, which cannot be stored without "
            "pickle; convert it to a numeric dtype"
        )
    return spec


def to_numpy(named: NamedLeaf, spec: LeafSpec) -> npt.NDArray[Any]:
    """A stored leaf as a host NumPy array (Python scalars as 0-d arrays of their kind).

    Raises:
        TypeError: the leaf is a tracer (saving under `jit`).
    """
    try:
        if spec.kind == "prng_key":
            return np.asarray(jax.random.key_data(named.leaf))
        # The dtype is explicit because typed scalar literals would otherwise widen.
        return np.asarray(named.leaf, dtype=spec.dtype)
    except jax.errors.TracerArrayConversionError:
        raise TypeError(
            f"the leaf at {named.keystr} is a traced value; save outside of jit, grad or "
            "vmap, on concrete arrays"
        ) from None


def restore_leaf(like_leaf: object, value: Any) -> Any:
    """Turn a loaded value into the same kind of leaf as `like_leaf`.

    A `jax.Array` or `ShapeDtypeStruct` gives a JAX array placed with its sharding (if
    any), a NumPy array a NumPy array, a NumPy scalar a NumPy scalar, and a Python
    scalar the same Python type.
    """
    if isinstance(like_leaf, jax.Array | jax.ShapeDtypeStruct):
        sharding = getattr(like_leaf, "sharding", None)
        if sharding is None:
            return jax.device_put(value)
        return jax.device_put(value, sharding)
    if isinstance(like_leaf, np.ndarray):
        return np.asarray(value)
    if isinstance(like_leaf, np.generic):
        return np.asarray(value)[()]
    scalar_type = _python_scalar_type(like_leaf)
    assert scalar_type is not None, like_leaf
    return scalar_type(np.asarray(value).item())
