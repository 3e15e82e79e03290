"""`BatchNorm`: batch normalisation with running statistics kept in a `State`."""

from collections.abc import Callable, Hashable, Sequence
from typing import Any

import jax
import jax.numpy as jnp
from jax.typing import ArrayLike

from eqx_module import field
from eqx_tree import EqxWarning
from eqx_tree.internal import warn_at_user_code

from ._hyperparameters import check_at_least, check_in_range, check_size
from ._misc import default_floating_dtype
from ._sequential import StatefulLayer
from ._stateful import State, StateIndex, check_state

__all__ = ["BatchNorm"]

_AxisName = Hashable | Sequence[Hashable]


def _compute_dtype(dtype: Any) -> Any:
    with jax.numpy_dtype_promotion("standard"):
        return jnp.result_type(dtype, jnp.float32)


# `jax.lax.pmean` is unannotated in some supported JAX versions.
_lax_pmean: Callable[[jax.Array, Any], jax.Array] = jax.lax.pmean


def _pmean(x: jax.Array, axis_name: Any) -> jax.Array:
    try:
        return _lax_pmean(x, axis_name)
    except NameError as e:
        raise NameError(
            f"{e}. `BatchNorm` averages its statistics over the batch axis named "
            f"{axis_name!r}, and takes an unbatched input, so it must run inside a "
            "transformation that binds that name: "
            f"`jax.vmap(bn, axis_name={axis_name!r}, in_axes=(0, None), out_axes=(0, None))"
            "(x, state)` (or `jax.pmap`/`eqx.filter_vmap` with the same `axis_name`)."
        ) from e


