"""`MultiheadAttention`."""

import functools as ft
from collections.abc import Callable
from typing import Any

import jax
import jax.numpy as jnp
import jax.random as jr
from jax.typing import ArrayLike

from eqx_module import Module, field
from eqx_tree import EqxDeprecationWarning
from eqx_tree.internal import warn_at_user_code

from ._attention import dot_product_attention
from ._dropout import Dropout
from ._hyperparameters import check_in_range, check_size
from ._linear import Linear

__all__ = ["MultiheadAttention"]


class MultiheadAttention(Module):
    """Multi-head scaled dot-product attention (Vaswani et al., 2017).

    Arguments:
        num_heads: number of heads `h`.
        query_size: feature size of the query.
        key_size, value_size, output_size: default to `query_size`.
        qk_size, vo_size: per-head sizes of queries/keys and values/outputs; default to
            `query_size // num_heads`.
        use_query_bias, use_key_bias, use_value_bias, use_output_bias: biases of the
            four projections.
        dropout_p: dropout probability on the attention weights.
        inference: whether the dropout is off.
        dtype: parameter dtype; `None` is float32 (float64 under x64).
        key: a PRNG key, `split(key, 4)` for the query, key, value and output projections.

    Example:
        >>> mha = MultiheadAttention(2, 8, key=jax.random.key(0))
        >>> x = jnp.ones((5, 8))
        >>> mha(x, x, x).shape
        (5, 8)
    """

    query_proj: Linear
    key_proj: Linear
    value_proj: Linear
    output_proj: Linear
    dropout: Dropout
    num_heads: int = field(static=True)
    query_size: int = field(static=True)
    key_size: int = field(static=True)
    value_size: int = field(static=True)
    output_size: int = field(static=True)
    qk_size: int = field(static=True)
    vo_size: int = field(static=True)
    use_query_bias: bool = field(static=True)
    use_key_bias: bool = field(static=True)
    use_value_bias: bool = field(static=True)
    use_output_bias: bool = field(static=True)

    def __init__(
        self,
        num_heads: int,
        query_size: int,
        key_size: int | None = None,
        value_size: int | None = None,
        output_size: int | None = None,
        qk_size: int | None = None,
        vo_size: int | None = None,
        use_query_bias: bool = False,
        use_key_bias: bool = False,
        use_value_bias: bool = False,
        use_output_bias: bool = False,
        dropout_p: ArrayLike = 0.0,
        inference: ArrayLike = False,
        dtype: Any = None,
        *,
        key: jax.Array,
    ) -> None:
        check_size("MultiheadAttention", "num_heads", num_heads, minimum=1)
        for size_name, size in (
            ("query_size", query_size),
            ("key_size", key_size),
            ("value_size", value_size),
            ("output_size", output_size),
            ("qk_size", qk_size),
            ("vo_size", vo_size),
        ):
            if size is not None or size_name == "query_size":
                check_size("MultiheadAttention", size_name, size)
        check_in_range("MultiheadAttention", "dropout_p", dropout_p, 0, 1)
        qkey, kkey, vkey, okey = jr.split(key, 4)
        key_size = query_size if key_size is None else key_size
        value_size = query_size if value_size is None else value_size
        output_size = query_size if output_size is None else output_size
        qk_size = query_size // num_heads if qk_size is None else qk_size
        vo_size = query_size // num_heads if vo_size is None else vo_size
        h = num_heads
        self.query_proj = Linear(query_size, h * qk_size, use_query_bias, dtype, key=qkey)
        self.key_proj = Linear(key_size, h * qk_size, use_key_bias, dtype, key=kkey)
        self.value_proj = Linear(value_size, h * vo_size, use_value_bias, dtype, key=vkey)
        self.output_proj = Linear(h * vo_size, output_size, use_output_bias, dtype, key=okey)
        self.dropout = Dropout(dropout_p, inference)
        self.num_heads = num_heads
        self.query_size = query_size
        self.key_size = key_size
        self.value_size = value_size
        self.output_size = output_size
        self.qk_size = qk_size
        self.vo_size = vo_size
        self.use_query_bias = use_query_bias
        self.use_key_bias = use_key_bias
        self.use_value_bias = use_value_bias
        self.use_output_bias = use_output_bias

    def _project(self, proj: Linear, x: jax.Array) -> jax.Array:
        return jax.vmap(proj)(x).reshape(x.shape[0], self.num_heads, -1)

    def __call__(
        self,
        query: ArrayLike,
        key_: ArrayLike,
        value: ArrayLike,
        mask: Any = None,
        *,
        key: jax.Array | None = None,
        inference: ArrayLike | None = None,
        deterministic: ArrayLike | None = None,
        process_heads: Callable[..., Any] | None = None,
    ) -> jax.Array:
        """Attend from `query` to `key_`/`value`.

        Arguments:
            query: `(q_seq, query_size)`.
            key_: `(kv_seq, key_size)`.
            value: `(kv_seq, value_size)`.
            mask: optional boolean `(q_seq, kv_seq)`, or `(num_heads, q_seq, kv_seq)`.
            key: PRNG key for the dropout (split per head).
            inference: overrides the dropout's `inference`.
            deterministic: deprecated alias of `inference`.
            process_heads: optional `(q, k, v) -> (q, k, v)` on the per-head projections,
                of shapes `(seq, num_heads, size)`; it must not change the shapes.

        Returns:
            `(q_seq, output_size)`.

        Raises:
            ValueError: inputs of the wrong shape, key and value of different lengths, a
                mask of the wrong shape, or `process_heads` changing a shape.
        """
        with jax.named_scope("eqx.nn.MultiheadAttention"):
            query, key_, value = jnp.asarray(query), jnp.asarray(key_), jnp.asarray(value)
            if deterministic is not None:
                warn_at_user_code(
                    "`deterministic` is deprecated in `MultiheadAttention.__call__`; use "
                    "`inference` instead (same meaning).",
                    EqxDeprecationWarning,
                )
                inference = deterministic
            for name, arr, size in (
                ("query", query, self.query_size),
                ("key_", key_, self.key_size),
                ("value", value, self.value_size),
            ):
                if arr.ndim != 2 or arr.shape[1] != size:
                    msg = (
                        f"MultiheadAttention expects `{name}` of shape (seq_len, {size}), but "
                        f"got shape {arr.shape}."
                    )
                    if arr.ndim > 2:
                        msg += " Layers take unbatched inputs: for a batch use `jax.vmap`."
                    raise ValueError(msg)
            q_seq = query.shape[0]
            if key_.shape[0] != value.shape[0]:
                raise ValueError(
                    "`key_` and `value` must both be sequences of equal length, but got "
                    f"key_.shape={key_.shape} and value.shape={value.shape}."
                )
            kv_seq = key_.shape[0]
            q_heads = self._project(self.query_proj, query)
            k_heads = self._project(self.key_proj, key_)
            v_heads = self._project(self.value_proj, value)
            if process_heads is not None:
                shapes = (q_heads.shape, k_heads.shape, v_heads.shape)
                q_heads, k_heads, v_heads = process_heads(q_heads, k_heads, v_heads)
                new_shapes = (q_heads.shape, k_heads.shape, v_heads.shape)
                if new_shapes != shapes:
                    raise ValueError(
                        "process_heads must not change the shape of the heads: (q, k, v) "
                        f"went from shapes {shapes} to {new_shapes}."
                    )
            if mask is not None:
                expected = [(q_seq, kv_seq), (self.num_heads, q_seq, kv_seq)]
                if jnp.shape(mask) not in expected:
                    raise ValueError(
                        f"mask must have shape (query_seq_length, kv_seq_length)={expected[0]} "
                        f"or (num_heads, query_seq_length, kv_seq_length)={expected[1]}, but "
                        f"got mask of shape {jnp.shape(mask)}."
                    )
            attn_fn = ft.partial(dot_product_attention, dropout=self.dropout, inference=inference)
            keys = None if key is None else jr.split(key, self.num_heads)
            if mask is not None and jnp.ndim(mask) == 3:
                attn = jax.vmap(
                    lambda q, k, v, m, kk: attn_fn(q, k, v, m, key=kk),
                    in_axes=(1, 1, 1, 0, 0),
                    out_axes=1,
                )(q_heads, k_heads, v_heads, mask, keys)
            else:
                attn = jax.vmap(
                    lambda q, k, v, kk: attn_fn(q, k, v, mask, key=kk),
                    in_axes=(1, 1, 1, 0),
                    out_axes=1,
                )(q_heads, k_heads, v_heads, keys)
            attn = attn.reshape(q_seq, -1)
            return jax.vmap(self.output_proj)(attn)
