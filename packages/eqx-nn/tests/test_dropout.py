import dataclasses
import inspect

import jax
import jax.numpy as jnp
import jax.random as jr
import numpy as np
import pytest

from eqx_nn import Dropout
from eqx_tree import EqxDeprecationWarning

KEY = jr.key(4)


def test_dropout_signature_and_fields():
    sig = inspect.signature(Dropout)
    assert list(sig.parameters) == ["p", "inference", "deterministic"]
    assert sig.parameters["p"].default == 0.5
    assert sig.parameters["inference"].default is False
    fields = dataclasses.fields(Dropout)
    assert [f.name for f in fields] == ["p", "inference"]
    assert not any(f.metadata.get("static", False) for f in fields)
    assert jax.tree_util.tree_leaves(Dropout(0.3, True)) == [0.3, True]


def test_dropout_matches_bernoulli_mask_and_rescales():
    x = jnp.arange(1.0, 11.0)
    out = Dropout(0.3)(x, key=KEY)
    mask = jr.bernoulli(KEY, 0.7, x.shape)
    np.testing.assert_allclose(out, np.where(mask, np.asarray(x) / 0.7, 0.0), rtol=1e-6)


def test_dropout_drops_about_p_of_the_elements():
    out = Dropout(0.25)(jnp.ones(4000), key=KEY)
    frac = float(jnp.mean(out == 0))
    assert 0.2 < frac < 0.3


def test_dropout_inference_is_identity_and_call_argument_wins():
    x = jnp.ones(5)
    assert Dropout(0.5, inference=True)(x) is x
    assert Dropout(0.5)(x, inference=True) is x
    out = Dropout(0.5, inference=True)(x, inference=False, key=KEY)
    assert bool(jnp.any(out == 0))


def test_dropout_with_p_zero_never_needs_a_key():
    x = jnp.ones(3)
    assert Dropout(0.0)(x) is x
    assert Dropout(0)(x, inference=False) is x


def test_dropout_without_key_in_training_raises():
    with pytest.raises(RuntimeError, match="Dropout requires a key"):
        Dropout(0.5)(jnp.ones(3))


def test_dropout_deterministic_is_deprecated_alias_of_inference():
    with pytest.warns(EqxDeprecationWarning, match="deterministic"):
        layer = Dropout(0.5, deterministic=True)
    assert layer.inference is True
    assert layer.deterministic is True
    x = jnp.ones(2)
    with pytest.warns(EqxDeprecationWarning, match="deterministic"):
        assert Dropout(0.5)(x, deterministic=True) is x


def test_dropout_gradient_does_not_flow_into_array_p():
    grad = jax.grad(lambda p: jnp.sum(Dropout(p)(jnp.ones(8), key=KEY)))(jnp.array(0.5))
    assert float(grad) == 0.0


@pytest.mark.parametrize("dtype", [jnp.float16, jnp.bfloat16])
def test_dropout_keeps_dtype_with_array_p(dtype):
    assert Dropout(jnp.array(0.5))(jnp.ones(4, dtype), key=KEY).dtype == dtype
    assert Dropout(0.5)(jnp.ones(4, dtype), key=KEY).dtype == dtype


def test_dropout_under_jit_and_vmap():
    keys = jr.split(KEY, 3)
    out = jax.jit(jax.vmap(lambda k: Dropout(0.5)(jnp.ones(6), key=k)))(keys)
    np.testing.assert_allclose(out[1], Dropout(0.5)(jnp.ones(6), key=keys[1]))


def test_dropout_deprecation_warnings_point_at_the_callers_line():
    with pytest.warns(EqxDeprecationWarning) as construction:
        layer = Dropout(0.5, deterministic=False)
    with pytest.warns(EqxDeprecationWarning) as call:
        layer(jnp.ones(2), deterministic=True)
    assert construction[0].filename == call[0].filename == __file__


def test_dropout_accepts_numpy_probability_and_flag():
    x = jnp.arange(1.0, 9.0)
    expected = Dropout(0.25)(x, key=KEY)
    np.testing.assert_allclose(Dropout(np.float32(0.25))(x, key=KEY), expected, rtol=1e-6)
    assert Dropout(0.5, inference=np.bool_(True))(x) is x
