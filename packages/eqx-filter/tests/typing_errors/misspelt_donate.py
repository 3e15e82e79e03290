"""A fixture that must FAIL type checking: `donate` is misspelt (read by `test_typing.py`)."""

import jax

from eqx_filter import filter_jit


def double(x: jax.Array) -> jax.Array:
    return 2 * x


fast = filter_jit(double, donate="all-but-first")
