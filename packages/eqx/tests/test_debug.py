"""`eqx.debug` is Equinox's seven debug tools plus `explain_retraces`, each the
`eqx_filter.debug` object."""

import types
from collections.abc import Callable

import pytest

import eqx
import eqx_filter.debug

DEBUG_NAMES = (
    "announce_transform",
    "backward_nan",
    "breakpoint_if",
    "store_dce",
    "inspect_dce",
    "assert_max_traces",
    "get_num_traces",
    "explain_retraces",  # an eqx addition: why a filter_jit function retraced
    "find_nans",  # the NaN locators: eager, and inside compiled code
    "check_finite",
)


def test_public_names_of_eqx_debug_are_exactly_the_spec_list(
    public_names: Callable[[types.ModuleType], set[str]],
) -> None:
    actual = public_names(eqx.debug)
    assert sorted(set(DEBUG_NAMES) - actual) == [], "listed names eqx.debug lacks"
    assert sorted(actual - set(DEBUG_NAMES)) == [], "public names not listed here"


@pytest.mark.parametrize("name", DEBUG_NAMES)
def test_each_debug_name_is_the_very_object_of_eqx_filter_debug(name: str) -> None:
    assert getattr(eqx.debug, name) is getattr(eqx_filter.debug, name)


def test_import_eqx_debug_gives_the_submodule() -> None:
    import eqx.debug as debug

    assert debug is eqx.debug


def test_get_num_traces_counts_through_eqx_debug() -> None:
    import jax
    import jax.numpy as jnp

    @eqx.filter_jit
    @eqx.debug.assert_max_traces(max_traces=1)
    def double(x: jax.Array) -> jax.Array:
        return 2 * x

    assert jnp.array_equal(double(jnp.arange(3)), jnp.array([0, 2, 4]))
    double(jnp.arange(3) + 1)  # same shape and dtype: no retrace
    assert eqx.debug.get_num_traces(double) == 1
