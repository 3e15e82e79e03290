"""`Embedding`: a lookup table."""

from typing import Any

import jax
import jax.numpy as jnp
import jax.random as jr
import numpy as np
from jax.typing import ArrayLike
from jaxtyping import Int

from eqx_module import Module, field

from ._misc import default_floating_dtype

__all__ = ["Embedding"]


class Embedding(Module):
    """A table of `num_embeddings` vectors of size `embedding_size`; `layer(i)` is row `i`.

    Arguments:
        num_embeddings: the number of rows (inferred from `weight` if omitted).
        embedding_size: the row size (inferred from `weight` if omitted).
        weight: an explicit `(num_embeddings, embedding_size)` table; otherwise rows are
            drawn from N(0, 1) with `key`.
        dtype: table dtype when drawn; `None` is float32 (float64 under x64).
        key: a PRNG key, needed when `weight` is not given.

    Raises:
        ValueError: missing sizes or key without a weight, negative sizes, a weight that
            is not 2-D or disagrees with the sizes, or (at call time) a non-scalar index.

    Example:
        >>> emb = Embedding(10, 4, key=jax.random.key(0))
        >>> emb(jnp.array(3)).shape
        (4,)
    """

    num_embeddings: int = field(static=True)
    embedding_size: int = field(static=True)
    weight: ArrayLike

    def __init__(
        self,
        num_embeddings: int | None = None,
        embedding_size: int | None = None,
        weight: Any = None,
        dtype: Any = None,
        *,
        key: jax.Array | None = None,
    ) -> None:
        if weight is None:
            if num_embeddings is None or embedding_size is None or key is None:
                raise ValueError(
                    "Must provide `eqx.nn.Embedding(num_embeddings=..., embedding_size=..., "
                    "key=...)` if not providing the weight directly (`weight=...`); got "
                    f"num_embeddings={num_embeddings}, embedding_size={embedding_size}, "
                    f"key={'None' if key is None else 'given'}."
                )
            _check_sizes(num_embeddings, embedding_size)
            dtype = default_floating_dtype() if dtype is None else dtype
            weight = jr.normal(key, (num_embeddings, embedding_size), dtype)
        else:
            if jnp.ndim(weight) != 2:
                raise ValueError(
                    "`weight` must be 2-dimensional, of shape (num_embeddings, "
                    f"embedding_size), but got shape {jnp.shape(weight)}."
                )
            rows, cols = jnp.shape(weight)
            num_embeddings = rows if num_embeddings is None else num_embeddings
            embedding_size = cols if embedding_size is None else embedding_size
            _check_sizes(num_embeddings, embedding_size)
            if (rows, cols) != (num_embeddings, embedding_size):
                raise ValueError(
                    f"`weight` has shape {(rows, cols)}, but num_embeddings={num_embeddings} "
                    f"and embedding_size={embedding_size} ask for shape "
                    f"{(num_embeddings, embedding_size)}."
                )
        self.num_embeddings = num_embeddings
        self.embedding_size = embedding_size
        self.weight = weight

    def __call__(self, x: Int[ArrayLike, ""], *, key: jax.Array | None = None) -> jax.Array:
        """Look up one index.

        Arguments:
            x: a scalar integer index.
            key: ignored.

        Returns:
            The row `weight[x]`, of shape `(embedding_size,)`.
        """
        with jax.named_scope("eqx.nn.Embedding"):
            if jnp.ndim(x) != 0:
                raise ValueError(
                    "`Embedding()(x)` must be called with a scalar index `x`, but got shape "
                    f"{jnp.shape(x)}. Use `jax.vmap(embedding)(x)` to look up many indices."
                )
            _check_index(x, self.num_embeddings)
            return jnp.asarray(self.weight)[x]


def _check_sizes(num_embeddings: int, embedding_size: int) -> None:
    if num_embeddings < 0:
        raise ValueError(f"`num_embeddings` must not be negative, but got {num_embeddings}.")
    if embedding_size < 0:
        raise ValueError(f"`embedding_size` must not be negative, but got {embedding_size}.")


def _check_index(x: Any, num_embeddings: int) -> None:
    """A concrete index must select a row (NumPy rules: `-n <= x < n`).

    JAX would clamp an out-of-range index silently, returning the wrong row; a traced
    index cannot be checked and keeps JAX's semantics.
    """
    try:
        index = np.asarray(x)
    except Exception:  # a tracer
        return
    if np.issubdtype(index.dtype, np.integer) and not -num_embeddings <= index < num_embeddings:
        raise IndexError(
            f"`Embedding` index {int(index)} is out of range for a vocabulary of size "
            f"{num_embeddings} (`num_embeddings`): it must be from 0 to {num_embeddings - 1} "
            "(or negative, counting from the end)."
        )
