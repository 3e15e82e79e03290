"""The checked training step of docs/debugging.md, run as the page prints it.

The recipe is read from the page (so the documented code is the tested code) and made
to fail at each stage it promises to check: the inputs (forward), a gradient only
(backward), and the updated parameters.
"""

from __future__ import annotations

import pathlib
import re
from collections.abc import Callable, Iterator
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest

import eqx

PAGE = pathlib.Path(__file__).resolve().parents[3] / "docs" / "debugging.md"
MARKER = "# recipe: a training step that stops at the first NaN"


@pytest.fixture(autouse=True)
def standard_promotion() -> Iterator[None]:
    # The recipe is user code (optax's Adam mixes its int32 step count with floats):
    # it runs under JAX's default promotion, not the strict rules this suite sets.
    with jax.numpy_dtype_promotion("standard"):
        yield


def load_recipe() -> Callable[..., Any]:
    blocks = re.findall(r"```python\n(.*?)```", PAGE.read_text(), flags=re.S)
    (recipe,) = [block for block in blocks if block.startswith(MARKER)]
    namespace: dict[str, Any] = {}
    exec(compile(recipe, str(PAGE), "exec"), namespace)
    make: Callable[..., Any] = namespace["make_checked_step"]
    return make


def mse(pred: jax.Array, y: jax.Array) -> jax.Array:
    return jnp.mean((pred - y) ** 2)


def norm_loss(pred: jax.Array, y: jax.Array) -> jax.Array:
    # The norm's slope at 0 is 0/0: finite loss, NaN gradient.
    return jnp.mean(jnp.sqrt(jnp.sum((pred - y) ** 2, axis=-1)))


def make_model() -> eqx.nn.MLP:
    return eqx.nn.MLP(2, 2, width_size=4, depth=2, key=jax.random.key(0))


def batch() -> tuple[jax.Array, jax.Array]:
    x = jax.random.normal(jax.random.key(1), (5, 2))
    return x, jnp.zeros((5, 2))


def run(loss_fn: Callable[..., Any], optim: Any, model: Any, x: jax.Array, y: jax.Array) -> Any:
    step = load_recipe()(loss_fn, optim)
    opt_state = optim.init(eqx.filter(model, eqx.is_inexact_array))
    return step(model, opt_state, x, y)


def message(info: pytest.ExceptionInfo[BaseException]) -> str:
    assert info.type is eqx.EqxRuntimeError
    return str(info.value).split("eqx.EqxRuntimeError: ", 1)[1].split("\n", 1)[0]


def test_a_clean_step_equals_the_unchecked_step() -> None:
    model, (x, y) = make_model(), batch()
    optim = optax.sgd(0.1)
    new_model, _, loss = run(mse, optim, model, x, y)

    def plain_loss(model: Any) -> jax.Array:
        return mse(jax.vmap(model)(x), y)

    plain_value, grads = eqx.filter_value_and_grad(plain_loss)(model)
    plain_model = eqx.apply_updates(model, jax.tree.map(lambda g: -0.1 * g, grads))
    np.testing.assert_allclose(loss, plain_value, rtol=1e-6)
    arrays = (jax.tree.leaves(eqx.filter(m, eqx.is_array)) for m in (new_model, plain_model))
    for a, b in zip(*arrays, strict=True):
        np.testing.assert_allclose(a, b, rtol=1e-6)


def test_a_nan_input_stops_at_the_prediction_naming_the_batch_index() -> None:
    model, (x, y) = make_model(), batch()
    x = x.at[3, 1].set(jnp.nan)
    with pytest.raises(eqx.EqxRuntimeError) as info:
        run(mse, optax.sgd(0.1), model, x, y)
    assert message(info) == "non-finite value in `pred` at batch index 3 (forward pass)"


def test_a_nan_parameter_stops_at_the_parameter() -> None:
    model, (x, y) = make_model(), batch()
    weight = model.layers[1].weight.at[0, 0].set(jnp.inf)
    model = eqx.tree_at(lambda m: m.layers[1].weight, model, weight)
    with pytest.raises(eqx.EqxRuntimeError) as info:
        run(mse, optax.sgd(0.1), model, x, y)
    assert message(info) == "non-finite value in `model.layers[1].weight` (forward pass)"


def test_a_gradient_only_nan_stops_in_the_backward_pass() -> None:
    model, (x, _) = make_model(), batch()
    # A zero last layer predicts exactly 0; the target of example 0 is 0 too, so the
    # norm there is exactly 0: a finite loss whose gradient is NaN.
    model = eqx.tree_at(lambda m: m.layers[-1].bias, model, jnp.zeros(2))
    zero_last = eqx.tree_at(lambda m: m.layers[-1].weight, model, jnp.zeros((2, 4)))
    y = jnp.zeros((5, 2)).at[1:].set(1.0)
    with pytest.raises(eqx.EqxRuntimeError) as info:
        run(norm_loss, optax.sgd(0.1), zero_last, x, y)
    assert message(info) == "non-finite value in `pred` at batch index 0 (backward pass)"


def test_an_exploding_update_stops_at_the_updated_parameter() -> None:
    model, (x, y) = make_model(), batch()
    y = y + 1.0
    with pytest.raises(eqx.EqxRuntimeError) as info:
        run(mse, optax.sgd(float("inf")), model, x, y)
    assert message(info) == "non-finite value in `new_model.layers[0].weight` (forward pass)"
