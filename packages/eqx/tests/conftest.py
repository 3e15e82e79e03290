"""Fixtures shared by the eqx meta-package tests."""

import types
from collections.abc import Callable

import pytest


def _public_names(module: types.ModuleType) -> set[str]:
    """Names without a leading underscore, less the `jaxtyping` module that jaxtyping's
    import hook adds to every module it instruments."""
    return {
        name
        for name in dir(module)
        if not name.startswith("_")
        and not (name == "jaxtyping" and isinstance(getattr(module, name), types.ModuleType))
    }


@pytest.fixture
def public_names() -> Callable[[types.ModuleType], set[str]]:
    return _public_names
