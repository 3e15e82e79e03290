"""`EqxWarning`, `EqxDeprecationWarning` and `warn_at_user_code`."""

import functools
import warnings

import pytest

import eqx_tree
from eqx_tree.internal import warn_at_user_code


def test_deprecation_warning_is_an_eqx_warning_and_a_user_warning() -> None:
    assert issubclass(eqx_tree.EqxDeprecationWarning, eqx_tree.EqxWarning)
    assert issubclass(eqx_tree.EqxWarning, UserWarning)
    assert not issubclass(eqx_tree.EqxDeprecationWarning, DeprecationWarning)


def test_warning_is_attributed_to_the_calling_line() -> None:
    with pytest.warns(eqx_tree.EqxWarning, match="careful") as record:
        warn_at_user_code("careful")
    assert record[0].filename == __file__


def test_frames_of_eqx_packages_and_type_checking_wrappers_are_skipped() -> None:
    # A library function calling the helper through a decorator defined in eqx_tree's
    # namespace: the warning still lands on this file, not on either library frame.
    namespace = {"__name__": "eqx_tree._fake", "warn_at_user_code": warn_at_user_code}
    exec(
        "def inner():\n    warn_at_user_code('deep', DeprecationWarning)\n"
        "def outer():\n    inner()\n",
        namespace,
    )
    wrapped = functools.wraps(namespace["outer"])(lambda: namespace["outer"]())
    with warnings.catch_warnings(record=True) as record:
        warnings.simplefilter("always")
        wrapped()  # the lambda's frame is this test module: the user's line
    assert [w.category for w in record] == [DeprecationWarning]
    assert record[0].filename == __file__
