"""The Modules returned by the decorator transforms."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from eqx_filter import (
    filter_checkpoint,
    filter_grad,
    filter_jit,
    filter_make_jaxpr,
    filter_pmap,
    filter_value_and_grad,
    filter_vmap,
)
from eqx_module import Module, Partial

TRANSFORMS = [
    filter_grad,
    filter_value_and_grad,
    filter_vmap,
    filter_pmap,
    filter_checkpoint,
    filter_make_jaxpr,
]


def documented(x, y):
    """Multiply and sum."""
    return jnp.sum(x * y)


@pytest.mark.parametrize("transform", TRANSFORMS)
def test_the_wrapper_is_a_module_whose_wrapper_attributes_survive_filter_jit(transform):
    wrapped = transform(documented)
    assert isinstance(wrapped, Module)
    assert wrapped.__wrapped__ is documented
    assert wrapped.__name__ == "documented"
    assert wrapped.__doc__ == "Multiply and sum."
    jitted = filter_jit(wrapped)
    assert jitted.__name__ == "documented"
    assert jitted.__doc__ == "Multiply and sum."


@pytest.mark.parametrize("transform", TRANSFORMS)
def test_class_access_gives_the_wrapper_and_instance_access_binds_self(transform):
    class Holder(Module):
        w: jax.Array
        method = transform(documented)

    holder = Holder(jnp.ones(2))
    assert Holder.method is Holder.__dict__["method"]
    bound = holder.method
    assert isinstance(bound, Partial)
    assert bound.args[0] is holder


def test_bound_transforms_compute_what_plain_jax_computes():
    class Quadratic(Module):
        a: jax.Array

        def energy(self, x):
            return jnp.sum(self.a * x**2)

        grad = filter_grad(energy)
        value_and_grad = filter_value_and_grad(energy)
        batched = filter_vmap(energy, in_axes=(None, 0))
        remat = filter_checkpoint(energy)

    q = Quadratic(jnp.array([1.0, 2.0]))
    x = jnp.array([3.0, 4.0])
    np.testing.assert_allclose(q.grad(x).a, x**2)
    value, grads = q.value_and_grad(x)
    np.testing.assert_allclose(value, q.energy(x))
    np.testing.assert_allclose(grads.a, x**2)
    xs = jnp.stack([x, 2 * x])
    np.testing.assert_allclose(q.batched(xs), jax.vmap(q.energy)(xs))
    np.testing.assert_allclose(jax.grad(q.remat)(x), jax.grad(q.energy)(x))


def test_a_module_as_the_wrapped_function_gives_dynamic_arrays_under_filter_jit():
    class Scale(Module):
        w: jax.Array

        def __call__(self, x):
            return jnp.sum(self.w * x)

    traces = []

    @filter_jit
    def run(grad_fn, x):
        traces.append(1)
        return grad_fn(x)

    x = jnp.array([1.0, 2.0])
    np.testing.assert_allclose(run(filter_grad(Scale(jnp.array([3.0, 4.0]))), x), [3.0, 4.0])
    np.testing.assert_allclose(run(filter_grad(Scale(jnp.array([5.0, 6.0]))), x), [5.0, 6.0])
    assert len(traces) == 1  # the Module's arrays were inputs, not constants


class Scale(Module):
    weight: jax.Array

    def __call__(self, x):
        return self.weight * x


@pytest.mark.parametrize("transform", [filter_jit, filter_vmap, filter_checkpoint, filter_grad])
def test_wrapping_a_jax_transformed_module_does_not_warn(transform):
    # The user asked for it: the wrapper's field holding `jax.vmap(model)` is ours, so
    # no "JAX-transformed callable" warning (filterwarnings=error would fail here).
    model = Scale(jnp.arange(3.0))
    wrapper = transform(jax.vmap(model))
    assert wrapper.__wrapped__ is not None


def test_filter_jit_of_jax_vmap_of_a_module_computes_the_batched_call():
    model = Scale(jnp.arange(3.0))
    xs = jnp.ones((4, 3))
    np.testing.assert_allclose(filter_jit(jax.vmap(model))(xs), jax.vmap(model)(xs))
