"""Argument normalisation shared by the convolution layers."""

from collections.abc import Sequence
from typing import Any

__all__ = [
    "PADDING_MODES",
    "PADDING_STRINGS",
    "normalise_padding",
    "normalise_padding_mode",
    "normalise_tuple",
    "same_pads",
]

PADDING_STRINGS = ("SAME", "SAME_LOWER", "VALID")
PADDING_MODES = ("ZEROS", "REFLECT", "REPLICATE", "CIRCULAR")


def normalise_tuple(value: Any, n: int, name: str, minimum: int | None = None) -> tuple[int, ...]:
    """An int → `(value,) * n`; a length-`n` sequence of ints → a tuple.

    With `minimum`, every entry must be at least that (e.g. 1 for a kernel size).
    """
    if isinstance(value, int) and not isinstance(value, bool):
        result: tuple[int, ...] = (value,) * n
    elif isinstance(value, Sequence) and not isinstance(value, str):
        if len(value) != n:
            raise ValueError(
                f"`{name}` must be an int or a sequence of {n} ints (one per spatial "
                f"dimension), but got {value!r} of length {len(value)}."
            )
        if not all(isinstance(v, int) and not isinstance(v, bool) for v in value):
            raise ValueError(f"`{name}` must contain ints only, but got {value!r}.")
        result = tuple(value)
    else:
        raise ValueError(
            f"`{name}` must be an int or a sequence of {n} ints, but got {value!r} "
            f"of type {type(value).__name__}."
        )
    if minimum is not None and any(v < minimum for v in result):
        raise ValueError(f"Every entry of `{name}` must be at least {minimum}, but got {value!r}.")
    return result


def _pair(value: Any, name: str, full: Any) -> tuple[int, int]:
    if isinstance(value, int) and not isinstance(value, bool):
        return (value, value)
    if (
        isinstance(value, Sequence)
        and not isinstance(value, str)
        and len(value) == 2
        and all(isinstance(v, int) and not isinstance(v, bool) for v in value)
    ):
        return (value[0], value[1])
    raise ValueError(
        f"Each entry of `{name}` must be an int or a pair of ints (low, high), but got "
        f"{value!r} in {name}={full!r}."
    )


def normalise_padding(
    padding: Any, n: int, name: str = "padding"
) -> str | tuple[tuple[int, int], ...]:
    """Normalise `padding` for `n` spatial dimensions.

    An int → `((p, p),) * n`; `n` ints → pairs; `n` pairs kept; a string
    `SAME`/`SAME_LOWER`/`VALID` (any case) → upper-case.
    """
    if isinstance(padding, str):
        upper = padding.upper()
        if upper not in PADDING_STRINGS:
            raise ValueError(
                f"`{name}` string must be one of {', '.join(PADDING_STRINGS)} (any case), "
                f"but got {padding!r}."
            )
        return upper
    if isinstance(padding, int) and not isinstance(padding, bool):
        return ((padding, padding),) * n
    if isinstance(padding, Sequence):
        if len(padding) != n:
            raise ValueError(
                f"`{name}` must be an int, a string, or a sequence of {n} ints or {n} pairs "
                f"(one per spatial dimension), but got {padding!r} of length {len(padding)}."
            )
        return tuple(_pair(p, name, padding) for p in padding)
    raise ValueError(
        f"`{name}` must be an int, a string (SAME, SAME_LOWER, VALID) or a sequence of "
        f"{n} ints or pairs, but got {padding!r} of type {type(padding).__name__}."
    )


def normalise_padding_mode(padding_mode: Any) -> str:
    """Upper-case `padding_mode` and check it is a known mode."""
    if not isinstance(padding_mode, str) or padding_mode.upper() not in PADDING_MODES:
        raise ValueError(
            f"`padding_mode` must be one of {', '.join(PADDING_MODES)} (any case), "
            f"but got {padding_mode!r}."
        )
    return padding_mode.upper()


def same_pads(
    sizes: Sequence[int],
    kernel_size: Sequence[int],
    stride: Sequence[int],
    dilation: Sequence[int],
    lower: bool,
) -> tuple[tuple[int, int], ...]:
    """The explicit (low, high) pads that `SAME`/`SAME_LOWER` means for these sizes."""
    pads = []
    for size, k, s, d in zip(sizes, kernel_size, stride, dilation, strict=True):
        out = -(-size // s)
        total = max((out - 1) * s + d * (k - 1) + 1 - size, 0)
        small, large = total // 2, total - total // 2
        pads.append((large, small) if lower else (small, large))
    return tuple(pads)
