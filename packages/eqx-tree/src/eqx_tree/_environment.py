"""Reading eqx's environment variables: one of a few valid values, or a clear error.

Shared by every eqx package (`EQX_ON_ERROR`, `EQX_CHECK_FINITE`, `EQX_CHECK_ALIASING`);
not part of the public API.
"""

from __future__ import annotations

import os

__all__ = ["read_choice"]


def read_choice(name: str, valid: tuple[str, ...], default: str, meaning: str = "") -> str:
    """The value of the environment variable `name` (`default` when unset).

    Raises `ValueError` listing the valid values for any other value; `meaning` (e.g.
    `" (0 turns the check off)"`) is inserted after that list.

    ```python
    read_choice("EQX_CHECK_ALIASING", ("0", "1"), "0")
    ```
    """
    value = os.environ.get(name, default)
    if value not in valid:
        raise ValueError(
            f"Unrecognised value {name}={value!r}: the environment variable `{name}` must "
            f"be one of {', '.join(valid)}{meaning}. Unset it or fix it."
        )
    return value
