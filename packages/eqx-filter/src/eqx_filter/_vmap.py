"""`filter_vmap`: `jax.vmap` over the array leaves of arbitrary PyTrees.

Array leaves are mapped over the axis their `in_axes` spec gives them (or broadcast, for
`None`); every other leaf is closed over. Outputs: arrays are placed by `out_axes`,
non-arrays are returned as they are.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Any, ParamSpec, TypeVar, overload

import jax
import jax.tree_util as jtu

from eqx_module import field, module_update_wrapper
from eqx_tree import is_array, is_array_like
from eqx_tree.internal import sentinel

from ._axis_spec import if_array, resolve_axes, resolve_in_axes_dict
from ._wrapper import TransformWrapper

__all__ = ["OutputSkeleton", "filter_vmap", "rebuild", "split_inputs", "split_outputs"]


def keyword_error(name: str) -> RuntimeError:
    return RuntimeError(
        f"keyword arguments cannot be used with functions wrapped with `{name}`; pass "
        "every argument positionally."
    )


def split_inputs(
    fun: Callable[..., Any], in_axes: Any, args: tuple[Any, ...], name: str
) -> tuple[list[Any], Any, list[int], list[int | None]]:
    """Flatten `args`; return (leaves, treedef, array positions, their axes)."""
    if isinstance(in_axes, dict):
        in_axes = resolve_in_axes_dict(fun, in_axes, args, if_array(0))
    elif isinstance(in_axes, list):
        in_axes = tuple(in_axes)  # as `jax.vmap` does: a list describes the arguments too
    axes = resolve_axes(in_axes, args, "in_axes")
    leaves, treedef = jtu.tree_flatten(args)
    positions = []
    dynamic_axes = []
    for i, (leaf, axis) in enumerate(zip(leaves, axes, strict=True)):
        if is_array(leaf):
            positions.append(i)
            dynamic_axes.append(axis)
        elif axis is not None:
            path, _ = jtu.tree_flatten_with_path(args)[0][i]
            raise ValueError(
                f"`{name}`: the argument at `args{jtu.keystr(path)}` is not an array (it is a "
                f"{type(leaf).__name__}), so its `in_axes` must resolve to None, but it "
                f"resolved to {axis}. Use `eqx.if_array({axis})` to map only array leaves."
            )
    return leaves, treedef, positions, dynamic_axes


def rebuild(leaves: list[Any], treedef: Any, positions: list[int], values: Any) -> Any:
    full = list(leaves)
    for i, value in zip(positions, values, strict=True):
        full[i] = value
    return jtu.tree_unflatten(treedef, full)


class OutputSkeleton:
    """An output with its array leaves taken out, to be put back after the transform."""

    __slots__ = ("leaves", "positions", "treedef")

    def __init__(self, leaves: list[Any], treedef: Any, positions: list[int] | None = None) -> None:
        """`positions`: the leaves that go through the transform (default: the arrays)."""
        self.treedef = treedef
        if positions is None:
            positions = [i for i, x in enumerate(leaves) if is_array(x)]
        self.positions = positions
        self.leaves = list(leaves)
        for i in positions:
            self.leaves[i] = None

    def fill(self, arrays: Any) -> Any:
        return rebuild(self.leaves, self.treedef, self.positions, arrays)


def split_outputs(out: Any, out_axes: Any) -> tuple[list[Any], list[int | None], OutputSkeleton]:
    """The array outputs, their axes, and how to rebuild the output from the arrays.

    An array-like non-array (a Python int, say) that `out_axes` maps explicitly goes
    through the transform too, which broadcasts it to an array with the mapped axis;
    unmapped (`None`, as the default `if_array(0)` gives it), it is returned as it is.
    """
    leaves, treedef = jtu.tree_flatten(out)
    axes = resolve_axes(out_axes, out, "out_axes")
    positions = [
        i
        for i, (x, axis) in enumerate(zip(leaves, axes, strict=True))
        if is_array(x) or (axis is not None and is_array_like(x))
    ]
    skeleton = OutputSkeleton(leaves, treedef, positions)
    arrays = [leaves[i] for i in skeleton.positions]
    array_axes = [axes[i] for i in skeleton.positions]
    return arrays, array_axes, skeleton


def _vmap_call(
    fun: Callable[..., Any],
    in_axes: Any,
    out_axes: Any,
    axis_name: Any,
    axis_size: int | None,
    vmapkwargs: dict[str, Any],
    args: tuple[Any, ...],
) -> Any:
    leaves, treedef, positions, dynamic_axes = split_inputs(fun, in_axes, args, "filter_vmap")
    if axis_size is None and all(axis is None for axis in dynamic_axes):
        out = fun(*args)
        _, array_axes, _ = split_outputs(out, out_axes)
        if any(axis is not None for axis in array_axes):
            raise ValueError(
                "Cannot resolve batch dimension: `filter_vmap` was called with no mapped "
                "input (every `in_axes` resolved to None) and no `axis_size`, but "
                "`out_axes` maps an output. Map an input, or pass `axis_size=`."
            )
        return out
    _check_sizes(args, positions, [leaves[i] for i in positions], dynamic_axes, axis_size)
    # `jax.vmap` reads `out_axes` only after tracing the function, so the list can be
    # filled in during the trace, once the output's structure is known. (Checked on JAX
    # 0.4.38 and 0.10.2.)
    out_axes_box: list[int | None] = []
    skeletons: list[OutputSkeleton] = []

    def flat_fun(*dynamic: Any) -> list[Any]:
        out = fun(*rebuild(leaves, treedef, positions, dynamic))
        arrays, array_axes, skeleton = split_outputs(out, out_axes)
        out_axes_box[:] = array_axes
        skeletons.append(skeleton)
        return arrays

    vmapped = jax.vmap(
        flat_fun,
        in_axes=tuple(dynamic_axes),
        out_axes=out_axes_box,
        axis_name=axis_name,
        axis_size=axis_size,
        **vmapkwargs,
    )
    arrays = vmapped(*[leaves[i] for i in positions])
    return skeletons[-1].fill(arrays)


def _check_sizes(
    args: tuple[Any, ...],
    positions: list[int],
    arrays: list[Any],
    axes: list[int | None],
    axis_size: int | None,
) -> None:
    """JAX's own checks (and wording), done here with the arguments' paths.

    They run before `jax.vmap` because on JAX 0.4.38 its size error reads `out_axes`
    before the trace has filled them in.
    """
    sizes: list[tuple[int, int, Any]] = []
    for k, (array, axis) in enumerate(zip(arrays, axes, strict=True)):
        if axis is None:
            continue
        ndim = len(array.shape)
        if not -ndim <= axis < ndim:
            rank = axis + 1 if axis >= 0 else -axis
            raise ValueError(
                f"vmap was requested to map its argument along axis {axis}, which implies "
                f"that its rank should be at least {rank}, but is only {ndim} (its shape "
                f"is {tuple(array.shape)}): the argument at `{_arg_path(args, positions[k])}`"
                " of `filter_vmap`. Fix its `in_axes`."
            )
        sizes.append((array.shape[axis], axis, k))
    distinct = {size for size, _, _ in sizes}
    if axis_size is not None:
        distinct.add(axis_size)
    if len(distinct) > 1:
        lines = [] if axis_size is None else [f"  * the `axis_size` argument was {axis_size};"]
        for size, axis, k in sizes:
            array = arrays[k]
            lines.append(
                f"  * one axis had size {size}: axis {axis} of "
                f"`{_arg_path(args, positions[k])}` of type "
                f"{array.dtype}{list(array.shape)};"
            )
        raise ValueError(
            "filter_vmap: vmap got inconsistent sizes for array axes to be mapped:\n"
            + "\n".join(lines)
            + "\nEvery mapped axis must have the same size."
        )


def _arg_path(args: tuple[Any, ...], leaf_index: int) -> str:
    path, _ = jtu.tree_flatten_with_path(args)[0][leaf_index]
    return "args" + jtu.keystr(path)


class _VmapWrapper(TransformWrapper):
    _fun: Callable[..., Any]
    _in_axes: Any
    _out_axes: Any
    _axis_name: Any = field(static=True)
    _axis_size: int | None = field(static=True)
    _vmapkwargs: tuple[tuple[str, Any], ...] = field(static=True)

    @property
    def __wrapped__(self) -> Callable[..., Any]:
        return self._fun

    def __call__(self, /, *args: Any, **kwargs: Any) -> Any:
        if kwargs:
            raise keyword_error("filter_vmap")
        return _vmap_call(
            self._fun,
            self._in_axes,
            self._out_axes,
            self._axis_name,
            self._axis_size,
            dict(self._vmapkwargs),
            args,
        )


_P = ParamSpec("_P")
_T = TypeVar("_T")


# The wrapper takes `fun`'s parameters and returns what it returns, each array with the
# mapped axis added (which the static types `jax.Array` etc. do not record).
@overload
def filter_vmap(
    fun: Callable[_P, _T],
    *,
    in_axes: Any = ...,
    out_axes: Any = ...,
    axis_name: Any = None,
    axis_size: int | None = None,
    **vmapkwargs: Any,
) -> Callable[_P, _T]: ...
@overload
def filter_vmap(
    *,
    in_axes: Any = ...,
    out_axes: Any = ...,
    axis_name: Any = None,
    axis_size: int | None = None,
    **vmapkwargs: Any,
) -> Callable[[Callable[_P, _T]], Callable[_P, _T]]: ...
def filter_vmap(
    fun: Any = sentinel,
    *,
    in_axes: Any = if_array(0),
    out_axes: Any = if_array(0),
    axis_name: Any = None,
    axis_size: int | None = None,
    **vmapkwargs: Any,
) -> Any:
    """`jax.vmap` for functions of arbitrary PyTrees.

    **Arguments:**

    - `fun`: the function to vectorise (omit it to use `filter_vmap(...)` as a
      decorator). It must take positional arguments only.
    - `in_axes`: an axis spec (a prefix of the tuple of positional arguments, leaves
      `int`, `None` or `leaf -> int | None`), or a dict keyed by parameter name (other
      parameters default to `if_array(0)`). Non-arrays must resolve to `None`.
    - `out_axes`: an axis spec, a prefix of the output. Non-array outputs are returned as
      they are, except that an explicit int axis broadcasts an array-like one (a Python
      int, say) to an array with the mapped axis, as `jax.vmap` does; a `None` axis
      returns an (unbatched) array once.
    - `axis_name`, `axis_size`, `**vmapkwargs`: as for `jax.vmap`.

    **Returns:** a Module wrapping `fun`.

    **Raises (at call):** `RuntimeError` for keyword arguments; `ValueError` for a bad
    spec, an unknown `in_axes` key, mapped outputs with no mapped input and no
    `axis_size` («Cannot resolve batch dimension»), or mapped axes of different sizes
    or outside an array's rank (JAX's wording, naming each argument's path).

    ```python
    ensemble = eqx_filter.filter_vmap(make_mlp)(jax.random.split(key, 8))
    ```
    """
    if fun is sentinel:
        return functools.partial(
            filter_vmap,
            in_axes=in_axes,
            out_axes=out_axes,
            axis_name=axis_name,
            axis_size=axis_size,
            **vmapkwargs,
        )
    return module_update_wrapper(
        _VmapWrapper(
            fun, in_axes, out_axes, axis_name, axis_size, tuple(sorted(vmapkwargs.items()))
        )
    )
