# pyright: reportUnnecessaryTypeIgnoreComment=error
"""Type-checking fixture for `filter_jit` / `filter_pmap` (only checked, not collected).

Checked with both checkers, with the root configuration (see `check_module.py`):

    .venv/bin/mypy tests/typing
    .venv/bin/basedpyright tests/typing

The wrapper keeps the wrapped function's signature (parameters and return type), in
both the `@filter_jit` and the `@filter_jit(donate=...)` forms, and `donate` takes only
the documented modes. A line that must be rejected carries `# type: ignore[<code>]`.
"""

from typing import assert_type

import jax
import jax.numpy as jnp

from eqx_filter import filter_jit, filter_pmap


def scale(x: jax.Array, factor: float, *, label: str = "") -> tuple[jax.Array, str]:
    return x * factor, label


jitted = filter_jit(scale)
assert_type(jitted(jnp.ones(2), 2.0), tuple[jax.Array, str])
assert_type(jitted(jnp.ones(2), factor=2.0, label="a"), tuple[jax.Array, str])
jitted(jnp.ones(2), "two")  # type: ignore[arg-type]
jitted(jnp.ones(2))  # type: ignore[call-arg]
jitted(jnp.ones(2), 2.0, colour="red")  # type: ignore[call-arg]

assert_type(jitted.lower(jnp.ones(2), 2.0).compile()(jnp.ones(2), 2.0), tuple[jax.Array, str])


@filter_jit
def double(x: jax.Array) -> jax.Array:
    return 2 * x


assert_type(double(jnp.ones(2)), jax.Array)


@filter_jit(donate="all-except-first")
def step(model: jax.Array, x: jax.Array) -> jax.Array:
    return model + x


assert_type(step(jnp.ones(2), jnp.ones(2)), jax.Array)
step(jnp.ones(2))  # type: ignore[call-arg]

filter_jit(scale, donate="all")
filter_jit(scale, donate="warn-except-first")
filter_jit(scale, donate="everything")  # type: ignore[call-overload]
filter_jit(donate="al")  # type: ignore[call-overload]

pmapped = filter_pmap(double)
assert_type(pmapped(jnp.ones((1, 2))), jax.Array)
assert_type(pmapped.lower(jnp.ones((1, 2))).compile()(jnp.ones((1, 2))), jax.Array)
pmapped("x")  # type: ignore[arg-type]
assert_type(filter_pmap(donate="warn")(double)(jnp.ones((1, 2))), jax.Array)
filter_pmap(double, donate="all-except-first")  # type: ignore[call-overload]
