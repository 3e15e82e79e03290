"""The filter_jit cache: retrace history, entry states, error_if seams, threads."""

import collections
import logging
import random
import threading
import weakref
from typing import NamedTuple

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from eqx_filter import _runtime_error, filter_jit
from eqx_filter._jit import _dispatch, trace_signatures
from eqx_filter._jit._entry import CHECKED, PLAIN, REBUILD, TRACING, UNSTABLE, OutInfo
from eqx_filter._runtime_error import EqxRuntimeError
from eqx_filter._tracing_hooks import note_check_staged
from eqx_module import Module, field


class Box(Module):
    value: object

    def __call__(self, x):
        return x * self.value


# --- retrace history -------------------------------------------------------------------


def test_each_trace_records_the_call_as_made_with_arrays_made_abstract():
    def f(x, mode, scale=1):
        return x * scale

    wrapped = filter_jit(f)
    wrapped(jnp.ones(2), "a")
    wrapped(jnp.ones(2), mode="a")  # hit: same bound call
    wrapped(jnp.ones(3, dtype=jnp.int32), "b", scale=2)
    history = trace_signatures(wrapped)
    assert history == trace_signatures(f)
    assert len(history) == 2
    fun, args, kwargs = history[0]
    assert fun() is f  # a weak reference: the history does not keep `f` alive
    assert args == (jax.ShapeDtypeStruct((2,), jnp.float32), "a")
    assert kwargs == {}
    _, args, kwargs = history[1]
    assert args == (jax.ShapeDtypeStruct((3,), jnp.int32), "b")
    assert kwargs == {"scale": 2}


def test_history_keeps_the_last_32_traces():
    def f(x, n):
        return x

    wrapped = filter_jit(f)
    for n in range(40):
        wrapped(jnp.ones(1), n)
    history = trace_signatures(f)
    assert len(history) == 32
    assert history[-1][1][1] == 39
    assert history[0][1][1] == 8


def test_history_of_a_module_includes_its_abstract_arrays():
    wrapped = filter_jit(Box(jnp.ones(2)))
    wrapped(jnp.ones(2))
    (fun, _args, _kwargs), *_ = trace_signatures(Box)
    assert isinstance(fun, Box)
    assert fun.value == jax.ShapeDtypeStruct((2,), jnp.float32)


def test_unknown_function_has_an_empty_history():
    assert trace_signatures(lambda x: x) == []


def test_history_does_not_keep_the_function_alive():
    def f(x):
        return x

    filter_jit(f)(jnp.ones(1))
    ref = weakref.ref(f)
    del f
    assert ref() is None


# --- runtime-error seams ---------------------------------------------------------------


def _failing_callback(x):
    raise RuntimeError("boom from callback")


def _checked(x):
    note_check_staged()  # what error_if does when it stages a check
    return jax.pure_callback(_failing_callback, jax.ShapeDtypeStruct(x.shape, x.dtype), x)


def _entry_of(wrapped, *args):
    """The cache entry that `wrapped(*args)` uses (made if it is not there yet)."""
    entry, _ = _dispatch.prepare(wrapped.__wrapped__, wrapped._config, args, {})
    return entry


def _passing_check(x):
    note_check_staged()  # what error_if does when it stages a check
    return x + 1


@pytest.mark.parametrize(
    ("fun", "state"),
    [
        (lambda x: x + 1, PLAIN),  # an array out: returned as `jax.jit` gives it
        (lambda x: (x + 1, "label"), REBUILD),  # a static leaf out: rebuilt
        (_passing_check, CHECKED),
    ],
)
def test_an_entry_settles_on_the_state_its_first_trace_found(fun, state):
    traces = []

    def f(x):
        traces.append(None)
        return fun(x)

    wrapped = filter_jit(f)
    assert _entry_of(wrapped, jnp.ones(2)).state is TRACING
    for _ in range(3):
        out = wrapped(jnp.ones(2))
        expected = fun(jnp.ones(2))
        assert jax.tree_util.tree_structure(out) == jax.tree_util.tree_structure(expected)
        np.testing.assert_array_equal(jax.tree_util.tree_leaves(out)[0], np.full(2, 2.0))
    assert len(traces) == 1
    assert _entry_of(wrapped, jnp.ones(2)).state is state


def test_an_output_whose_static_part_follows_the_input_shape_is_right_for_each_shape():
    traces = []

    def f(x):
        traces.append(x.shape)
        return x * 2, x.shape[0]

    wrapped = filter_jit(f)
    for n in (1, 2, 1, 2, 3):
        out, size = wrapped(jnp.ones(n))
        assert size == n
        np.testing.assert_array_equal(out, np.full(n, 2.0))
    assert _entry_of(wrapped, jnp.ones(1)).state is UNSTABLE
    # Once per shape before the entry was found unstable, then once per shape on its own.
    assert traces == [(1,), (2,), (1,), (2,), (3,)]
    wrapped(jnp.ones(3))
    assert len(traces) == 5


