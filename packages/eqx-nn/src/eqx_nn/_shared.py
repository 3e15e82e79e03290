"""`Shared`: tie parts of a model together (weight sharing)."""

from collections.abc import Callable
from typing import Any

import jax

from eqx_filter import filter_eval_shape
from eqx_module import Module
from eqx_tree import tree_at, tree_equal, tree_pformat

__all__ = ["Shared", "SharedNode"]


class SharedNode:
    """The placeholder leaf that `Shared` stores where a shared node was.

    It holds no arrays, so the shared parameters exist once (at the `get` nodes) and
    gradients reach only them. All placeholders compare and hash equal, so two `Shared`
    models with the same structure have the same treedef (one `filter_jit` trace).
    """

    __slots__ = ()

    def __eq__(self, other: object) -> bool:
        return isinstance(other, SharedNode)

    def __hash__(self) -> int:
        return hash(SharedNode)

    def __repr__(self) -> str:
        return "SharedNode()"


class Shared(Module):
    """Share (tie) nodes of a PyTree: the `where` nodes become the `get` nodes.

    Stores `pytree` with the nodes picked out by `where` replaced by placeholders; calling
    the `Shared` returns the tree with `get(pytree)` put back in their place. The shared
    arrays are therefore the *same* arrays, and their gradients accumulate on the `get`
    nodes. `where` and `get` may return tuples, to tie several pairs at once.

    Arguments:
        pytree: the PyTree holding both the source and the destination nodes.
        where: `pytree -> node(s)`: the nodes to replace.
        get: `pytree -> node(s)`: the nodes to put in their place (same structure, shapes
            and dtypes as `where`'s).

    Raises:
        ValueError: `where` and `get` pick nodes of different structures.

    Example:
        ```python
        # Tie the output projection to the embedding matrix.
        shared = eqx.nn.Shared(
            (embedding, linear),
            where=lambda pair: pair[1].weight,
            get=lambda pair: pair[0].weight,
        )
        embedding, linear = shared()
        ```
    """

    pytree: Any
    where: Callable[[Any], Any]
    get: Callable[[Any], Any]

    def __init__(self, pytree: Any, where: Callable[[Any], Any], get: Callable[[Any], Any]) -> None:
        source = filter_eval_shape(get, pytree)
        destination = filter_eval_shape(where, pytree)
        if tree_equal(source, destination) is not True:
            raise ValueError(
                "Every node being shared together must have the same pytree structure, "
                "shape and dtype, but `where(pytree)` gives\n"
                f"{tree_pformat(destination, struct_as_array=True)}\n"
                "and `get(pytree)` gives\n"
                f"{tree_pformat(source, struct_as_array=True)}."
            )
        self.pytree = tree_at(where, pytree, replace_fn=lambda _: SharedNode())
        self.where = where
        self.get = get

    def __call__(self) -> Any:
        """Return the PyTree with the shared nodes re-inserted."""
        with jax.named_scope("eqx.nn.Shared"):
            return tree_at(self.where, self.pytree, self.get(self.pytree))
