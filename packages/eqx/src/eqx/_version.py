"""The installed version of `eqx`, read from the distribution metadata on first use.

`importlib.metadata.version` scans every entry of `sys.path` (milliseconds), so the
package's `__version__` is a lazy attribute: its `__getattr__` calls `version()`.
"""

import functools


@functools.cache
def version() -> str:
    """`eqx`'s installed version, for example `"0.1.0"`."""
    import importlib.metadata

    return importlib.metadata.version("eqx")
