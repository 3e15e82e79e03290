"""`LoRALinear`: a low-rank adapter around a `Linear`, and helpers to add and merge them.

LoRA fine-tunes a pretrained layer by learning a low-rank update `scale * B @ A` to its
weight while the weight itself stays frozen. `B` starts at zero, so an adapted model
computes exactly what the pretrained one did until training moves it. The wrapped
layer's field is marked `TRAINABLE: False` and the adapter's `TRAINABLE: True`, so
`field_mask(model, TRAINABLE, True)` (and everything built on it: `partition`, optax
masks, `tree_summary`) trains only the adapter, even inside a model that was frozen
with `freeze`.
"""

from __future__ import annotations

import math
from typing import Any, TypeVar

import jax
import jax.numpy as jnp
import jax.random as jr
import jax.tree_util as jtu

from eqx_module import TRAINABLE, Module, field
from eqx_tree import TreeSelection, tree_at, tree_select

from ._linear import Linear

__all__ = ["LoRALinear", "apply_lora", "merge_lora"]

_T = TypeVar("_T")


def _size(features: int | str) -> int:
    return 1 if features == "scalar" else int(features)


class LoRALinear(Module):
    """A `Linear` plus a trainable low-rank update: `linear(x) + scale * B @ (A @ x)`.

    Arguments:
        linear: the layer to adapt: a `Linear` or any subclass. It is kept as is and
            marked frozen (`TRAINABLE: False`); only `lora_a` and `lora_b` train.
        rank: the rank `r` of the update, `1 <= r <= min(in_features, out_features)`.
        alpha: the update is scaled by `alpha / rank` (default `alpha = rank`, scale 1).
        key: a PRNG key for `A`, drawn from N(0, 1/in_features). `B` starts at zero,
            so the adapted layer's outputs equal the original's exactly at first.

    Raises:
        TypeError: `linear` is not a `Linear`, or `rank` is not an int.
        ValueError: `rank` is out of range (the message gives the allowed range).

    The update is added to the wrapped layer's output; `merge()` folds it into the
    weight, which gives the same outputs whenever the layer computes `weight @ x + bias`
    (every plain `Linear` does).

    Example:
        >>> layer = LoRALinear(Linear(8, 4, key=jr.key(0)), rank=2, key=jr.key(1))
        >>> bool(jnp.array_equal(layer(jnp.ones(8)), layer.linear(jnp.ones(8))))
        True
    """

    linear: Linear = field(metadata={TRAINABLE: False})
    # Explicitly trainable, so adapters added inside a frozen model still train (the
    # nearest annotation wins); `freeze` on the adapted model freezes them too.
    lora_a: jax.Array = field(metadata={TRAINABLE: True})
    lora_b: jax.Array = field(metadata={TRAINABLE: True})
    rank: int = field(static=True)
    alpha: float = field(static=True)

    def __init__(
        self, linear: Linear, rank: int, *, alpha: float | None = None, key: jax.Array
    ) -> None:
        if not isinstance(linear, Linear):
            raise TypeError(
                f"LoRALinear wraps an eqx.nn.Linear (or a subclass); the `linear` argument "
                f"is a {type(linear).__qualname__}. Select only Linear layers, e.g. "
                "`eqx.tree_select(model).at_instances_of(eqx.nn.Linear)`."
            )
        in_size, out_size = _size(linear.in_features), _size(linear.out_features)
        if not isinstance(rank, int) or isinstance(rank, bool):
            raise TypeError(f"LoRALinear: `rank` must be an int; got {rank!r}.")
        if not 1 <= rank <= min(in_size, out_size):
            raise ValueError(
                f"LoRALinear: `rank` must be between 1 and min(in_features, out_features) = "
                f"min({in_size}, {out_size}) = {min(in_size, out_size)}; got rank={rank}. "
                "A larger rank is no longer a low-rank update."
            )
        dtype = linear.weight.dtype
        self.linear = linear
        self.lora_a = (jr.normal(key, (rank, in_size), dtype) / math.sqrt(in_size)).astype(dtype)
        self.lora_b = jnp.zeros((out_size, rank), dtype)
        self.rank = rank
        self.alpha = float(rank if alpha is None else alpha)

    @property
    def scale(self) -> float:
        """`alpha / rank`, the factor applied to the low-rank update."""
        return self.alpha / self.rank

    def __call__(self, x: jax.Array, *, key: jax.Array | None = None) -> jax.Array:
        """`linear(x) + scale * lora_b @ (lora_a @ x)`, for one unbatched input.

        Arguments:
            x: as for the wrapped `Linear`.
            key: passed to the wrapped layer.

        Returns:
            The wrapped layer's output plus the update, in the same shape and dtype.
        """
        with jax.named_scope("eqx.nn.LoRALinear"):
            out = self.linear(x, key=key)
            vector = jnp.reshape(x, (1,)) if self.linear.in_features == "scalar" else x
            update = (self.lora_b @ (self.lora_a @ vector)) * jnp.asarray(self.scale, out.dtype)
            if self.linear.out_features == "scalar":
                update = jnp.squeeze(update, axis=0)
            return out + update

    def merge(self) -> Linear:
        """The wrapped layer with the update folded into its weight (no adapter left).

        Returns:
            A layer of the wrapped layer's own class (a plain `Linear` for a plain one)
            whose `weight` is `weight + scale * lora_b @ lora_a`.
        """
        delta = (self.lora_b @ self.lora_a) * jnp.asarray(self.scale, self.lora_b.dtype)
        merged: Linear = tree_at(lambda lin: lin.weight, self.linear, self.linear.weight + delta)
        return merged