class BatchNorm(StatefulLayer):
    """Batch normalisation (Ioffe & Szegedy, 2015) over a named batch axis.

    The layer takes an unbatched input of shape `(input_size, *rest)`; the batch is a
    `vmap` (or `pmap`) axis whose name is `axis_name`, over which the per-channel
    statistics are averaged with `jax.lax.pmean`. The running statistics live in a
    `State` (build it with `eqx.nn.make_with_state`).

    Modes:
        - `"ema"`: training normalises with an exponential moving average of the batch
          statistics (the first call uses the batch statistics as they are), and
          inference uses the stored average.
        - `"batch"`: training normalises with the batch statistics; inference uses a
          debiased moving average of them. Recommended for new code.
        - `"legacy"` (the default, for compatibility): warns and behaves as `"ema"`.

    Arguments:
        input_size: the number of channels `C`.
        axis_name: the name (or sequence of names) of the batch axis.
        eps: added to the variance.
        channelwise_affine: learn a per-channel scale and shift.
        momentum: the weight of the old running statistics in each update.
        inference: use the running statistics instead of the batch statistics (toggle
            for a whole model with `eqx.nn.inference_mode`).
        dtype: the dtype of the parameters and running statistics (default float32, or
            float64 under x64).
        mode: `"ema"`, `"batch"` or `"legacy"`.

    Across devices, name the device axis too: `axis_name=("device", "batch")` inside
    `jax.pmap(..., axis_name="device")` / `eqx.filter_pmap`, or with a mesh axis inside
    `shard_map` (where recent JAX needs `check_vma=False` for a `pmean` over a `vmap`
    axis name).

    Raises:
        ValueError: an unknown `mode`.

    Example:
        ```python
        bn, state = eqx.nn.make_with_state(eqx.nn.BatchNorm)(3, "batch", mode="batch")
        batched = jax.vmap(bn, axis_name="batch", in_axes=(0, None), out_axes=(0, None))
        y, state = batched(x, state)  # x: (batch, 3, ...)
        ```
    """

    weight: jax.Array | None
    bias: jax.Array | None
    ema_first_time_index: StateIndex[jax.Array] | None
    ema_state_index: StateIndex[tuple[jax.Array, jax.Array]] | None
    batch_counter: StateIndex[jax.Array] | None
    batch_state_index: StateIndex[tuple[jax.Array, jax.Array]] | None
    axis_name: _AxisName
    inference: ArrayLike
    input_size: int = field(static=True)
    eps: int | float = field(static=True)
    channelwise_affine: bool = field(static=True)
    momentum: int | float = field(static=True)
    mode: str = field(static=True)

    def __init__(
        self,
        input_size: int,
        axis_name: _AxisName,
        eps: int | float = 1e-5,
        channelwise_affine: bool = True,
        momentum: int | float = 0.99,
        inference: ArrayLike = False,
        dtype: Any = None,
        mode: str = "legacy",
    ) -> None:
        check_size("BatchNorm", "input_size", input_size)
        check_at_least("BatchNorm", "eps", eps, 0)
        check_in_range("BatchNorm", "momentum", momentum, 0, 1)
        if mode == "legacy":
            warn_at_user_code(
                "`BatchNorm(mode='legacy')` (the default) behaves as `mode='ema'`, whose "
                "first call and running averages are easy to get wrong; pass "
                "`mode='batch'` (recommended for new code) or `mode='ema'` explicitly to "
                "silence this warning.",
                EqxWarning,
            )
            mode = "ema"
        if mode not in ("ema", "batch"):
            raise ValueError(
                f"`BatchNorm(mode=...)` must be 'ema', 'batch' or 'legacy', got {mode!r}."
            )
        if dtype is None:
            dtype = default_floating_dtype()
        shape = (input_size,)
        if channelwise_affine:
            self.weight = jnp.ones(shape, dtype)
            self.bias = jnp.zeros(shape, dtype)
        else:
            self.weight = None
            self.bias = None
        if mode == "ema":
            self.ema_first_time_index = StateIndex(jnp.array(True))
            self.ema_state_index = StateIndex((jnp.zeros(shape, dtype), jnp.zeros(shape, dtype)))
            self.batch_counter = None
            self.batch_state_index = None
        else:
            self.ema_first_time_index = None
            self.ema_state_index = None
            self.batch_counter = StateIndex(jnp.array(0, jnp.int32))
            self.batch_state_index = StateIndex((jnp.zeros(shape, dtype), jnp.ones(shape, dtype)))
        self.axis_name = axis_name
        self.inference = inference
        self.input_size = input_size
        self.eps = eps
        self.channelwise_affine = channelwise_affine
        self.momentum = momentum
        self.mode = mode

    def _batch_stats(self, x: jax.Array) -> tuple[jax.Array, jax.Array]:
        axis_name = self.axis_name
        if isinstance(axis_name, list):
            axis_name = tuple(axis_name)
        rest = tuple(range(1, x.ndim))
        mean = _pmean(jnp.mean(x, axis=rest), axis_name)
        centred = x - mean.reshape(mean.shape + (1,) * len(rest))
        var = _pmean(jnp.mean(centred * jnp.conj(centred), axis=rest), axis_name)
        var = jnp.maximum(jnp.real(var), 0).astype(var.dtype)
        return mean, var

    def __call__(
        self,
        x: ArrayLike,
        state: State,
        *,
        key: jax.Array | None = None,
        inference: ArrayLike | None = None,
    ) -> tuple[jax.Array, State]:
        """Normalise `x` of shape `(input_size, *rest)`.

        Arguments:
            x: one (unbatched) input; the batch is the enclosing named axis.
            state: the model's `State`.
            key: ignored.
            inference: overrides the `inference` field for this call.

        Returns:
            `(out, new_state)`, with `out` of the same shape and dtype as `x`.

        Raises:
            ValueError: `x` does not have `input_size` channels on its first axis.
            NameError: `axis_name` is not bound by an enclosing `vmap`/`pmap`.
        """
        with jax.named_scope("eqx.nn.BatchNorm"):
            check_state(state, "BatchNorm")
            x = jnp.asarray(x)
            if x.ndim == 0 or x.shape[0] != self.input_size:
                raise ValueError(
                    f"`BatchNorm(input_size={self.input_size})` expects an unbatched input "
                    f"of shape `({self.input_size}, ...)` (channels first), but got shape "
                    f"{x.shape}. Batch it with `jax.vmap(bn, axis_name=..., in_axes=(0, "
                    "None), out_axes=(0, None))`."
                )
            if inference is None:
                inference = self.inference
            dtype = _compute_dtype(x.dtype)
            xc = x.astype(dtype)
            momentum = jnp.asarray(self.momentum, dtype)
            if self.mode == "ema":
                assert self.ema_first_time_index is not None
                assert self.ema_state_index is not None
                running_mean, running_var = state.get(self.ema_state_index)
                if inference:
                    mean, var = running_mean.astype(dtype), running_var.astype(dtype)
                else:
                    first_time = state.get(self.ema_first_time_index)
                    batch_mean, batch_var = self._batch_stats(xc)
                    mixed_mean = (1 - momentum) * batch_mean + momentum * running_mean.astype(dtype)
                    mixed_var = (1 - momentum) * batch_var + momentum * running_var.astype(dtype)
                    mean = jnp.where(first_time, batch_mean, mixed_mean)
                    var = jnp.where(first_time, batch_var, mixed_var)
                    state = state.set(self.ema_first_time_index, jnp.array(False))
                    state = state.set(
                        self.ema_state_index,
                        (mean.astype(running_mean.dtype), var.astype(running_var.dtype)),
                    )
            else:
                assert self.batch_counter is not None
                assert self.batch_state_index is not None
                counter = state.get(self.batch_counter)
                hidden_mean, hidden_var = state.get(self.batch_state_index)
                if inference:
                    power = jnp.power(momentum, counter.astype(dtype))
                    divisor = jnp.where(counter == 0, jnp.ones((), dtype), 1 - power)
                    mean = hidden_mean.astype(dtype) / divisor
                    var = hidden_var.astype(dtype) / divisor
                else:
                    mean, var = self._batch_stats(xc)
                    new_mean = momentum * hidden_mean.astype(dtype) + (1 - momentum) * mean
                    new_var = momentum * hidden_var.astype(dtype) + (1 - momentum) * var
                    state = state.set(self.batch_counter, counter + 1)
                    state = state.set(
                        self.batch_state_index,
                        (new_mean.astype(hidden_mean.dtype), new_var.astype(hidden_var.dtype)),
                    )
            channel_shape = (self.input_size,) + (1,) * (x.ndim - 1)
            out = (xc - mean.reshape(channel_shape)) * jax.lax.rsqrt(
                var.reshape(channel_shape) + jnp.asarray(self.eps, dtype)
            )
            if self.weight is not None:
                out = out * self.weight.astype(dtype).reshape(channel_shape)
            if self.bias is not None:
                out = out + self.bias.astype(dtype).reshape(channel_shape)
            return out.astype(x.dtype), state