def test_a_first_call_does_not_undo_what_another_trace_found():
    # The first call of an entry settles it on a hot-path state when it returns; a
    # trace of the same entry on another thread may have found, meanwhile, that the
    # output's static part depends on the shapes. That must win.
    wrapped = filter_jit(lambda x: (x, x.shape[0]))
    entry = _entry_of(wrapped, jnp.ones(1))
    entry._traced(OutInfo((jnp.ones(1), 1)), checked=False)  # the first call's trace
    entry._traced(OutInfo((jnp.ones(2), 2)), checked=False)  # the other thread's
    entry._first_call_returned()
    assert entry.state is UNSTABLE
    entry._traced(OutInfo((jnp.ones(1), 1)), checked=True)
    assert entry.state is UNSTABLE  # final


def test_a_trace_on_another_thread_during_a_first_call_keeps_both_results_right():
    # Thread B traces (and returns) the same entry while thread A is inside its first
    # trace: each trace records a different static output, so A's first call must not
    # settle the entry on the hot path when it returns.
    done = []

    def f(x):
        if x.shape == (1,) and not done:
            done.append(None)
            other = threading.Thread(target=lambda: done.append(wrapped(jnp.ones(2))))
            other.start()
            other.join()
        return x * 2, x.shape[0]

    wrapped = filter_jit(f)
    out, size = wrapped(jnp.ones(1))
    assert size == 1
    _, (other_out, other_size) = done
    assert other_size == 2
    np.testing.assert_array_equal(other_out, np.full(2, 2.0))
    for n in (1, 2, 1, 2):
        out, size = wrapped(jnp.ones(n))
        assert size == n
        np.testing.assert_array_equal(out, np.full(n, 2.0))


def test_a_failing_checked_call_is_translated_and_raised_from_none(monkeypatch):
    seen = []

    def translate(error):
        seen.append(error)
        return EqxRuntimeError("translated message")

    monkeypatch.setattr(_runtime_error, "translate_runtime_error", translate)
    with pytest.raises(EqxRuntimeError, match="translated message") as info:
        filter_jit(_checked)(jnp.ones(2))
    assert info.value.__cause__ is None
    assert info.value.__suppress_context__
    assert seen
    assert "boom from callback" in str(seen[0])


def test_an_untranslated_error_is_re_raised_unchanged(monkeypatch):
    monkeypatch.setattr(_runtime_error, "translate_runtime_error", lambda error: None)
    with pytest.raises(Exception, match="boom from callback") as info:
        filter_jit(_checked)(jnp.ones(2))
    assert not isinstance(info.value, EqxRuntimeError)


def test_an_error_after_successful_calls_is_still_translated(monkeypatch):
    monkeypatch.setattr(
        _runtime_error, "translate_runtime_error", lambda error: EqxRuntimeError("late")
    )

    def maybe_fail(x):
        if np.any(np.asarray(x) < 0):
            raise RuntimeError("negative")
        return np.asarray(x)

    def f(x):
        note_check_staged()
        return jax.pure_callback(maybe_fail, jax.ShapeDtypeStruct(x.shape, x.dtype), x)

    wrapped = filter_jit(f)
    np.testing.assert_array_equal(wrapped(jnp.ones(2)), jnp.ones(2))
    with pytest.raises(EqxRuntimeError, match="late"):
        wrapped(-jnp.ones(2))


def test_jax_callback_failure_log_is_filtered_during_a_checked_call(monkeypatch, caplog):
    monkeypatch.setattr(
        _runtime_error, "translate_runtime_error", lambda error: EqxRuntimeError("quiet")
    )
    with caplog.at_level(logging.ERROR), pytest.raises(EqxRuntimeError):
        filter_jit(_checked)(jnp.ones(2))
    assert not [r for r in caplog.records if "callback failed" in r.getMessage()]


# --- threads ---------------------------------------------------------------------------


