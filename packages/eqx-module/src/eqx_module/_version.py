"""The installed version of `eqx-module`, read from the distribution metadata."""

import importlib.metadata

__version__: str = importlib.metadata.version("eqx-module")
