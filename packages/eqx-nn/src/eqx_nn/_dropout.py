"""`Dropout`."""

import jax
import jax.numpy as jnp
import jax.random as jr
from jax.typing import ArrayLike

from eqx_module import Module
from eqx_tree import EqxDeprecationWarning
from eqx_tree.internal import warn_at_user_code

from ._hyperparameters import check_in_range

__all__ = ["Dropout"]


def _deprecated_deterministic(where: str) -> None:
    warn_at_user_code(
        f"`deterministic` is deprecated in {where}; use `inference` instead (same meaning).",
        EqxDeprecationWarning,
    )


class Dropout(Module):
    """Zero each element with probability `p` and scale the rest by `1/(1-p)`.

    Arguments:
        p: the drop probability (a float, or an array to make it traceable).
        inference: if true, the layer is the identity. Toggle it for a whole model with
            `eqx.nn.inference_mode`.
        deterministic: deprecated alias of `inference` (emits `EqxDeprecationWarning`).

    Raises:
        RuntimeError: (at call time) training mode without a `key`.

    Example:
        >>> drop = Dropout(0.5)
        >>> drop(jnp.ones(4), key=jax.random.key(0)).shape
        (4,)
        >>> drop(jnp.ones(2), inference=True)
        Array([1., 1.], dtype=float32)
    """

    p: ArrayLike
    inference: ArrayLike

    def __init__(
        self,
        p: ArrayLike = 0.5,
        inference: ArrayLike = False,
        *,
        deterministic: ArrayLike | None = None,
    ) -> None:
        check_in_range("Dropout", "p", p, 0, 1)
        if deterministic is not None:
            _deprecated_deterministic("`Dropout(...)`")
            inference = deterministic
        self.p = p
        self.inference = inference

    @property
    def deterministic(self) -> ArrayLike:
        """Deprecated alias of `inference` (read-only)."""
        return self.inference

    def __call__(
        self,
        x: ArrayLike,
        *,
        key: jax.Array | None = None,
        inference: ArrayLike | None = None,
        deterministic: ArrayLike | None = None,
    ) -> jax.Array:
        """Apply dropout to `x` (any shape).

        Arguments:
            x: the input.
            key: a PRNG key; required unless in inference mode.
            inference: overrides the `inference` field for this call.
            deterministic: deprecated alias of `inference`.

        Returns:
            `x` in inference mode, else `where(mask, x / (1 - p), 0)`.
        """
        with jax.named_scope("eqx.nn.Dropout"):
            x = jnp.asarray(x)  # the same object for a JAX array
            if deterministic is not None:
                _deprecated_deterministic("`Dropout.__call__`")
                inference = deterministic
            if inference is None:
                inference = self.inference
            if isinstance(self.p, (int, float)) and self.p == 0:
                inference = True
            if inference:
                return x
            if key is None:
                raise RuntimeError(
                    "Dropout requires a key when running in training mode "
                    "(`inference=False`). Pass `key=...`, or set `inference=True` (e.g. with "
                    "`eqx.nn.inference_mode(model)`) to disable dropout."
                )
            q = 1 - jax.lax.stop_gradient(self.p)
            mask = jr.bernoulli(key, q, jnp.shape(x))
            scale = q.astype(x.dtype) if isinstance(q, jax.Array) else q
            return jnp.where(mask, x / scale, jnp.zeros((), x.dtype))
