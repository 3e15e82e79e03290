"""The opt-in aliasing check at construction: `check_aliasing=True` / `EQX_CHECK_ALIASING`."""

import os
import subprocess
import sys
import textwrap
import warnings
from typing import Any

import jax.numpy as jnp
import pytest

from eqx_module import Module
from eqx_module._class_info import ClassInfo
from eqx_tree import EqxAliasingWarning, EqxWarning


class Leaf(Module):
    weight: Any


class Pair(Module, check_aliasing=True):
    a: Any
    b: Any


class Unchecked(Module):
    a: Any
    b: Any


def test_a_submodule_in_two_fields_warns_naming_both_paths() -> None:
    leaf = Leaf(jnp.ones(2))
    with pytest.warns(EqxAliasingWarning) as record:
        Pair(leaf, leaf)
    assert len(record) == 1
    message = str(record[0].message)
    assert "`Pair` stores 1 object(s) twice" in message
    assert "A Leaf appears in the PyTree multiple times, at .a and at .b" in message
    assert "eqx.nn.Shared" in message
    assert record[0].filename == __file__  # attributed to the constructing line


def test_the_same_array_twice_in_a_list_warns_naming_both_indices() -> None:
    w = jnp.zeros(3)
    with pytest.warns(EqxAliasingWarning, match=r"array float32\[3\].*at \.a\[0\] and at \.a\[1\]"):
        Pair([w, w], None)


def test_every_repeat_is_listed() -> None:
    w = jnp.zeros(3)
    leaf = Leaf(jnp.ones(1))
    with pytest.warns(EqxAliasingWarning) as record:
        Pair((w, leaf), (w, leaf))
    message = str(record[0].message)
    assert "stores 2 object(s) twice" in message
    assert "at .a[0] and at .b[0]" in message
    assert "at .a[1] and at .b[1]" in message


def test_distinct_arrays_and_non_array_repeats_do_not_warn() -> None:
    axes = (0, None)  # one tuple of Python values in two fields: nothing to untie
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        Pair(Leaf(jnp.ones(2)), Leaf(jnp.ones(2)))
        Pair([1.0, 1.0], ["relu", "relu"])
        Pair(axes, axes)


def test_the_aliasing_warning_is_an_eqx_warning() -> None:
    assert issubclass(EqxAliasingWarning, EqxWarning)


def test_subclasses_inherit_the_choice_and_may_opt_out() -> None:
    class Child(Pair):
        pass

    class OptOut(Pair, check_aliasing=False):
        pass

    leaf = Leaf(jnp.ones(2))
    with pytest.warns(EqxAliasingWarning, match="`.*Child` stores 1"):
        Child(leaf, leaf)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        OptOut(leaf, leaf)
        Unchecked(leaf, leaf)


def test_a_custom_init_and_check_init_run_before_the_check() -> None:
    calls: list[str] = []

    class Custom(Module, check_aliasing=True):
        a: Any
        b: Any

        def __init__(self, x: Any) -> None:
            self.a = x
            self.b = x

        def __check_init__(self) -> None:
            calls.append("check_init")

    with pytest.warns(EqxAliasingWarning, match="at .a and at .b"):
        Custom(jnp.ones(1))
    assert calls == ["check_init"]


@pytest.mark.usefixtures("not_under_import_hook")
def test_a_bad_keyword_value_is_a_type_error() -> None:
    with pytest.raises(TypeError, match=r"`check_aliasing` of `.*Bad` must be True or False"):

        class Bad(Module, check_aliasing="yes"):  # type: ignore[arg-type]
            pass


def test_the_default_construction_runs_no_aliasing_step() -> None:
    # Without the keyword a plain class keeps the no-post-init-steps fast path.
    info: ClassInfo = Unchecked._eqx_class_info  # type: ignore[attr-defined]
    assert info.check_inits == ()
    assert info.needs_post_init_steps is False


def _run(code: str, value: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "EQX_CHECK_ALIASING": value}
    return subprocess.run(
        [sys.executable, "-c", textwrap.dedent(code)],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )


def test_the_environment_variable_checks_every_class() -> None:
    code = """
        import warnings
        import jax.numpy as jnp
        from eqx_module import Module
        from eqx_tree import EqxAliasingWarning

        class M(Module):
            a: object
            b: object

        class Quiet(Module, check_aliasing=False):
            a: object
            b: object

        w = jnp.ones(2)
        with warnings.catch_warnings(record=True) as record:
            warnings.simplefilter("always")
            M(w, w)
            Quiet(w, w)
        print([type(r.message).__name__ for r in record], str(record[0].message))
    """
    result = _run(code, "1")
    assert result.returncode == 0, result.stderr
    assert "['EqxAliasingWarning']" in result.stdout
    assert "at .a and at .b" in result.stdout


def test_an_unknown_environment_value_lists_the_valid_ones() -> None:
    result = _run("import eqx_module", "yes")
    assert result.returncode != 0
    assert "ValueError: Unrecognised value EQX_CHECK_ALIASING='yes'" in result.stderr
    assert "must be one of 0, 1" in result.stderr
