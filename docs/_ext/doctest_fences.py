"""A griffe extension for the API pages: render `>>>` examples in docstrings as code.

Our docstrings show examples as doctest sessions under an `Example:` heading. Griffe
passes that section through as Markdown, where `>>> f(x)[0]` is an ordinary paragraph
(and `[a][0]` even looks like a reference link). This extension wraps every run of
`>>>` lines, with the output lines that follow it, in a fenced `pycon` code block
before the docstring is parsed.
"""

from __future__ import annotations

from typing import Any

import griffe

_FENCE = "```"


def fence_doctests(text: str) -> str:
    """`text` with each doctest run (prompt lines plus output) inside a code fence."""
    lines = text.splitlines()
    out: list[str] = []
    in_fence = False
    i = 0
    while i < len(lines):
        line = lines[i]
        stripped = line.lstrip()
        if stripped.startswith(_FENCE):
            in_fence = not in_fence
        if in_fence or not (stripped == ">>>" or stripped.startswith(">>> ")):
            out.append(line)
            i += 1
            continue
        indent = line[: len(line) - len(stripped)]
        block = []
        # The session runs until a blank line or a line indented less than its prompt.
        while i < len(lines) and lines[i].strip() and lines[i].startswith(indent):
            block.append(lines[i])
            i += 1
        out += [indent + _FENCE + "pycon", *block, indent + _FENCE]
    return "\n".join(out)


class DoctestFences(griffe.Extension):
    """Fence the doctest examples of every object griffe loads."""

    def on_object(self, *, obj: griffe.Object, **kwargs: Any) -> None:
        if obj.docstring is not None and ">>>" in obj.docstring.value:
            obj.docstring.value = fence_doctests(obj.docstring.value)
