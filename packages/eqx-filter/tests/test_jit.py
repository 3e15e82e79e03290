"""filter_jit: results, tracing rules, wrappers, donation, AOT, errors."""

import functools
import gc
import warnings
import weakref

import jax
import jax.numpy as jnp
import jax.tree_util as jtu
import numpy as np
import pytest

import eqx_filter
from eqx_filter import filter_grad, filter_jit
from eqx_filter.debug import assert_max_traces
from eqx_module import Module, Partial


class Linear(Module):
    weight: jax.Array
    bias: jax.Array

    def __call__(self, x):
        return self.weight @ x + self.bias


class MLP(Module):
    layers: tuple
    activation: object

    def __call__(self, x):
        for layer in self.layers[:-1]:
            x = self.activation(layer(x))
        return self.layers[-1](x)


class IntField(Module):
    value: object


class Scale(Module):
    weight: jax.Array

    def __call__(self, x, *, shift=0.0):
        return self.weight * x + shift


def make_mlp():
    k1, k2 = jax.random.split(jax.random.PRNGKey(0))
    return MLP(
        (
            Linear(jax.random.normal(k1, (4, 3)), jnp.arange(4.0)),
            Linear(jax.random.normal(k2, (2, 4)), jnp.ones(2)),
        ),
        jax.nn.relu,
    )


def plain_mlp(params, x):
    (w1, b1), (w2, b2) = params
    return w2 @ jax.nn.relu(w1 @ x + b1) + b2


def counting(fn):
    count = [0]

    @functools.wraps(fn)
    def wrapped(*args, **kwargs):
        count[0] += 1
        return fn(*args, **kwargs)

    return wrapped, count


# --- numbers ---------------------------------------------------------------------------


def test_matches_jax_jit_on_a_nested_module():
    model = make_mlp()
    x = jnp.array([1.0, -2.0, 3.0])
    params = [(layer.weight, layer.bias) for layer in model.layers]
    expected = jax.jit(plain_mlp)(params, x)
    out = filter_jit(lambda m, x: m(x))(model, x)
    np.testing.assert_allclose(out, expected, rtol=1e-6)


def test_non_array_inputs_are_static_and_non_array_outputs_come_back():
    def f(x, fn, name, nothing, n):
        return fn(x) * n, name + "!", nothing, n + 1

    out = filter_jit(f)(jnp.array([1.0, -1.0]), jax.nn.relu, "hi", None, 3)
    np.testing.assert_array_equal(out[0], jnp.array([3.0, 0.0]))
    assert out[1:] == ("hi!", None, 4)


def test_python_scalars_are_static_not_traced():
    def f(x, n):
        assert isinstance(n, int)  # a tracer would fail this
        return x * n

    np.testing.assert_array_equal(filter_jit(f)(jnp.ones(2), 3), jnp.full(2, 3.0))


def test_keyword_arguments_are_traced_like_positional_ones():
    def f(x, *, scale, offset=1.0):
        return x * scale + offset

    out = filter_jit(f)(jnp.ones(2), scale=jnp.array(2.0))
    np.testing.assert_array_equal(out, jnp.full(2, 3.0))


def test_numpy_inputs_come_out_as_jax_arrays():
    out = filter_jit(lambda x: x)(np.ones(3))
    assert isinstance(out, jax.Array)


def test_output_static_parts_follow_the_input_shape():
    f = filter_jit(lambda x: (x.shape, x))
    assert f(jnp.ones(2))[0] == (2,)
    assert f(jnp.ones(3))[0] == (3,)
    assert f(jnp.ones(2))[0] == (2,)


def test_module_outputs_keep_their_static_fields():
    model = make_mlp()
    out = filter_jit(lambda m: m)(model)
    assert out.activation is jax.nn.relu
    np.testing.assert_array_equal(out.layers[0].weight, model.layers[0].weight)


def test_jaxpr_equals_the_jax_jit_jaxpr_for_array_inputs():
    def f(x, y):
        return jnp.sin(x) * y + 1.0

    x, y = jnp.ones(3), jnp.arange(3.0)
    ours = jax.make_jaxpr(filter_jit(f))(x, y)
    theirs = jax.make_jaxpr(jax.jit(f))(x, y)
    assert str(ours) == str(theirs)


