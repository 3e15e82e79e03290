"""The installed version of `eqx-tree`, read from the distribution metadata."""

import importlib.metadata

__version__: str = importlib.metadata.version("eqx-tree")
