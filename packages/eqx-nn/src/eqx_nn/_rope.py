"""`RotaryPositionalEmbedding` (RoPE), with a process-wide table cache."""

from typing import Any

import jax
import jax.numpy as jnp
from jax.typing import ArrayLike
from jaxtyping import Shaped

from eqx_module import Module, field
from eqx_tree import register_cache_clearer

from ._misc import at_least_float32, default_floating_dtype

__all__ = ["RotaryPositionalEmbedding"]

# (embedding_size, theta, dtype) -> (cos, sin), each (length, embedding_size // 2).
_ROPE_CACHE: dict[tuple[int, int | float, Any], tuple[jax.Array, jax.Array]] = {}


@register_cache_clearer
def _clear_rope_cache() -> None:
    _ROPE_CACHE.clear()


class RotaryPositionalEmbedding(Module):
    """Rotary positional embedding (Su et al., RoFormer), applied to a `(seq, size)` input.

    Position `t` rotates each pair of features `(j, j + size/2)` by the angle
    `t * theta^(-2j/size)`. The `cos`/`sin` tables are computed once per
    `(embedding_size, theta, dtype)` and cached process-wide (cleared by
    `eqx.clear_caches()`); they grow when a longer sequence arrives.

    Arguments:
        embedding_size: the feature size; must be even and non-negative.
        theta: the base of the angles.
        dtype: the dtype of the tables; defaults to float32 (float64 under x64).

    Raises:
        ValueError: an odd or negative `embedding_size`; at call time an input whose last
            axis is not `embedding_size`.

    Example:
        >>> rope = RotaryPositionalEmbedding(4)
        >>> rope(jnp.ones((3, 4))).shape
        (3, 4)
    """

    embedding_size: int = field(static=True)
    theta: int | float = field(static=True, default=10_000.0)
    dtype: Any = field(static=True, default_factory=default_floating_dtype)

    def __check_init__(self) -> None:
        if self.embedding_size < 0:
            raise ValueError(
                f"`embedding_size` must not be negative, but got {self.embedding_size}."
            )
        if self.embedding_size % 2 != 0:
            raise ValueError(
                f"`embedding_size` must be even (features are rotated in pairs), but got "
                f"{self.embedding_size}."
            )

    @staticmethod
    def rotate_half(x: jax.Array) -> jax.Array:
        """`concat([-x[..., h:], x[..., :h]])` with `h` half the last axis."""
        half = x.shape[-1] // 2
        return jnp.concatenate([-x[..., half:], x[..., :half]], axis=-1)

    @staticmethod
    def precompute_freqs_cis(
        embedding_size: int, end: int, theta: int | float, dtype: Any
    ) -> tuple[jax.Array, jax.Array]:
        """The `(cos, sin)` tables, each `(end, embedding_size // 2)`, of the angles
        `t * theta^(-2j/embedding_size)` for positions `t < end`."""
        # Work in at least float32 (float64 tables are computed in float64).
        work = at_least_float32(dtype)
        if not jnp.issubdtype(work, jnp.floating):
            work = jnp.dtype(jnp.float32)
        with jax.numpy_dtype_promotion("standard"):
            exponent = jnp.arange(0, embedding_size, 2, dtype=work) / embedding_size
            freqs = 1.0 / (theta**exponent)
            positions = jnp.arange(end, dtype=work)
            angles = jnp.outer(positions, freqs)
        return jnp.cos(angles).astype(dtype), jnp.sin(angles).astype(dtype)

    def _tables(self, seq_len: int) -> tuple[jax.Array, jax.Array]:
        cache_key = (self.embedding_size, self.theta, jnp.dtype(self.dtype))
        with jax.ensure_compile_time_eval():
            tables = _ROPE_CACHE.get(cache_key)
            if tables is None or tables[0].shape[0] < seq_len:
                tables = self.precompute_freqs_cis(
                    self.embedding_size, seq_len, self.theta, self.dtype
                )
                _ROPE_CACHE[cache_key] = tables
            cos, sin = tables
            return cos[:seq_len], sin[:seq_len]

    def __call__(
        self, x: Shaped[ArrayLike, " seq_len embedding_size"], *, key: jax.Array | None = None
    ) -> jax.Array:
        """Rotate one unbatched sequence `x` of shape `(seq, embedding_size)`.

        Returns:
            `x * tile(cos, 2) + rotate_half(x) * tile(sin, 2)`, in `x.dtype`.
        """
        with jax.named_scope("eqx.nn.RotaryPositionalEmbedding"):
            x = jnp.asarray(x)
            if x.ndim != 2 or x.shape[-1] != self.embedding_size:
                msg = (
                    f"RotaryPositionalEmbedding expects an input of shape (seq_len, "
                    f"{self.embedding_size}) (`embedding_size`={self.embedding_size}), but got "
                    f"shape {x.shape}."
                )
                if x.ndim > 2:
                    msg += " Layers take unbatched inputs: for a batch use `jax.vmap(rope)(x)`."
                raise ValueError(msg)
            cos, sin = self._tables(x.shape[0])
            cos = jnp.tile(cos, (1, 2))
            sin = jnp.tile(sin, (1, 2))
            try:
                out = x * cos + self.rotate_half(x) * sin
            except Exception as e:
                if "promot" not in type(e).__name__.lower() and "promot" not in str(e).lower():
                    raise
                raise type(e)(
                    f"RotaryPositionalEmbedding got an input of dtype {x.dtype}, but its tables "
                    f"have dtype {jnp.dtype(self.dtype)} (the `dtype` field), and strict dtype "
                    "promotion is on. Construct it with `RotaryPositionalEmbedding(..., "
                    f"dtype=jnp.{x.dtype})`, or cast the input."
                ) from e
            return out.astype(x.dtype)
