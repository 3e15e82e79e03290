"""The version report `python -m eqx` prints, for bug reports.

The `eqx` namespace mirrors Equinox's exactly (no additions), so the report is reachable only
through `python -m eqx` (see `__main__.py`), not as `eqx.show_versions()`.
"""

import importlib.metadata
import platform
import sys

# Distributions whose versions matter when reporting a bug, in layering order.
_DISTRIBUTIONS = ("eqx", "eqx-tree", "eqx-module", "eqx-filter", "eqx-nn", "jax", "jaxlib")


def _distribution_version(name: str) -> str:
    """The installed version of distribution `name`, or "not installed"."""
    try:
        return importlib.metadata.version(name)
    except importlib.metadata.PackageNotFoundError:
        return "not installed"


def versions_report() -> str:
    """One `name: version` line per eqx package, JAX, jaxlib, Python and the platform.

    Versions come from the installed distribution metadata, so a package that is
    missing shows as "not installed" instead of failing the report.
    """
    width = max(len(name) for name in (*_DISTRIBUTIONS, "python", "platform"))
    lines = [f"{name:<{width}}  {_distribution_version(name)}" for name in _DISTRIBUTIONS]
    lines.append(f"{'python':<{width}}  {sys.version.split()[0]}")
    lines.append(f"{'platform':<{width}}  {platform.platform()}")
    return "\n".join(lines)