def test_jaxpr_equals_the_jax_jit_jaxpr_for_a_module_and_keyword_arguments():
    def f(model, x, *, scale):
        return jnp.tanh(model(x)) * scale

    model = Linear(jnp.ones((2, 3)), jnp.zeros(2))
    x, scale = jnp.ones(3), jnp.array(2.0)
    ours = jax.make_jaxpr(filter_jit(f))(model, x, scale=scale)
    theirs = jax.make_jaxpr(jax.jit(f))(model, x, scale=scale)
    assert str(ours) == str(theirs)


# --- tracing and the cache -------------------------------------------------------------


def test_same_structure_and_static_leaves_do_not_retrace():
    g, count = counting(lambda x, s: x + len(s))
    f = filter_jit(g)
    f(jnp.ones(2), "ab")
    f(jnp.zeros(2), "ab")
    assert count[0] == 1


def test_changed_static_leaf_retraces():
    g, count = counting(lambda x, s: x + len(s))
    f = filter_jit(g)
    f(jnp.ones(2), "ab")
    f(jnp.ones(2), "abc")
    assert count[0] == 2


def test_changed_shape_or_dtype_retraces():
    g, count = counting(lambda x: x + 1)
    f = filter_jit(g)
    f(jnp.ones(2))
    f(jnp.ones(3))
    f(jnp.ones(3, dtype=jnp.int32))
    assert count[0] == 3


def test_changed_array_values_do_not_retrace_across_many_calls():
    g, count = counting(lambda m, x: m(x))
    f = filter_jit(g)
    model = make_mlp()
    for i in range(5):
        out = f(model, jnp.full(3, float(i)))
        np.testing.assert_allclose(out, model(jnp.full(3, float(i))), rtol=1e-6)
    assert count[0] == 1


def test_changed_weak_type_retraces():
    g, count = counting(lambda x: x * 2)
    f = filter_jit(g)
    f(jnp.asarray(1.0))  # weakly typed
    f(jnp.float32(1.0))  # strongly typed
    f(jnp.float32(2.0))
    assert count[0] == 2


def test_a_sharding_change_retraces_exactly_when_jax_jit_does():
    # JAX >= 0.5 retraces for a new sharding; 0.4.x reuses the trace and recompiles.
    if jax.device_count() < 2:
        pytest.skip("needs two devices")
    mesh = jax.sharding.Mesh(np.array(jax.devices()[:2]), ("i",))
    split = jax.sharding.NamedSharding(mesh, jax.sharding.PartitionSpec("i"))
    g, count = counting(lambda x: x + 1)
    plain_g, plain_count = counting(lambda x: x + 1)
    f, plain_f = filter_jit(g), jax.jit(plain_g)
    for x in (jnp.ones(2), jnp.zeros(2), jax.device_put(jnp.ones(2), split)):
        out = f(x)
        plain_f(x)
    assert count[0] == plain_count[0]
    assert out.sharding.is_equivalent_to(split, 1)
    np.testing.assert_array_equal(out, jnp.full(2, 2.0))


def test_output_static_parts_follow_a_shape_change_on_a_settled_entry():
    f = filter_jit(lambda x: (x, x.shape[0]))
    for _ in range(2):  # settle the entry, so the next call takes the fast path
        assert f(jnp.ones(2))[1] == 2
    assert f(jnp.ones(3))[1] == 3
    assert f(jnp.ones(2))[1] == 2
    assert f(jnp.ones(3))[1] == 3


def test_check_staged_by_a_retrace_of_a_settled_entry_raises_eqx_runtime_error():
    def f(x):
        if x.shape[0] > 2:  # only traces for longer inputs stage the check
            x = eqx_filter.error_if(x, x > 0, "positive entry")
        return x + 1

    wrapped = filter_jit(f)
    for _ in range(2):
        wrapped(jnp.ones(2))
    with pytest.raises(eqx_filter.EqxRuntimeError, match="positive entry") as info:
        wrapped(jnp.ones(3))
    assert info.value.__cause__ is None
    np.testing.assert_array_equal(wrapped(-jnp.ones(3)), jnp.zeros(3))


def test_positional_and_keyword_spellings_share_a_trace():
    g, count = counting(lambda x, y: x + y)
    f = filter_jit(g)
    f(jnp.ones(2), jnp.ones(2))
    f(jnp.ones(2), y=jnp.ones(2))
    f(x=jnp.ones(2), y=jnp.ones(2))
    assert count[0] == 1


def test_rebuilding_the_wrapper_in_a_loop_traces_once():
    g, count = counting(lambda x: x * 2)
    for _ in range(3):
        filter_jit(g)(jnp.ones(2))
    assert count[0] == 1


