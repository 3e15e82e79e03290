"""The warning classes every eqx package emits.

All eqx warnings are `EqxWarning`s, so one filter silences (or escalates) them all::

    warnings.filterwarnings("error", category=eqx_tree.EqxWarning)

`EqxDeprecationWarning` is deliberately a `UserWarning` (through `EqxWarning`), not a
`DeprecationWarning`, so that Python shows it by default, outside `__main__` too.
"""

__all__ = ["EqxDeprecationWarning", "EqxWarning"]


class EqxWarning(UserWarning):
    """A warning emitted by eqx."""


class EqxDeprecationWarning(EqxWarning):
    """An eqx API that still works but will be removed; the message says what to use instead."""