def apply_lora(
    model: _T | TreeSelection, rank: int, *, key: jax.Array, alpha: float | None = None
) -> _T:
    """Wrap every `Linear` of `model` (or every node of a selection) in a `LoRALinear`.

    Arguments:
        model: a PyTree, whose every `Linear` (subclasses included) is adapted, except
            those already inside a `LoRALinear`; or a `TreeSelection`
            (`eqx.tree_select(model).at_instances_of(eqx.nn.Linear).where(...)`) to
            adapt only some. Adapting nothing raises, so a typo cannot silently train
            nothing.
        rank: as for `LoRALinear`, checked for each layer.
        key: split into one key per adapted layer, in tree order.
        alpha: as for `LoRALinear`.

    Returns:
        The new model; the input is unchanged.

    Raises:
        TypeError: a selected node is not a `Linear` (the message names its path).
        ValueError: nothing is selected, or `rank` does not fit a layer (named by path).

    Example:
        ```python
        model = eqx.nn.apply_lora(pretrained, rank=4, key=jr.key(0))
        mask = eqx.field_mask(model, eqx.TRAINABLE, default=True)  # adapters only
        ```
    """
    if isinstance(model, TreeSelection):
        selection, skip_adapted = model, False
    else:
        # Outermost matches: a Linear inside an existing adapter is not selected again.
        selection, skip_adapted = (
            tree_select(model).where(
                lambda _, node: isinstance(node, (Linear, LoRALinear)), allow_empty=True
            ),
            True,
        )
        if not any(isinstance(node, Linear) for node in selection.get()):
            raise ValueError(
                "apply_lora: the model has no eqx.nn.Linear outside existing LoRALinear "
                "layers, so nothing would be adapted."
            )
    paths = selection.paths()
    keys = iter(jr.split(key, max(len(paths), 1)))
    by_id = {id(node): path for node, path in zip(selection.get(), paths, strict=True)}

    def adapt(node: Any) -> Any:
        if skip_adapted and isinstance(node, LoRALinear):
            return node
        where = jtu.keystr(by_id[id(node)]) or "<root>"
        if not isinstance(node, Linear):
            raise TypeError(
                f"apply_lora: the node at {where} is a {type(node).__qualname__}, not an "
                "eqx.nn.Linear. Narrow the selection with `.at_instances_of(eqx.nn.Linear)`."
            )
        try:
            return LoRALinear(node, rank, alpha=alpha, key=next(keys))
        except ValueError as error:
            raise ValueError(f"apply_lora: the Linear at {where}: {error}") from error

    result: _T = selection.apply(adapt)
    return result


def merge_lora(model: _T) -> _T:
    """Replace every `LoRALinear` in `model` by its `merge()`: a plain layer again.

    Arguments:
        model: a PyTree containing `LoRALinear` layers (none is fine: it is returned).

    Returns:
        The model with each adapter folded into its layer's weight.
    """
    selection = tree_select(model).at_instances_of(LoRALinear, allow_empty=True)
    merged: _T = selection.apply(lambda layer: layer.merge())
    return merged