def test_filter_jit_of_a_rebuilt_filter_grad_traces_once():
    g, count = counting(lambda x: jnp.sum(x**2))
    for _ in range(3):
        grad = filter_jit(eqx_filter.filter_grad(g))(jnp.ones(2))
    np.testing.assert_array_equal(grad, jnp.full(2, 2.0))
    assert count[0] == 1


def test_nested_filter_jit_traces_once():
    g, count = counting(lambda x: x + 1)
    for _ in range(3):
        filter_jit(filter_jit(g))(jnp.ones(2))
    assert count[0] == 1


def test_modules_with_different_int_fields_trace_separately():
    g, count = counting(lambda m, x: x * m.value)
    f = filter_jit(g)
    assert float(f(IntField(1), jnp.array(1.0))) == 1.0
    assert float(f(IntField(2), jnp.array(1.0))) == 2.0
    assert count[0] == 2


def test_modules_with_different_array_fields_share_a_trace():
    g, count = counting(lambda m, x: x * m.value)
    f = filter_jit(g)
    assert float(f(IntField(jnp.array(1)), jnp.array(1.0))) == 1.0
    assert float(f(IntField(jnp.array(2)), jnp.array(1.0))) == 2.0
    assert count[0] == 1


def test_a_python_int_and_an_array_in_the_same_position_are_told_apart():
    seen = []

    def g(n):
        seen.append(type(n))
        return n

    f = filter_jit(g)
    assert f(1) == 1
    assert isinstance(f(jnp.array(1)), jax.Array)
    assert seen[0] is int
    assert seen[1] is not int


def test_bad_calls_raise_type_error_before_tracing():
    g, count = counting(lambda x, y: x + y)
    f = filter_jit(g)
    with pytest.raises(TypeError, match="missing a required argument"):
        f(jnp.ones(2))
    with pytest.raises(TypeError, match="unexpected keyword argument"):
        f(jnp.ones(2), jnp.ones(2), z=1)
    assert count[0] == 0


class Unhashable:
    __hash__ = None  # type: ignore[assignment]


class Config(Module):
    options: list


def test_unhashable_static_leaf_raises_type_error_naming_its_path():
    with pytest.raises(TypeError, match=r"`opts\.options\[0\] \(args\[1\]\)`"):
        filter_jit(lambda x, opts: x)(jnp.ones(2), opts=Config([Unhashable()]))
    with pytest.raises(TypeError, match=r"`extra`.*unhashable"):
        filter_jit(lambda x, **kw: x)(jnp.ones(2), extra=Unhashable())


def test_plain_functions_are_held_weakly():
    def g(x):
        return x + 1

    filter_jit(g)(jnp.ones(2))
    ref = weakref.ref(g)
    del g
    gc.collect()
    assert ref() is None


def test_jax_partial_works_as_the_function():
    fun = jtu.Partial(lambda a, b: a * b, jnp.array(3.0))
    np.testing.assert_array_equal(filter_jit(fun)(jnp.ones(2)), jnp.full(2, 3.0))


def test_a_wrapped_transform_binds_by_the_signature_inspect_signature_gives():
    # `inspect.signature` follows a wrapper Module's `__wrapped__` to the function, so
    # the positional and keyword spellings bind alike and share one trace.
    traces = []

    def scale(x, factor=1.0):
        traces.append(factor)
        return x * factor

    for wrapper in (
        assert_max_traces(scale, max_traces=1),
        filter_jit(scale),
        filter_grad(lambda x, factor=1.0: jnp.sum(scale(x, factor))),
    ):
        traces.clear()
        wrapped = filter_jit(wrapper)
        a = wrapped(jnp.ones(2), 2.0)
        b = wrapped(jnp.ones(2), factor=2.0)
        np.testing.assert_array_equal(a, b)
        assert traces == [2.0]
        with pytest.raises(TypeError, match="factor"):
            wrapped(jnp.ones(2), 2.0, factor=2.0)


def test_a_wrapper_binder_is_kept_weakly_on_its_innermost_function():
    from eqx_filter._jit import _bind as _jit_bind

    def scale(x, factor=1.0):
        return x * factor

    wrapped = filter_jit(filter_jit(scale))
    np.testing.assert_array_equal(wrapped(jnp.ones(2), factor=2.0), np.full(2, 2.0))
    binder = _jit_bind.wrapped_binders[scale]
    np.testing.assert_array_equal(wrapped(jnp.ones(2), factor=3.0), np.full(2, 3.0))
    assert _jit_bind.wrapped_binders[scale] is binder  # made once
    assert isinstance(_jit_bind.wrapped_binders, weakref.WeakKeyDictionary)


