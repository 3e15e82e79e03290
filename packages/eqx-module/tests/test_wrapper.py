"""`module_update_wrapper` and `StrictConfig`."""

from typing import Any

import jax.tree_util as jtu
import pytest

from eqx_module import Module, StrictConfig, module_update_wrapper


class Wrapper(Module):
    fn: Any

    @property
    def __wrapped__(self) -> Any:
        return self.fn


class NotAWrapper(Module):
    fn: Any


def target(x: int) -> int:
    """Target docs."""
    return x


def other(y: str) -> str:
    """Other docs."""
    return y


def test_copies_wrapper_attributes_from_wrapped_onto_a_clone() -> None:
    w = Wrapper(target)
    clone = module_update_wrapper(w)
    assert clone is not w
    assert clone.fn is target
    assert clone.__name__ == "target"
    assert clone.__qualname__ == "target"
    assert clone.__doc__ == "Target docs."
    assert clone.__module__ == __name__
    assert clone.__annotations__ == target.__annotations__
    assert "__name__" not in w.__dict__  # the input is untouched


def test_explicit_wrapped_argument_is_used() -> None:
    clone = module_update_wrapper(Wrapper(target), other)
    assert clone.__name__ == "other"
    assert clone.fn is target


def test_dict_and_wrapped_are_not_copied() -> None:
    target.extra = 1  # type: ignore[attr-defined]
    try:
        clone = module_update_wrapper(Wrapper(target))
    finally:
        del target.extra  # type: ignore[attr-defined]
    assert "extra" not in clone.__dict__
    assert "__wrapped__" not in clone.__dict__


def test_attributes_survive_flatten_and_unflatten() -> None:
    clone = module_update_wrapper(Wrapper(target))
    leaves, treedef = jtu.tree_flatten(clone)
    again = jtu.tree_unflatten(treedef, leaves)
    assert again.__name__ == "target"
    assert again.__doc__ == "Target docs."


def test_requires_wrapped_property() -> None:
    with pytest.raises(ValueError, match="Wrapper module must supply `__wrapped__` as a property"):
        module_update_wrapper(NotAWrapper(target))


def test_strict_config_returns_none_only_when_forced_abstract() -> None:
    assert StrictConfig() is False
    assert StrictConfig(force_abstact=True) is None
    assert StrictConfig(force_abstact=False, anything=1) is False
