import dataclasses

import jax.numpy as jnp
import numpy as np
import pytest

import eqx_tree


@dataclasses.dataclass
class _Layer:
    weight: object = None


# The spec's reference row: [1, 2.0, [2.0], True, object(), jnp.array([1]),
# jnp.array(1.0), np.array(1.0), np.array(1), a class]
REFERENCE = [
    1,
    2.0,
    [2.0],
    True,
    object(),
    jnp.array([1]),
    jnp.array(1.0),
    np.array(1.0),
    np.array(1),
    _Layer,
]


@pytest.mark.parametrize(
    ("predicate", "expected"),
    [
        (eqx_tree.is_array, "FFFFFTTTTF"),
        (eqx_tree.is_array_like, "TTFTFTTTTF"),
        (eqx_tree.is_inexact_array, "FFFFFFTTFF"),
        (eqx_tree.is_inexact_array_like, "FTFFFFTTFF"),
    ],
)
def test_predicates_match_the_reference_table(predicate, expected):
    got = "".join("T" if predicate(x) else "F" for x in REFERENCE)
    assert got == expected


def test_numpy_scalars_are_arrays_and_python_scalars_are_not():
    assert eqx_tree.is_array(np.float32(1.0))
    assert eqx_tree.is_inexact_array(np.float32(1.0))
    assert not eqx_tree.is_array(1.0)
    assert not eqx_tree.is_inexact_array(1.0)


def test_inexact_covers_complex_and_bfloat16_but_not_ints_or_bools():
    assert eqx_tree.is_inexact_array(jnp.ones(2, jnp.complex64))
    assert eqx_tree.is_inexact_array(jnp.ones(2, jnp.bfloat16))
    assert not eqx_tree.is_inexact_array(jnp.ones(2, jnp.int32))
    assert not eqx_tree.is_inexact_array(jnp.ones(2, bool))
    assert eqx_tree.is_inexact_array_like(1.0 + 2j)
    assert not eqx_tree.is_inexact_array_like(True)


def test_jax_array_protocol_is_array_like_and_resolved_for_inexactness():
    class HasJaxArray:
        def __jax_array__(self):
            return jnp.ones(2)

    class BrokenJaxArray:
        def __jax_array__(self):
            raise RuntimeError("no")

    assert eqx_tree.is_array_like(HasJaxArray())
    assert not eqx_tree.is_array(HasJaxArray())
    assert eqx_tree.is_inexact_array_like(HasJaxArray())
    assert not eqx_tree.is_inexact_array_like(BrokenJaxArray())  # predicates never raise


def test_tracers_are_arrays():
    import jax

    seen = []
    jax.jit(lambda x: seen.append((eqx_tree.is_array(x), eqx_tree.is_inexact_array(x))))(
        jnp.ones(2)
    )
    assert seen == [(True, True)]


def test_tracers_are_array_like_and_float_tracers_inexact_array_like():
    import jax

    seen = []

    def record(x, i):
        seen.append(
            (
                eqx_tree.is_array_like(x),
                eqx_tree.is_inexact_array_like(x),
                eqx_tree.is_inexact_array_like(i),
            )
        )

    jax.jit(record)(jnp.ones(2), jnp.arange(2))
    assert seen == [(True, True, False)]
