"""`python -m eqx`: print the versions of every eqx package and of JAX, for bug reports."""

from ._versions_report import versions_report

if __name__ == "__main__":
    print(versions_report())
