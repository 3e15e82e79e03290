"""Neural-network layers for eqx: Linear, MLP, Conv, attention, normalisation, state."""

from ._version import __version__ as __version__
