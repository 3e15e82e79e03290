"""The warning classes every eqx package emits.

All eqx warnings are `EqxWarning`s, so one filter silences (or escalates) them all::

    warnings.filterwarnings("error", category=eqx_tree.EqxWarning)

`EqxDeprecationWarning` is deliberately a `UserWarning` (through `EqxWarning`), not a
`DeprecationWarning`, so that Python shows it by default, outside `__main__` too.
"""

import sys
import warnings
from types import FrameType

__all__ = ["EqxAliasingWarning", "EqxDeprecationWarning", "EqxWarning", "warn_at_user_code"]


class EqxWarning(UserWarning):
    """A warning emitted by eqx."""


class EqxDeprecationWarning(EqxWarning):
    """An eqx API that still works but will be removed; the message says what to use instead."""


class EqxAliasingWarning(EqxWarning):
    """One array or sub-tree is stored in two places of a model, so a transform unties it.

    Emitted only by the opt-in aliasing checks (the `check_aliasing=True` Module class
    keyword, `EQX_CHECK_ALIASING=1`, `filter_jit(check_aliasing=True)`); the message
    names both paths.
    """


# Top-level modules whose frames are never "the user's line": the eqx packages, JAX, the
# type-checking wrappers that jaxtyping's import hook puts around every eqx function
# (so warnings still reach the user's line under it), and the standard-library plumbing
# that sits between them.
_LIBRARY_TOPS = frozenset(
    {
        "eqx",
        "eqx_tree",
        "eqx_module",
        "eqx_filter",
        "eqx_nn",
        "jax",
        "jaxlib",
        "jaxtyping",
        "beartype",
        "typeguard",
        "abc",
        "contextlib",
        "dataclasses",
        "functools",
        "typing",
    }
)


def _is_library_frame(frame: FrameType) -> bool:
    code = frame.f_code
    if code.co_filename.startswith("<") and code.co_name.startswith("__"):
        return True  # generated code: a dataclass `__init__`, a beartype wrapper
    module = frame.f_globals.get("__name__")
    return isinstance(module, str) and module.partition(".")[0] in _LIBRARY_TOPS


def warn_at_user_code(message: str, category: type[Warning] = EqxWarning) -> None:
    """`warnings.warn`, attributed to the first calling frame outside eqx.

    A fixed `stacklevel` is only right for one call path: a subclass's
    `super().__init__`, a JAX transformation, or jaxtyping's import hook (which wraps
    every eqx function in a type-checking frame) each add frames in between. This walks
    up past eqx, JAX and the type-checking wrappers to the user's line instead.

    Shared by every eqx package (imported as `eqx_tree.internal.warn_at_user_code`);
    not part of the public API.

    ```python
    warn_at_user_code("`static_field` is deprecated; ...", EqxDeprecationWarning)
    ```
    """
    frame = sys._getframe(1)
    level = 2  # `frame` is our caller: stacklevel 2 from here
    while frame.f_back is not None and _is_library_frame(frame):
        frame = frame.f_back
        level += 1
    warnings.warn(message, category, stacklevel=level)


def user_frame() -> FrameType:
    """The first calling frame outside eqx, JAX and type-checking wrappers.

    For a warning issued later (say from a callback of a compiled program) but
    attributed to the user's line that set it up, with `warnings.warn_explicit`.
    """
    frame = sys._getframe(1)
    while frame.f_back is not None and _is_library_frame(frame):
        frame = frame.f_back
    return frame
