"""How a Module looks in a notebook: IPython's pretty printer and treescope.

Neither library is imported by eqx_module: IPython calls `_repr_pretty_` and treescope
renders the Module as the dataclass it is. The tests use each library when it is
installed (both are in the test dependency group) and skip otherwise.
"""

from __future__ import annotations

import jax.numpy as jnp
import pytest

import eqx_module
from eqx_tree import tree_pformat


class Block(eqx_module.Module):
    weight: jnp.ndarray
    scale: float = 1.0
    name: str = eqx_module.field(static=True, default="block")


class Model(eqx_module.Module):
    first: Block
    second: Block
    depth: int


class WithOwnRepr(eqx_module.Module):
    x: int

    def __repr__(self) -> str:
        return f"<WithOwnRepr x={self.x}>"


def make_model() -> Model:
    weight = jnp.arange(12.0, dtype=jnp.float32).reshape(3, 4)
    return Model(Block(weight), Block(weight + 1, 2.0, "other"), depth=2)


class RecordingPrinter:
    """The part of IPython's `PrettyPrinter` that `_repr_pretty_` uses."""

    def __init__(self, max_width: int) -> None:
        self.max_width = max_width
        self.out: list[str] = []

    def text(self, s: str) -> None:
        self.out.append(s)


def test_repr_pretty_is_tree_pformat_at_the_printers_width() -> None:
    model = make_model()
    for width in (40, 120):
        printer = RecordingPrinter(width)
        model._repr_pretty_(printer, cycle=False)
        assert printer.out == [tree_pformat(model, width=width)]
    narrow = RecordingPrinter(40)
    model._repr_pretty_(narrow, cycle=False)
    assert "weight=f32[3,4]" in narrow.out[0]
    assert max(len(line) for line in narrow.out[0].splitlines()) <= 40


def test_repr_pretty_keeps_a_subclass_repr_and_handles_cycles() -> None:
    printer = RecordingPrinter(80)
    WithOwnRepr(3)._repr_pretty_(printer, cycle=False)
    WithOwnRepr(3)._repr_pretty_(printer, cycle=True)
    assert printer.out == ["<WithOwnRepr x=3>", "WithOwnRepr(...)"]


def test_ipython_pretty_uses_it() -> None:
    pretty = pytest.importorskip("IPython.lib.pretty")
    model = make_model()
    assert pretty.pretty(model, max_width=50) == tree_pformat(model, width=50)
    assert pretty.pretty(WithOwnRepr(1)) == "<WithOwnRepr x=1>"


def test_treescope_names_fields_and_summarises_arrays() -> None:
    treescope = pytest.importorskip("treescope")
    text = treescope.render_to_text(make_model())
    for name in ("Model(", "first=", "second=", "depth=2", "Block(", "scale=2.0"):
        assert name in text, (name, text)
    assert "name='other'" in text
    # Arrays are summarised by dtype, shape and statistics (mean of arange(12) is 5.5).
    assert "float32(3, 4)" in text
    assert "≈5.5" in text and "≈6.5" in text
