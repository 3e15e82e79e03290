"""The installed version of `eqx-filter`, read from the distribution metadata."""

import importlib.metadata

__version__: str = importlib.metadata.version("eqx-filter")
