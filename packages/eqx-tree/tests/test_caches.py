import pytest

from eqx_tree import (
    EqxDeprecationWarning,
    EqxWarning,
    _caches,
    clear_caches,
    register_cache_clearer,
)


@pytest.fixture
def isolated_registry(monkeypatch):
    monkeypatch.setattr(_caches, "_clearers", [])


def test_registered_clearers_run_in_order(isolated_registry):
    calls = []
    register_cache_clearer(lambda: calls.append(1))

    @register_cache_clearer
    def second():
        calls.append(2)

    clear_caches()
    assert calls == [1, 2]


def test_registering_twice_runs_once(isolated_registry):
    calls = []

    def clearer():
        calls.append(1)

    assert register_cache_clearer(clearer) is clearer
    register_cache_clearer(clearer)
    clear_caches()
    assert calls == [1]


def test_all_clearers_run_and_the_first_error_is_reraised(isolated_registry):
    calls = []

    def bad_one():
        raise KeyError("first")

    def bad_two():
        raise ValueError("second")

    register_cache_clearer(bad_one)
    register_cache_clearer(bad_two)
    register_cache_clearer(lambda: calls.append("ran"))
    with pytest.raises(KeyError, match="first"):
        clear_caches()
    assert calls == ["ran"]


def test_warning_classes_are_user_warnings():
    assert issubclass(EqxWarning, UserWarning)
    assert issubclass(EqxDeprecationWarning, EqxWarning)
    assert not issubclass(EqxDeprecationWarning, DeprecationWarning)
