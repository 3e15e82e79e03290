"""The opt-in aliasing check at Module construction.

A Module that stores one array or sub-module in two fields looks tied, but every JAX
transformation unties it (flatten, then unflatten, makes two copies). A class opts in
with the class keyword `check_aliasing=True`, or every class with the environment
variable `EQX_CHECK_ALIASING=1` (read once, at import). Then, after its `__init__`
and `__check_init__`s, each new instance is searched by identity and an
`EqxAliasingWarning` names both paths of every repeat.

The check is one more entry in the class's tuple of post-`__init__` checks, chosen when
the class is created: a class without it runs exactly the construction it ran before.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from eqx_tree import EqxAliasingWarning
from eqx_tree.internal import find_aliases, read_choice, warn_at_user_code

__all__ = ["EQX_CHECK_ALIASING", "aliasing_checks"]

EQX_CHECK_ALIASING: bool = (
    read_choice(
        "EQX_CHECK_ALIASING",
        ("0", "1"),
        "0",
        " (1 checks every Module construction for arrays or sub-modules stored twice)",
    )
    == "1"
)

# The class attribute recording a class's own choice, so that subclasses inherit it.
_ATTRIBUTE = "_eqx_check_aliasing"


def warn_if_aliased(module: Any) -> None:
    """Warn `EqxAliasingWarning` for each array or sub-tree `module` stores twice."""
    aliases = find_aliases(module, arrays=True)
    if aliases:
        reports = "\n".join(f"- {alias.describe()}" for alias in aliases)
        warn_at_user_code(
            f"`{type(module).__qualname__}` stores {len(aliases)} object(s) twice:\n{reports}",
            EqxAliasingWarning,
        )


def aliasing_checks(cls: type, check_aliasing: bool | None) -> tuple[Callable[[Any], None], ...]:
    """The post-`__init__` checks the class keyword `check_aliasing` adds to `cls`.

    `None` (the keyword not given) inherits the nearest base's choice, else
    `EQX_CHECK_ALIASING`. `False` opts a class out even when the variable is set.
    """
    if check_aliasing is None:
        enabled = bool(getattr(cls, _ATTRIBUTE, EQX_CHECK_ALIASING))
    elif isinstance(check_aliasing, bool):
        enabled = check_aliasing
        type.__setattr__(cls, _ATTRIBUTE, check_aliasing)
    else:
        raise TypeError(
            f"The class keyword `check_aliasing` of `{cls.__qualname__}` must be True or "
            f"False, not {check_aliasing!r}."
        )
    return (warn_if_aliased,) if enabled else ()
