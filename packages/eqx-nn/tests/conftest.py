"""Fixtures shared by the eqx-nn tests."""

import types

import pytest

import eqx_nn._batch_norm


@pytest.fixture
def not_under_import_hook() -> None:
    """Skip a test of an error that jaxtyping's import hook pre-empts.

    The hook instruments a module by adding `import jaxtyping` to it and checks every
    annotated argument, so a call our own check would reject with a clearer message is
    rejected first with the hook's `TypeCheckError`.
    """
    if isinstance(getattr(eqx_nn._batch_norm, "jaxtyping", None), types.ModuleType):
        pytest.skip("under jaxtyping's import hook the argument's annotation rejects it first")
