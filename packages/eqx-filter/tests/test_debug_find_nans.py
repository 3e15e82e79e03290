"""`debug.find_nans`: exactly the paths of the leaves holding NaN or inf, with counts."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import eqx_filter as ef
from eqx_filter.debug import find_nans
from eqx_module import Module


class Layer(Module):
    weight: jax.Array
    bias: jax.Array


class Net(Module):
    layers: list[Layer]
    extra: dict[str, object]


def make_net() -> Net:
    return Net(
        [Layer(jnp.ones((3, 2)), jnp.zeros(3)), Layer(jnp.ones((2, 3)), jnp.zeros(2))],
        {"table": np.ones(4), "steps": jnp.arange(3), "name": "mlp", "lr": 0.1},
    )


def test_a_clean_tree_has_no_paths() -> None:
    result = find_nans(make_net())
    assert result == []
    assert str(result) == "no NaN or infinite values"


def test_the_paths_are_exactly_those_injected_in_flatten_order() -> None:
    net = make_net()
    weight = net.layers[1].weight.at[0, 1].set(jnp.nan).at[1, 2].set(jnp.nan)
    bias = net.layers[0].bias.at[2].set(-jnp.inf)
    table = np.ones(4)
    table[[0, 3]] = np.inf
    net = Net(
        [Layer(net.layers[0].weight, bias), Layer(weight, net.layers[1].bias)],
        {**net.extra, "table": table, "lr": float("nan")},
    )
    result = find_nans(net)
    assert result == [
        ".layers[0].bias",
        ".layers[1].weight",
        ".extra['lr']",
        ".extra['table']",
    ]
    assert isinstance(result, list)
    counts = result.counts
    assert (counts[".layers[1].weight"].nan, counts[".layers[1].weight"].inf) == (2, 0)
    assert counts[".layers[1].weight"].size == 6
    assert (counts[".layers[0].bias"].nan, counts[".layers[0].bias"].inf) == (0, 1)
    assert (counts[".extra['table']"].nan, counts[".extra['table']"].inf) == (0, 2)
    assert (counts[".extra['lr']"].nan, counts[".extra['lr']"].size) == (1, 1)
    assert str(result).splitlines()[1] == ".layers[1].weight: 2 NaN, 0 inf (of 6 elements)"


def test_counts_agree_with_numpy_on_random_data() -> None:
    values = jax.random.normal(jax.random.key(0), (50,))
    values = jnp.where(values > 1.0, jnp.nan, jnp.where(values < -1.2, jnp.inf, values))
    result = find_nans({"v": values, "c": values.astype(jnp.complex64)})
    expected_nan = int(np.isnan(np.asarray(values)).sum())
    expected_inf = int(np.isinf(np.asarray(values)).sum())
    assert expected_nan > 0 and expected_inf > 0
    assert result == ["['c']", "['v']"]
    assert (result.counts["['v']"].nan, result.counts["['v']"].inf) == (expected_nan, expected_inf)


def test_a_root_array_is_the_empty_path() -> None:
    result = find_nans(jnp.array([jnp.nan]))
    assert result == [""]
    assert str(result) == "<root>: 1 NaN, 0 inf (of 1 elements)"


def test_inside_a_transform_it_is_a_type_error_naming_the_leaf() -> None:
    with pytest.raises(TypeError, match=r"leaf at `\['w'\]` is being traced.*check_finite"):
        ef.filter_jit(lambda t: find_nans(t))({"w": jnp.ones(2)})