def test_clear_caches_forces_a_retrace():
    import eqx_tree

    g, count = counting(lambda x: x + 1)
    f = filter_jit(g)
    f(jnp.ones(2))
    eqx_tree.clear_caches()
    f(jnp.ones(2))
    assert count[0] == 2
    for _ in range(3):  # traced again once, then cached again (the hot path too)
        np.testing.assert_array_equal(f(jnp.ones(2)), jnp.full(2, 2.0))
    assert count[0] == 2


def test_wrapper_copies_and_rebuilt_wrappers_share_the_trace():
    g, count = counting(lambda x: x * 2)
    f = filter_jit(g)
    f(jnp.ones(2))
    rebuilt = jtu.tree_map(lambda leaf: leaf, f)  # unflattened: no direct cache link
    other = filter_jit(g)
    for wrapper in (f, rebuilt, other, f, rebuilt, other):
        np.testing.assert_array_equal(wrapper(jnp.ones(2)), jnp.full(2, 2.0))
    assert count[0] == 1
    assert rebuilt == f
    assert jtu.tree_structure(rebuilt) == jtu.tree_structure(other)


# --- the wrapper -----------------------------------------------------------------------


def test_decorator_with_and_without_arguments():
    @filter_jit
    def f(x):
        return x + 1

    @filter_jit(donate="none")
    def g(x):
        return x + 2

    assert float(f(jnp.array(1.0))) == 2.0
    assert float(g(jnp.array(1.0))) == 3.0


def test_wrapper_is_a_module_carrying_the_wrapped_attributes():
    def f(x):
        """Doc of f."""
        return x

    wrapped = filter_jit(f)
    assert isinstance(wrapped, Module)
    assert wrapped.__name__ == "f"
    assert wrapped.__doc__ == "Doc of f."
    assert wrapped.__wrapped__ is f


def test_module_with_call_is_jitted_with_its_arrays_traced():
    model = make_mlp()
    x = jnp.ones(3)
    np.testing.assert_allclose(filter_jit(model)(x), model(x), rtol=1e-6)


def test_module_called_with_keyword_arguments_binds_them():
    model = Scale(jnp.full(2, 2.0))
    wrapped = filter_jit(model)
    np.testing.assert_array_equal(wrapped(jnp.ones(2), shift=1.0), jnp.full(2, 3.0))
    np.testing.assert_array_equal(wrapped(x=jnp.ones(2)), jnp.full(2, 2.0))
    with pytest.raises(TypeError, match="unexpected keyword argument"):
        wrapped(jnp.ones(2), scale=1.0)


def test_bound_method_of_a_module_is_jitted():
    model = make_mlp()
    x = jnp.ones(3)
    np.testing.assert_allclose(filter_jit(model.__call__)(x), model(x), rtol=1e-6)


def test_decorated_method_binds_self_first():
    calls = []

    class Scaler(Module):
        scale: jax.Array

        @filter_jit
        def apply(self, x, mode="mul"):
            calls.append(mode)
            return self.scale * x if mode == "mul" else self.scale + x

    s = Scaler(jnp.array(2.0))
    assert isinstance(Scaler.__dict__["apply"].__get__(s, Scaler), Partial)
    assert Scaler.apply.__get__(None, Scaler) is Scaler.__dict__["apply"]
    assert float(s.apply(jnp.array(3.0))) == 6.0
    assert float(s.apply(jnp.array(3.0), mode="add")) == 5.0
    assert float(Scaler(jnp.array(4.0)).apply(jnp.array(3.0))) == 12.0
    assert calls == ["mul", "add"]


# --- donation --------------------------------------------------------------------------


def test_donate_all_deletes_every_input_array():
    x, y = jnp.ones(3), jnp.ones(3)
    out, _ = filter_jit(lambda x, y: (x + y, x - y), donate="all")(x, y)
    np.testing.assert_array_equal(out, jnp.full(3, 2.0))
    assert x.is_deleted()
    assert y.is_deleted()


def test_donate_all_except_first_keeps_the_first_argument():
    x, y = jnp.ones(3), jnp.ones(3)
    filter_jit(lambda x, y: x + y, donate="all-except-first")(x, y)
    assert not x.is_deleted()
    assert y.is_deleted()


