"""Scaled dot-product attention for one head.

Migrating code imports these from `eqx.nn._attention`, so this module's name is API.
"""

import math
from typing import Any

import jax
import jax.numpy as jnp
from jax.typing import ArrayLike

from ._dropout import Dropout
from ._misc import at_least_float32, finfo

__all__ = ["dot_product_attention", "dot_product_attention_weights"]


def dot_product_attention_weights(query: ArrayLike, key: ArrayLike, mask: Any = None) -> jax.Array:
    """Attention weights `softmax((query / sqrt(d)) @ key.T)` for one head.

    Arguments:
        query: `(q_seq, d)`.
        key: `(kv_seq, d)`.
        mask: optional boolean `(q_seq, kv_seq)`; `False` entries get logit `finfo.min`.

    Returns:
        `(q_seq, kv_seq)` weights in `query`'s dtype (the softmax runs in at least float32).

    Raises:
        ValueError: a mask of the wrong shape.
    """
    query, key = jnp.asarray(query), jnp.asarray(key)
    dtype = query.dtype
    query = query / jnp.asarray(math.sqrt(query.shape[-1]), dtype=dtype)
    logits = jnp.einsum("sd,Sd->sS", query, key)
    if mask is not None:
        if jnp.shape(mask) != logits.shape:
            raise ValueError(
                f"mask must have shape (query_seq_length, kv_seq_length)={logits.shape}, but "
                f"got mask of shape {jnp.shape(mask)}."
            )
        logits = jnp.where(mask, logits, jnp.asarray(finfo(logits.dtype).min, logits.dtype))
    softmax_dtype = at_least_float32(logits.dtype)
    weights = jax.nn.softmax(logits.astype(softmax_dtype), axis=-1)
    return weights.astype(logits.dtype)


def dot_product_attention(
    query: ArrayLike,
    key_: ArrayLike,
    value: ArrayLike,
    mask: Any = None,
    dropout: Dropout | None = None,
    *,
    key: jax.Array | None = None,
    inference: ArrayLike | None = None,
) -> jax.Array:
    """Single-head attention: the weights (after optional dropout) times `value`.

    Arguments:
        query: `(q_seq, d)`.
        key_: `(kv_seq, d)`.
        value: `(kv_seq, d_v)`.
        mask: optional boolean `(q_seq, kv_seq)`.
        dropout: optional `Dropout` applied to the weights.
        key: PRNG key for the dropout.
        inference: passed to the dropout.

    Returns:
        `(q_seq, d_v)`.

    Example:
        >>> q = k = v = jnp.ones((3, 2))
        >>> dot_product_attention(q, k, v).shape
        (3, 2)
    """
    weights = dot_product_attention_weights(query, key_, mask)
    if dropout is not None:
        weights = dropout(weights, key=key, inference=inference)
    return jnp.einsum("sS,Sd->sd", weights, value)
