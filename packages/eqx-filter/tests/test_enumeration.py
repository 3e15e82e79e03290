"""`Enumeration`."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import eqx_filter as ef
from eqx_filter._enumeration import EnumerationItem
from eqx_module import Module
from eqx_tree import EqxWarning


class Result(ef.Enumeration):
    """How a solve ended."""

    ok = "Success"
    bad = "Diverged"


class MoreResult(Result):
    slow = "Too slow"


class Other(ef.Enumeration):
    ok = "Success"


def test_items_are_modules_with_an_int32_leaf_numbered_in_definition_order() -> None:
    assert isinstance(Result.ok, EnumerationItem) and isinstance(Result.ok, Module)
    leaves = jax.tree_util.tree_leaves(Result.bad)
    assert len(leaves) == 1 and leaves[0].dtype == jnp.int32 and int(leaves[0]) == 1


def test_subclass_numbers_parent_entries_first() -> None:
    values = [
        int(jax.tree_util.tree_leaves(getattr(MoreResult, n))[0]) for n in ("ok", "bad", "slow")
    ]
    assert values == [0, 1, 2]
    assert len(MoreResult) == 3 and len(Result) == 2


def test_getitem_gives_the_message() -> None:
    assert Result[Result.bad] == "Diverged"
    assert MoreResult[MoreResult.slow] == "Too slow"


def test_getitem_of_traced_item_is_traced_and_of_batched_item_is_vectorised() -> None:
    seen = []

    @jax.jit
    def f(item: EnumerationItem) -> EnumerationItem:
        seen.append(Result[item])
        return item

    f(Result.ok)
    assert seen == ["traced"]
    batched = jax.vmap(lambda p: Result.where(p, Result.ok, Result.bad))(jnp.array([True, False]))
    np.testing.assert_array_equal(Result[batched], np.array(["Success", "Diverged"]))


def test_isinstance_tests_membership_of_exactly_this_enumeration() -> None:
    assert isinstance(Result.ok, Result)
    assert not isinstance(0, Result)
    assert not isinstance(Other.ok, Result)
    assert not isinstance(MoreResult.ok, Result)


def test_repr_is_module_qualname_and_message() -> None:
    assert repr(Result.bad) == f"{__name__}.Result<Diverged>"


def test_is_traced() -> None:
    assert not Result.ok.is_traced()
    assert jax.jit(lambda item: jnp.array(item.is_traced()))(Result.ok)


def test_items_pass_through_jit() -> None:
    out = jax.jit(lambda p: Result.where(p, Result.ok, Result.bad))(True)
    assert isinstance(out, Result) and Result[out] == "Success"


def test_equality_between_items_of_the_same_enumeration_is_a_jax_bool() -> None:
    same = Result.ok == Result.ok
    differ = Result.ok != Result.bad
    for value in (same, differ):
        assert isinstance(value, jax.Array) and value.shape == () and value.dtype == jnp.bool_
        assert bool(value)
    assert not bool(Result.ok == Result.bad)


@pytest.mark.parametrize("other", [0, "ok", Other.ok, MoreResult.ok])
def test_comparison_with_anything_else_raises(other: object) -> None:
    with pytest.raises(
        ValueError, match="Can only compare equality between enumerations of the same type"
    ):
        Result.ok == other  # noqa: B015
    with pytest.raises(
        ValueError, match="Can only compare equality between enumerations of the same type"
    ):
        Result.ok != other  # noqa: B015


def test_where_selects_and_returns_a_when_a_is_b() -> None:
    assert Result.where(jnp.array(False), Result.ok, Result.bad) == Result.bad
    assert Result.where(jnp.array(True), Result.ok, Result.ok) is Result.ok


def test_where_rejects_non_scalar_or_non_bool_pred_and_foreign_items() -> None:
    with pytest.raises(ValueError, match="scalar bool"):
        Result.where(jnp.array([True, False]), Result.ok, Result.bad)
    with pytest.raises(ValueError, match="scalar bool"):
        Result.where(jnp.int32(1), Result.ok, Result.bad)
    with pytest.raises(ValueError, match="`b` must be an item of Result"):
        Result.where(True, Result.ok, MoreResult.bad)


def test_promote_maps_a_parent_item_to_the_same_name() -> None:
    promoted = MoreResult.promote(Result.bad)
    assert isinstance(promoted, MoreResult) and MoreResult[promoted] == "Diverged"
    traced = jax.jit(MoreResult.promote)(Result.bad)
    assert MoreResult[traced] == "Diverged"


@pytest.mark.parametrize("item", [MoreResult.ok, Other.ok, 1])
def test_promote_rejects_anything_but_a_strict_ancestor_item(item: object) -> None:
    with pytest.raises(ValueError, match="parent enumeration"):
        MoreResult.promote(item)


def test_error_if_on_an_item_raises_its_message() -> None:
    @ef.filter_jit
    def f(x: jax.Array) -> jax.Array:
        result = Result.where(x > 0, Result.bad, Result.ok)
        out: jax.Array = result.error_if(x, result != Result.ok)
        return out

    assert float(f(jnp.float32(-1.0))) == -1.0
    with pytest.raises(ef.EqxRuntimeError, match=r"eqx\.EqxRuntimeError: Diverged") as info:
        f(jnp.float32(1.0))
    stack = str(info.value).split("eqx.EqxRuntimeError:")[0]
    assert "out: jax.Array = result.error_if(x, result != Result.ok)" in stack
    assert "eqx_module" not in stack and "eqx_filter" not in stack


def test_class_docstring_lists_the_entries() -> None:
    doc = MoreResult.__doc__ or ""
    assert "ok" in doc and "Success" in doc and "slow" in doc and "Too slow" in doc
    assert (Result.__doc__ or "").startswith("How a solve ended.")


def test_multiple_bases_take_the_union_of_entries() -> None:
    class A(ef.Enumeration):
        a = "A"

    class B(ef.Enumeration):
        b = "B"

    class C(A, B):
        c = "C"

    assert len(C) == 3
    assert [C[getattr(C, n)] for n in "abc"] == ["A", "B", "C"]


def test_multiple_bases_number_parent_entries_first_in_base_order() -> None:
    class Base(ef.Enumeration):
        a = "A"

    class Left(Base):
        b = "B"

    class Right(Base):
        c = "C"

    class Both(Left, Right):
        d = "D"

    assert [Both[item] for item in Both] == ["A", "B", "C", "D"]
    values = [int(jax.tree_util.tree_leaves(getattr(Both, n))[0]) for n in "abcd"]
    assert values == [0, 1, 2, 3]
    assert Both[Both.promote(Right.c)] == "C" and Both[Both.promote(Left.b)] == "B"


def test_item_error_if_with_a_false_predicate_returns_the_token() -> None:
    @ef.filter_jit
    def f(item: EnumerationItem, x: jax.Array) -> jax.Array:
        out: jax.Array = item.error_if(x, item != Result.ok)
        return out

    np.testing.assert_array_equal(f(Result.ok, jnp.arange(2.0)), np.arange(2.0))
    with pytest.raises(ef.EqxRuntimeError, match="Diverged"):
        f(Result.bad, jnp.arange(2.0))


def test_non_enumeration_base_is_rejected() -> None:
    with pytest.raises(ValueError, match="int"):

        class Bad(ef.Enumeration, int):  # type: ignore[misc]
            a = "A"


@pytest.mark.parametrize("name", ["promote", "where"])
def test_entries_named_promote_or_where_are_rejected(name: str) -> None:
    with pytest.raises(ValueError, match=name):
        type(ef.Enumeration)("Bad", (ef.Enumeration,), {name: "message"})


def test_redefining_an_entry_with_a_new_message_warns_and_the_latest_wins() -> None:
    with pytest.warns(EqxWarning, match="'ok'"):

        class Again(Result):
            ok = "Fine"

    assert Again[Again.ok] == "Fine" and len(Again) == 2


def test_getitem_rejects_non_items_and_foreign_items() -> None:
    for bad in (0, Other.ok, MoreResult.ok):
        with pytest.raises(ValueError, match="needs an item of Result"):
            Result[bad]


def test_missing_entry_is_an_attribute_error() -> None:
    with pytest.raises(AttributeError, match="missing"):
        Result.missing


def test_where_with_a_concrete_predicate_stages_nothing_even_inside_jit() -> None:
    seen = []

    @jax.jit
    def run(x: jax.Array) -> jax.Array:
        picked = Result.where(True, Result.ok, Result.bad)
        other = Result.where(np.array(False), Result.ok, Result.bad)
        # Both are known while tracing: Python control flow on them works.
        seen.append((picked.is_traced(), other.is_traced(), picked is Result.ok))
        if picked == Result.ok and other != Result.ok:
            return x + 1
        return x - 1

    assert float(run(jnp.array(1.0))) == 2.0
    assert seen == [(False, False, True)]
    # Concrete comparisons equal the Python bools they stand for.
    assert (Result.where(True, Result.ok, Result.bad) == Result.ok) == True  # noqa: E712
    assert (Result.where(False, Result.ok, Result.bad) == Result.ok) == False  # noqa: E712
    with jax.ensure_compile_time_eval():
        assert Result.where(False, Result.ok, Result.bad) is Result.bad


def test_where_returns_a_itself_when_both_branches_are_the_same_item() -> None:
    rebuilt = jax.tree_util.tree_map(lambda v: np.array(v), Result.bad)
    assert rebuilt is not Result.bad
    pred = jnp.array(True)
    assert Result.where(pred, Result.bad, rebuilt) is Result.bad

    @jax.jit
    def run(p: jax.Array, item: EnumerationItem) -> EnumerationItem:
        # The same tracer on both sides is the same item too.
        return Result.where(p, item, item)

    assert Result[run(jnp.array(False), Result.bad)] == "Diverged"
    # A traced predicate between different items is still a `jnp.where`.
    out = jax.jit(lambda p: Result.where(p, Result.ok, Result.bad))(jnp.array(False))
    assert Result[out] == "Diverged"
