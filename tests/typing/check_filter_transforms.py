# pyright: reportUnnecessaryTypeIgnoreComment=error
"""Type-checking fixture for eqx_filter's transforms other than `filter_jit` / `filter_pmap`.

Only checked, never run (see `check_module.py` for the conventions):

    .venv/bin/mypy tests/typing
    .venv/bin/basedpyright tests/typing

Each transform keeps the wrapped function's parameters, in both the direct and the
decorator form. `filter_vmap`, `filter_checkpoint` and the custom-derivative wrappers
keep the result type too; `filter_grad` returns the gradient (typed `Any`: it mirrors
the first argument with `None` at its non-float leaves), and `filter_value_and_grad`
returns `(value, grad)` with `value` typed as the function returns it. With
`has_aux=True` the aux output keeps its type. A line that must be rejected carries
`# type: ignore[<mypy code>]`.
"""

from typing import Any, assert_type

import jax
import jax.numpy as jnp

from eqx_filter import (
    filter_checkpoint,
    filter_custom_jvp,
    filter_custom_vjp,
    filter_grad,
    filter_value_and_grad,
    filter_vmap,
)

x = jnp.ones(3)


def loss(params: jax.Array, scale: float, *, offset: float = 0.0) -> jax.Array:
    return jnp.sum(params * scale) + offset


def loss_aux(params: jax.Array, scale: float) -> tuple[jax.Array, str]:
    return jnp.sum(params * scale), "aux"


# --- filter_grad ---
grad_fn = filter_grad(loss)
assert_type(grad_fn(x, 2.0), Any)
grad_fn(x, 2.0, offset=1.0)
grad_fn(x, "two")  # type: ignore[arg-type]
grad_fn(x)  # type: ignore[call-arg]
grad_fn(x, 2.0, offst=1.0)  # type: ignore[call-arg]

grad_aux = filter_grad(loss_aux, has_aux=True)
grads, aux = grad_aux(x, 2.0)
assert_type(aux, str)
filter_grad(loss, has_aux=True)  # type: ignore[call-overload]


@filter_grad(has_aux=True)
def decorated_aux(params: jax.Array) -> tuple[jax.Array, int]:
    return jnp.sum(params), 1


assert_type(decorated_aux(x)[1], int)
decorated_aux(x, 1)  # type: ignore[call-arg]

# --- filter_value_and_grad ---
value_and_grad = filter_value_and_grad(loss)
value, grads = value_and_grad(x, 2.0)
assert_type(value, jax.Array)
value_and_grad(x, scale="2")  # type: ignore[arg-type]

(value_a, aux_a), grads_a = filter_value_and_grad(loss_aux, has_aux=True)(x, 2.0)
assert_type(value_a, jax.Array)
assert_type(aux_a, str)


@filter_value_and_grad
def decorated_value(params: jax.Array) -> jax.Array:
    return jnp.sum(params)


assert_type(decorated_value(x)[0], jax.Array)

# --- filter_vmap ---


def affine(w: jax.Array, b: jax.Array) -> jax.Array:
    return w * 2 + b


batched = filter_vmap(affine)
assert_type(batched(jnp.ones((4, 3)), jnp.ones((4, 3))), jax.Array)
batched(jnp.ones((4, 3)))  # type: ignore[call-arg]


@filter_vmap(in_axes=(0, None))
def shifted(w: jax.Array, shift: float) -> tuple[jax.Array, float]:
    return w + shift, shift


assert_type(shifted(jnp.ones((4, 3)), 1.0), tuple[jax.Array, float])
shifted(jnp.ones((4, 3)), "one")  # type: ignore[arg-type]

# --- filter_checkpoint ---
remat = filter_checkpoint(loss)
assert_type(remat(x, 2.0, offset=1.0), jax.Array)
remat(x, 2.0, 1.0)  # type: ignore[call-arg]


@filter_checkpoint(prevent_cse=False)
def block(h: jax.Array) -> jax.Array:
    return jnp.tanh(h)


assert_type(block(x), jax.Array)

# --- filter_custom_jvp / filter_custom_vjp ---


@filter_custom_jvp
def clipped(v: jax.Array, limit: float) -> jax.Array:
    return jnp.clip(v, -limit, limit)


@clipped.def_jvp
def clipped_jvp(primals: Any, tangents: Any) -> tuple[jax.Array, jax.Array]:
    v, limit = primals
    t_v, _ = tangents
    return clipped(v, limit), t_v


assert_type(clipped(x, 1.0), jax.Array)
clipped(x)  # type: ignore[call-arg]


@filter_custom_vjp
def scaled(v: jax.Array, factor: float) -> jax.Array:
    return v * factor


assert_type(scaled(x, 2.0), jax.Array)
scaled(x, "2")  # type: ignore[arg-type]
