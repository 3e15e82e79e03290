"""The eqx Module base class: frozen dataclasses that are PyTrees."""

from ._version import __version__ as __version__
