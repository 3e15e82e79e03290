"""if_array and axis-spec resolution."""

import dataclasses

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from eqx_filter import if_array
from eqx_filter._axis_spec import resolve_axes


def test_if_array_returns_its_axis_for_arrays_and_none_otherwise():
    spec = if_array(1)
    assert spec(jnp.ones((2, 3))) == 1
    assert spec(np.ones(2)) == 1
    assert spec(1.0) is None
    assert spec("s") is None


def test_if_array_is_a_frozen_hashable_dataclass_and_not_a_pytree():
    spec = if_array(0)
    assert hash(spec) == hash(if_array(0))
    assert spec == if_array(0)
    with pytest.raises(dataclasses.FrozenInstanceError):
        spec.axis = 1  # type: ignore[misc]
    assert jax.tree_util.tree_leaves(spec) == [spec]


def test_resolve_axes_maps_callables_over_subtrees():
    x = jnp.ones(2)
    assert resolve_axes((if_array(0), None), ([x, 1], x), "in_axes") == [0, None, None]


def test_resolve_axes_rejects_a_bad_spec_leaf():
    with pytest.raises(ValueError, match="must consist of None, ints, and callables only"):
        resolve_axes(("a",), (1,), "in_axes")