def test_donate_none_deletes_nothing():
    x = jnp.ones(3)
    filter_jit(lambda x: x + 1)(x)
    assert not x.is_deleted()


def test_donate_all_silences_unusable_donation_warnings():
    x = jnp.ones(3)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        filter_jit(lambda x: jnp.sum(x), donate="all")(x)


def test_donate_warn_lets_jax_warn_about_unusable_donations():
    with pytest.warns(UserWarning, match="Some donated buffers were not usable"):
        filter_jit(lambda x: jnp.sum(x), donate="warn")(jnp.ones(3))


def test_donate_all_stays_silent_when_a_settled_entry_compiles_for_new_shapes():
    f = filter_jit(lambda x: jnp.sum(x), donate="all")
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        for n in (3, 3, 4, 5):
            assert float(f(jnp.ones(n))) == n


def test_donate_warn_warns_when_a_settled_entry_compiles_for_new_shapes():
    f = filter_jit(lambda x: jnp.sum(x), donate="warn")
    with pytest.warns(UserWarning, match="Some donated buffers were not usable"):
        f(jnp.ones(3))
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        f(jnp.ones(3))  # compiled already: nothing to warn about
    with pytest.warns(UserWarning, match="Some donated buffers were not usable"):
        f(jnp.ones(4))


def test_donate_warn_except_first_keeps_the_first_argument():
    x, y = jnp.ones(3), jnp.ones(3)
    filter_jit(lambda x, y: x + y, donate="warn-except-first")(x, y)
    assert not x.is_deleted()
    assert y.is_deleted()


def test_donate_all_includes_the_arrays_of_a_module_function():
    box = IntField(jnp.ones(3))
    out = filter_jit(lambda m, x: m.value + x, donate="all")
    out(box, jnp.ones(3))
    wrapped = filter_jit(Scale(jnp.ones(3)), donate="all")
    weight = wrapped.__wrapped__.weight
    wrapped(jnp.ones(3))
    assert weight.is_deleted()


def test_donate_all_deletes_inputs_on_every_call():
    f = filter_jit(lambda x: x * 2, donate="all")
    for _ in range(3):
        x = jnp.ones(3)
        np.testing.assert_array_equal(f(x), jnp.full(3, 2.0))
        assert x.is_deleted()


def test_array_arguments_keep_their_order_whatever_is_donated():
    # A sharding prefix maps one-to-one onto the inner arguments only if this holds.
    def f(a, b, c):
        return a * 2, b + 1, c

    args = (jnp.ones(2), jnp.ones(3, jnp.int32), jnp.ones((1, 1)))
    expected = {"none": (False,) * 3, "all": (True,) * 3, "all-except-first": (False, True, True)}
    for donate, donated in expected.items():
        (eqn,) = jax.make_jaxpr(filter_jit(f, donate=donate))(*args).eqns
        assert [v.aval.shape for v in eqn.invars] == [(2,), (3,), (1, 1)]
        assert eqn.params["donated_invars"] == donated


def test_donate_rejects_unknown_values_listing_the_valid_ones():
    with pytest.raises(ValueError, match="all-except-first"):
        filter_jit(lambda x: x, donate="some")


@pytest.mark.parametrize("name", ["static_argnums", "static_argnames", "donate_argnums"])
def test_reserved_jit_keywords_raise_value_error_naming_them(name):
    with pytest.raises(ValueError, match=name):
        filter_jit(lambda x: x, **{name: 0})


@pytest.mark.parametrize("name", ["default", "fn", "args", "kwargs", "out"])
def test_pre_0_10_keywords_raise_value_error(name):
    with pytest.raises(ValueError, match=f"`{name}`"):
        filter_jit(lambda x: x, **{name: 0})


@pytest.mark.parametrize(
    ("options", "error", "match"),
    [
        ({"donate": "some"}, ValueError, "all-except-first"),
        ({"static_argnums": 0}, ValueError, "static_argnums"),
        ({"fn": 0}, ValueError, "`fn`"),
        ({"not_a_jit_keyword": 0}, TypeError, "not_a_jit_keyword"),
    ],
)
def test_decorator_form_checks_its_options_when_called(options, error, match):
    with pytest.raises(error, match=match):
        filter_jit(**options)


