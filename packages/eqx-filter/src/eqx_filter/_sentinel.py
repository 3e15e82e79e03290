"""The "argument not given" marker: eqx_tree's, so all eqx packages share one object."""

from eqx_tree.internal import sentinel as sentinel

__all__ = ["sentinel"]
