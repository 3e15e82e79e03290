"""Test configuration shared by every package's tests (pytest's rootdir conftest).

- Two simulated CPU devices (unless `XLA_FLAGS` already says otherwise, as the
  `multidevice` nox session does with eight), so sharding and pmap code paths run in
  the default suite too. This must happen before JAX initialises its backend.
- The strict promotion flags catch sloppy dtype or rank promotion inside the library:
  a layer that silently upcasts float16 to float32, or broadcasts a (3,) against a
  (3, 1), fails its own tests instead of a user's training run.
"""

import importlib
import os
import types

if "xla_force_host_platform_device_count" not in os.environ.get("XLA_FLAGS", ""):
    os.environ["XLA_FLAGS"] = (
        os.environ.get("XLA_FLAGS", "") + " --xla_force_host_platform_device_count=2"
    ).strip()

import jax

jax.config.update("jax_numpy_rank_promotion", "raise")
jax.config.update("jax_numpy_dtype_promotion", "strict")

import pytest  # noqa: E402


@pytest.fixture(autouse=True, scope="session")
def _expected_backend() -> None:
    """Under `EQX_EXPECT_BACKEND=gpu` (the nox `gpu` session), refuse to test on the CPU."""
    expected = os.environ.get("EQX_EXPECT_BACKEND")
    if expected is not None:
        actual = jax.default_backend()
        assert actual == expected, f"tests expected the {expected} backend, JAX is on {actual}"


@pytest.fixture
def not_under_import_hook() -> None:
    """Skip a test of an error message that jaxtyping's import hook pre-empts.

    The hook (the `typechecked` nox session) instruments each eqx module by adding
    `import jaxtyping` to it and checks every annotated argument, so a bad argument our
    own check would reject with a clearer message is rejected first with the hook's
    `TypeCheckError`. The module is imported here, lazily: importing eqx before the hook
    is installed would leave it uninstrumented.
    """
    module = importlib.import_module("eqx_tree._at")
    if isinstance(getattr(module, "jaxtyping", None), types.ModuleType):
        pytest.skip("under jaxtyping's import hook the argument's annotation rejects it first")