def test_unknown_jit_keyword_raises_type_error_naming_it_before_any_call():
    with pytest.raises(TypeError, match="not_a_jit_keyword"):
        filter_jit(lambda x: x, not_a_jit_keyword=True)


def test_other_jit_keywords_are_passed_to_jax_jit():
    f = filter_jit(lambda x: x + 1, inline=True)
    assert float(f(jnp.array(1.0))) == 2.0


# --- ahead of time ---------------------------------------------------------------------


def test_lower_returns_a_lowered_module_with_text():
    lowered = filter_jit(lambda x, s: x * 2).lower(jnp.ones(2), "static")
    assert isinstance(lowered, eqx_filter.Lowered)
    assert "stablehlo" in lowered.as_text() or "mhlo" in lowered.as_text()


def test_compiled_is_called_like_the_original():
    compiled = filter_jit(lambda x, s: (x * len(s), s)).lower(jnp.ones(2), "ab").compile()
    assert isinstance(compiled, eqx_filter.Compiled)
    out, s = compiled(jnp.full(2, 3.0), "ab")
    np.testing.assert_array_equal(out, jnp.full(2, 6.0))
    assert s == "ab"


def test_compiled_uses_the_static_arguments_of_the_lowering():
    compiled = filter_jit(lambda x, n: x * n).lower(jnp.ones(2), 3).compile()
    np.testing.assert_array_equal(compiled(jnp.ones(2), 3), jnp.full(2, 3.0))
    np.testing.assert_array_equal(compiled(jnp.ones(2), n=3), jnp.full(2, 3.0))


def test_compiled_rejects_arguments_of_another_structure():
    compiled = filter_jit(lambda x, n: x * n).lower(jnp.ones(2), 3).compile()
    with pytest.raises(ValueError, match="structure"):
        compiled(jnp.ones(2), jnp.array(3.0))


def test_lower_and_compile_work_for_a_module_and_keyword_options():
    lowered = filter_jit(Scale(jnp.full(2, 2.0))).lower(jnp.ones(2), shift=1.0)
    compiled = lowered.compile(compiler_options=None)
    np.testing.assert_array_equal(compiled(jnp.ones(2), shift=1.0), jnp.full(2, 3.0))


def test_lower_and_compile_with_donate_all_stay_silent_and_donate():
    f = filter_jit(lambda x, y: (x * 2, jnp.sum(y)), donate="all")
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # y's buffer cannot back any output
        compiled = f.lower(jnp.ones(3), jnp.ones(2)).compile()
        x, y = jnp.ones(3), jnp.ones(2)
        out, total = compiled(x, y)
    np.testing.assert_array_equal(out, jnp.full(3, 2.0))
    assert float(total) == 2.0
    assert x.is_deleted()


def test_lower_with_donate_warn_lets_jax_warn():
    f = filter_jit(lambda x: jnp.sum(x), donate="warn")
    with pytest.warns(UserWarning, match="Some donated buffers were not usable"):
        f.lower(jnp.ones(3)).compile()


def test_compile_with_bad_options_raises_jax_runtime_error():
    lowered = filter_jit(lambda x: x + 1).lower(jnp.ones(2))
    with pytest.raises(jax.errors.JaxRuntimeError):
        lowered.compile({"not_a_real_xla_option": "1"})


def test_a_non_callable_is_rejected_when_wrapped():
    with pytest.raises(TypeError, match=r"filter_jit: .*3 of type int, which is not callable"):
        filter_jit(3)
    with pytest.raises(TypeError, match="not callable"):
        filter_jit(donate="all")("f")


@pytest.mark.parametrize("transform", ["jax.jit", "filter_jit"])
def test_a_leaked_tracer_is_reported_under_checking_leaks_as_by_jax_jit(transform):
    leaked = []

    def leak(x, n):
        if n == 2:  # only the second configuration leaks
            leaked.append(x)
        return x + n

    if transform == "jax.jit":
        wrapped = jax.jit(leak, static_argnums=1)
    else:
        wrapped = filter_jit(leak)
    with jax.checking_leaks():
        np.testing.assert_array_equal(wrapped(jnp.ones(2), 1), np.full(2, 2.0))
        with pytest.raises(Exception, match="Leaked trace"):
            wrapped(jnp.ones(2), 2)
        leaked.clear()
        # Not cached by the failed trace: the leak is reported again.
        with pytest.raises(Exception, match="Leaked trace"):
            wrapped(jnp.ones(2), 2)
    assert len(leaked) == 1