def test_many_threads_with_different_static_arguments_get_correct_results():
    wrapped = filter_jit(lambda x, n: x * n)
    errors = []
    results = {}

    def work(n):
        try:
            for _ in range(5):
                results.setdefault(n, []).append(float(wrapped(jnp.array(1.0), n)))
        except Exception as e:  # pragma: no cover - reported below
            errors.append(e)

    threads = [threading.Thread(target=work, args=(n % 4,)) for n in range(12)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors
    for n, values in results.items():
        assert values == [float(n)] * len(values)


def test_threads_starting_together_on_a_fresh_function_each_get_their_own_static_value():
    calls = []

    def f(model, x, n):
        calls.append(n)
        return model(x) * n

    wrapped = filter_jit(f)
    n_threads = 16
    barrier = threading.Barrier(n_threads)
    results = {}
    errors = []

    def work(i):
        try:
            barrier.wait()
            for k in range(4):
                n = (i + k) % 6
                results[(i, k)] = (n, float(wrapped(Box(float(i)), jnp.array(1.0), n)))
        except Exception as e:  # pragma: no cover - reported below
            errors.append(e)

    threads = [threading.Thread(target=work, args=(i,)) for i in range(n_threads)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors
    assert len(results) == n_threads * 4
    for (i, _), (n, value) in results.items():
        assert value == float(i * n)
    # one trace per distinct (Box value, n) static combination, at most
    assert len(calls) <= len({(i, n) for (i, _), (n, _) in results.items()}) * 2


def test_random_mixes_of_array_and_static_arguments_match_eager_calls():
    # Exercises plans, entries, the hot path's last-plan slot and keyword binding together:
    # every call must trace exactly its array arguments and return what `f` returns.
    traced = []

    def f(a, b, c=0):
        traced.append(tuple(isinstance(v, jax.core.Tracer) for v in (a, b, c)))
        return (a if isinstance(a, str) else a * 2), b, c

    wrapped = filter_jit(f)
    makers = [
        lambda: jnp.ones(2),
        lambda: jnp.ones(3, jnp.int32),
        lambda: jnp.asarray(1.0),  # weakly typed
        lambda: np.ones(2, np.float32),
        lambda: 1,
        lambda: 1.0,
        lambda: True,
        lambda: "s",
    ]
    rng = random.Random(0)
    for _ in range(100):
        values = [rng.choice(makers)() for _ in range(3)]
        is_array = tuple(isinstance(v, (jax.Array, np.ndarray)) for v in values)
        traced.clear()
        style = rng.randrange(3)
        if style == 0:
            out = wrapped(*values)
        elif style == 1:
            out = wrapped(values[0], values[1], c=values[2])
        else:
            out = wrapped(a=values[0], b=values[1], c=values[2])
        assert all(seen == is_array for seen in traced)
        traced.clear()
        for got, expected in zip(out, f(*values), strict=True):
            if isinstance(expected, (jax.Array, np.ndarray)):
                assert isinstance(got, jax.Array)
                assert got.dtype == jnp.asarray(expected).dtype
                np.testing.assert_array_equal(got, expected)
            else:
                assert type(got) is type(expected)
                assert got == expected


# --- the hot path's structure check ------------------------------------------------------


class _Pair(Module):
    a: object
    b: object


class _OtherPair(Module):
    a: object
    b: object


class _Tagged(Module):
    a: object
    tag: str = field(static=True)


class _NT(NamedTuple):
    a: object
    b: object


_ONE = jnp.ones(2)


@pytest.mark.parametrize(
    ("first", "second"),
    [
        ((_ONE, _ONE), [_ONE, _ONE]),
        ({"a": _ONE, "b": _ONE}, {"a": _ONE, "c": _ONE}),
        ({"a": _ONE}, collections.OrderedDict(a=_ONE)),
        (_Pair(_ONE, _ONE), _OtherPair(_ONE, _ONE)),
        (_NT(_ONE, _ONE), (_ONE, _ONE)),
        (_Tagged(_ONE, "x"), _Tagged(_ONE, "y")),
        (_ONE, (_ONE,)),  # a subtree where the plan has a leaf
        ((_ONE, None), (_ONE, _ONE)),
        ((_ONE, _ONE), (_ONE, 1.0)),  # same structure, a Python scalar for an array
    ],
)
def test_alternating_structures_each_get_their_own_trace(first, second):
    # The hot path checks a call against the plan used last without a full flatten; it
    # must tell apart every pair of structures that share leaf types.
    traces = []

    def f(tree, x):
        traces.append(jax.tree_util.tree_structure(tree))
        return jax.tree_util.tree_map(lambda leaf: leaf, tree), x * 2

    wrapped = filter_jit(f)
    for tree in (first, second, first, second, first, second):
        out, doubled = wrapped(tree, jnp.ones(3))
        assert jax.tree_util.tree_structure(out) == jax.tree_util.tree_structure(tree)
        assert type(out) is type(tree)
        np.testing.assert_array_equal(doubled, 2 * np.ones(3))
    assert traces == [
        jax.tree_util.tree_structure(first),
        jax.tree_util.tree_structure(second),
    ]


def test_a_type_registered_as_a_node_after_a_call_is_flattened_from_then_on():
    class Later:
        def __init__(self, v):
            self.v = v

        def __eq__(self, other):
            return type(other) is Later and other.v == self.v

        def __hash__(self):
            return hash(self.v)

    seen = []

    def f(x, t):
        seen.append(isinstance(t.v, jax.core.Tracer))
        return x + t.v

    wrapped = filter_jit(f)
    for _ in range(3):  # static leaf: one trace, then hot-path hits
        np.testing.assert_array_equal(wrapped(jnp.ones(2), Later(1)), 2 * np.ones(2))
    assert seen == [False]
    jax.tree_util.register_pytree_node(Later, lambda t: ((t.v,), None), lambda _, c: Later(*c))
    # Now a node: its child is a (static) leaf of a new structure, so a new trace...
    np.testing.assert_array_equal(wrapped(jnp.ones(2), Later(1)), 2 * np.ones(2))
    assert seen == [False, False]
    # ...and an array child is traced, not hashed.
    np.testing.assert_array_equal(wrapped(jnp.ones(2), Later(jnp.ones(2))), 2 * np.ones(2))
    assert seen == [False, False, True]
    np.testing.assert_array_equal(wrapped(jnp.ones(2), Later(jnp.zeros(2))), np.ones(2))
    assert seen == [False, False, True]


def test_the_fast_structure_check_backs_off_after_a_mismatch_and_comes_back():
    traces = []

    def f(tree):
        traces.append(type(tree))
        return jax.tree_util.tree_leaves(tree)[0] + 1

    wrapped = filter_jit(f)
    a, b = (jnp.ones(2),), [jnp.ones(2)]
    wrapped(a)
    wrapped(a)
    cache = wrapped._jit_hot[1]
    plan_a = cache.last
    assert plan_a.up_to
    wrapped(b)  # the check of `plan_a` fails: it stops using it
    wrapped(b)  # (the first call made `plan_b`, this one makes it the last used)
    plan_b = cache.last
    assert plan_b is not plan_a
    assert not plan_a.up_to
    wrapped(a)  # the check of `plan_b` fails
    assert not plan_b.up_to
    assert cache.last is plan_a
    first_wait = 0
    while not plan_a.up_to:  # calls in a row found by a full flatten bring it back
        np.testing.assert_array_equal(wrapped(a), 2 * np.ones(2))
        first_wait += 1
        assert first_wait < 10_000
    for _ in range(3):
        np.testing.assert_array_equal(wrapped(a), 2 * np.ones(2))
    assert plan_a.up_to
    assert cache.last is plan_a
    # A second failure of the same plan makes it wait longer before it tries again.
    wrapped(b)
    wrapped(a)
    assert not plan_a.up_to
    second_wait = 0
    while not plan_a.up_to:
        np.testing.assert_array_equal(wrapped(a), 2 * np.ones(2))
        second_wait += 1
        assert second_wait < 10_000
    assert second_wait > first_wait
    assert traces == [tuple, list]


@pytest.mark.parametrize("n_static", [1, 3, 8, 9, 12])
def test_outputs_with_static_leaves_anywhere_come_back_in_place(n_static):
    # Few static output leaves are inserted among the arrays, many are merged into a
    # skeleton: both must give the output `f` returns, leaf for leaf.
    def f(x):
        out = []
        for i in range(n_static + 4):
            out.append(f"s{i}" if i % 2 == 0 or i >= 8 else x * i)
        return ("first", out, x, "last")

    wrapped = filter_jit(f)
    for _ in range(2):  # the first call traces, the second takes the hot path
        got = wrapped(jnp.ones(2))
        expected = f(jnp.ones(2))
        assert jax.tree_util.tree_structure(got) == jax.tree_util.tree_structure(expected)
        for a, b in zip(
            jax.tree_util.tree_leaves(got), jax.tree_util.tree_leaves(expected), strict=True
        ):
            if isinstance(b, jax.Array):
                np.testing.assert_array_equal(a, b)
            else:
                assert a == b


def test_threads_alternating_structures_on_one_function_get_correct_results():
    # Every thread flips between two structures with the same leaf types, so the
    # shared last-plan slot and the `flatten_up_to` back-off are hit concurrently.
    def f(tree, n):
        return jax.tree_util.tree_leaves(tree)[0] * n, type(tree).__name__

    wrapped = filter_jit(f)
    trees = [(jnp.ones(2), jnp.ones(2)), [jnp.ones(2), jnp.ones(2)]]
    errors = []
    barrier = threading.Barrier(8)

    def work(i):
        try:
            barrier.wait()
            for k in range(40):
                tree = trees[(i + k) % 2]
                out, name = wrapped(tree, i % 3)
                assert name == type(tree).__name__
                np.testing.assert_array_equal(out, np.full(2, float(i % 3)))
        except Exception as e:  # pragma: no cover - reported below
            errors.append(e)

    threads = [threading.Thread(target=work, args=(i,)) for i in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors
