"""The few places where `eqx_filter` depends on JAX details that vary between versions.

Checked against JAX 0.4.38 and 0.10.2. Only `pytree_registry` reads `jax._src`.
"""

from __future__ import annotations

from typing import Any

import jax

__all__ = [
    "CALLBACK_LOGGER_NAMES",
    "aval_weak_type",
    "block_until_ready",
    "eval_jaxpr",
    "flatten_up_to",
    "pure_callback",
    "pytree_registry",
    "same_structure",
    "shard_map",
    "shape_dtype_struct",
    "tracer_type",
    "with_sharding_constraint",
]

# JAX logs "jax.pure_callback failed" (with the traceback) from these loggers before it
# re-raises a callback's exception. `filter_jit` silences them while it waits on a call
# whose trace staged an `error_if` check, since that error is reported as an
# `EqxRuntimeError` instead. Same logger names in 0.4.38 and 0.10.2.
CALLBACK_LOGGER_NAMES: tuple[str, ...] = ("jax._src.callback",)

tracer_type: type = jax.core.Tracer


def aval_weak_type(x: Any) -> bool:
    """Whether the (possibly traced) array `x` is weakly typed."""
    weak = getattr(x, "weak_type", None)
    if weak is None:
        aval = getattr(x, "aval", None)
        weak = getattr(aval, "weak_type", False)
    return bool(weak)


def eval_jaxpr(jaxpr: Any, consts: Any, *args: Any) -> list[Any]:
    """Evaluate an open jaxpr (`jax.core.eval_jaxpr`; public in 0.4.38 and 0.10.2)."""
    result: list[Any] = jax.core.eval_jaxpr(jaxpr, consts, *args)
    return result


def pure_callback(
    callback: Any, result_shape_dtypes: Any, arg: Any, vectorized: bool | None, **options: Any
) -> Any:
    """`jax.pure_callback`, mapping the legacy `vectorized` flag where JAX dropped it.

    JAX 0.4.38 accepts `vectorized` (deprecated in favour of `vmap_method`); newer JAX
    removed it, and passes unknown keywords on to the callback. There,
    `vectorized=True` becomes `vmap_method="legacy_vectorized"` and `False` becomes
    `"sequential"` (unless `vmap_method` was given).
    """
    if vectorized is not None:
        if _PURE_CALLBACK_HAS_VECTORIZED:
            options["vectorized"] = vectorized
        elif "vmap_method" not in options:
            options["vmap_method"] = "legacy_vectorized" if vectorized else "sequential"
    return jax.pure_callback(callback, result_shape_dtypes, arg, **options)


def _has_vectorized() -> bool:
    import inspect

    try:
        return "vectorized" in inspect.signature(jax.pure_callback).parameters
    except (TypeError, ValueError):  # pragma: no cover
        return False


_PURE_CALLBACK_HAS_VECTORIZED = _has_vectorized()


# Typed handles on JAX callables whose stubs mypy sees as untyped (checked 0.4.38, 0.10.2).
shape_dtype_struct: Any = jax.ShapeDtypeStruct
block_until_ready: Any = jax.block_until_ready
with_sharding_constraint: Any = jax.lax.with_sharding_constraint


def flatten_up_to(treedef: Any, tree: Any) -> list[Any]:
    """`treedef.flatten_up_to(tree)`: the subtrees of `tree` at `treedef`'s leaves."""
    return list(treedef.flatten_up_to(tree))


def _pytree_registry() -> dict[Any, Any] | None:
    try:
        from jax._src import tree_util
    except ImportError:  # pragma: no cover - present in 0.4.38 through 0.10
        return None
    registry = getattr(tree_util, "_registry", None)
    return registry if isinstance(registry, dict) else None


# JAX's record of the PyTree node types registered through the public functions
# (`register_pytree_node`, `register_pytree_with_keys`, `register_static`,
# `register_dataclass`, and so every Module class): one entry per type, never removed,
# so its size changes exactly when a type is registered. `filter_jit`'s hot path reads
# that size to know that its cached leaf types are still leaves (`_jit/_plan.py`).
# `None` if this JAX lacks it: the hot path then flattens every call in full.
pytree_registry: dict[Any, Any] | None = _pytree_registry()


def same_structure(a: Any, b: Any) -> bool:
    """Whether two treedefs are equal."""
    return bool(a == b)


def _shard_map_impl() -> tuple[Any, str]:
    """The shard_map of this JAX and the name of its replication-check keyword.

    `jax.shard_map` (keyword-only, `check_vma`) is public from JAX 0.7; older JAX has
    only `jax.experimental.shard_map.shard_map` (positional mesh/specs, `check_rep`).
    Newer JAX deprecates the experimental module, so it is imported only as a fallback.
    """
    import inspect

    public = getattr(jax, "shard_map", None)
    if public is not None:
        params = inspect.signature(public).parameters
        return public, "check_vma" if "check_vma" in params else "check_rep"
    from jax.experimental.shard_map import shard_map as experimental  # pragma: no cover

    return experimental, "check_rep"  # pragma: no cover


def shard_map(f: Any, *, mesh: Any, in_specs: Any, out_specs: Any, check_vma: bool) -> Any:
    """`jax.shard_map(f, mesh=..., in_specs=..., out_specs=..., check_vma=...)` on any JAX."""
    impl, check_name = _shard_map_impl()
    return impl(f, mesh=mesh, in_specs=in_specs, out_specs=out_specs, **{check_name: check_vma})
