"""mypy-only typing checks for `eqx_module` (run: `.venv/bin/mypy --strict tests/typing`).

pyright recognises `ClassVar` for dataclass fields only when it is imported from
`typing` in the same file, so to pyright `x: AbstractClassVar[int]` (a re-exported
`ClassVar`) still looks like an `__init__` parameter. mypy follows the alias.
"""

# pyright: reportCallIssue=false, reportIncompatibleVariableOverride=false

from typing import ClassVar

from typing_extensions import assert_type

from eqx_module import AbstractClassVar, Module


class Activation(Module):
    name: AbstractClassVar[str]
    scale: float


class Relu(Activation):
    name: ClassVar[str] = "relu"


# `AbstractClassVar[T]` is a `ClassVar[T]`: not an `__init__` parameter.
relu = Relu(1.0)
Relu(name="x", scale=1.0)  # type: ignore[call-arg]
assert_type(Relu.name, str)
assert_type(relu.name, str)
