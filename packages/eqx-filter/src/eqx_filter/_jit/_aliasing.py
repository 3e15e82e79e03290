"""`filter_jit(check_aliasing=True)`: warn when an argument stores an array or node twice.

Each argument (and `fun` itself, unless it is a plain function) is searched on every
call, because identity can change between calls that share one compiled program: a
model whose two fields hold one array flattens to the same treedef as an untied one.
Inside the compiled function those two places are two inputs, so the tie is silently
gone in whatever the function returns. Arguments are searched one at a time: the same
array passed as two arguments is fine (a transform cannot untie anything there).
"""

from __future__ import annotations

import dataclasses
import types
from typing import Any

from eqx_tree import EqxAliasingWarning
from eqx_tree.internal import find_aliases, warn_at_user_code

__all__ = ["warn_if_arguments_aliased"]


def warn_if_arguments_aliased(fun: Any, args: tuple[Any, ...], kwargs: dict[str, Any]) -> None:
    """Warn `EqxAliasingWarning` naming both paths of every repeat within one argument."""
    named: list[tuple[str, Any]] = [(f"args[{i}]", arg) for i, arg in enumerate(args)]
    named += [(f"kwargs[{name!r}]", value) for name, value in kwargs.items()]
    if not isinstance(fun, types.FunctionType):
        named.append(("fun", fun))
    reports = []
    for label, tree in named:
        for alias in find_aliases(tree, arrays=True):
            alias = dataclasses.replace(
                alias, first=label + alias.first, second=label + alias.second
            )
            reports.append(f"- {alias.describe()}")
    if reports:
        name = getattr(fun, "__qualname__", None) or type(fun).__qualname__
        warn_at_user_code(
            f"`filter_jit({name})` was called with arguments that store {len(reports)} "
            "object(s) twice; inside the compiled function each place is a separate "
            "input:\n" + "\n".join(reports),
            EqxAliasingWarning,
        )
