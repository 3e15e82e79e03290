"""`warn_if`: a jit-safe warning, the sibling of `error_if`."""

import warnings

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import eqx_filter as ef


def _record(run):
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        out = run()
        jax.effects_barrier()  # debug callbacks may run asynchronously
    return out, caught


def test_warns_at_run_time_inside_filter_jit_and_returns_x():
    step = ef.filter_jit(lambda x: ef.warn_if(x, x > 1, "x is large", category=RuntimeWarning))
    out, caught = _record(lambda: step(jnp.array(0.5)))
    assert caught == [] and float(out) == 0.5
    out, caught = _record(lambda: step(jnp.array(2.0)))
    assert float(out) == 2.0
    assert [(w.category, str(w.message)) for w in caught] == [(RuntimeWarning, "x is large")]
    # Attributed to the line that called `warn_if` (here: the lambda above).
    assert caught[0].filename == __file__
    # The compiled program is the same for both calls: the warning happens at run time.
    _, caught = _record(lambda: step(jnp.array(3.0)))
    assert len(caught) == 1


def test_a_concrete_predicate_warns_right_away_and_x_is_the_same_object():
    x = {"w": jnp.ones(2), "name": "layer"}
    out, caught = _record(lambda: ef.warn_if(x, True, "now"))
    assert out is x and [(w.category, str(w.message)) for w in caught] == [(UserWarning, "now")]
    out, caught = _record(lambda: ef.warn_if(x, np.array([False, False]), "never"))
    assert out is x and caught == []


def test_message_may_be_a_function_of_x():
    run = jax.jit(lambda x: ef.warn_if(x, jnp.any(x < 0), lambda x: f"negative: {x.tolist()}"))
    _, caught = _record(lambda: run(jnp.array([1.0, -2.0])))
    assert [str(w.message) for w in caught] == ["negative: [1.0, -2.0]"]
    _, caught = _record(lambda: ef.warn_if(3, True, lambda x: f"value {x}"))
    assert [str(w.message) for w in caught] == ["value 3"]


def test_under_vmap_one_warning_per_call_and_under_grad_the_primal_warns():
    step = ef.filter_jit(lambda x: ef.warn_if(x, x > 1, "large"))
    out, caught = _record(lambda: jax.vmap(step)(jnp.array([2.0, 3.0, 0.0])))
    np.testing.assert_array_equal(out, [2.0, 3.0, 0.0])
    assert [str(w.message) for w in caught] == ["large"]
    grad, caught = _record(lambda: jax.grad(lambda x: ef.warn_if(x, x > 1, "in grad") ** 2)(3.0))
    assert float(grad) == 6.0 and [str(w.message) for w in caught] == ["in grad"]


def test_category_must_be_a_warning_class():
    # (Under a runtime type checker its own TypeError, naming `category`, comes first.)
    with pytest.raises(TypeError, match="category"):
        ef.warn_if(jnp.ones(2), True, "m", category=ValueError)


def test_warnings_filters_apply_as_to_any_warning():
    step = jax.jit(lambda x: ef.warn_if(x, x > 1, "large", category=DeprecationWarning))
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("ignore", DeprecationWarning)
        step(jnp.array(2.0))
        jax.effects_barrier()
    assert caught == []
