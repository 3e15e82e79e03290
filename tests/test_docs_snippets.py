"""The Python code blocks of the guide pages run, so the docs cannot drift from the code.

Every ```python block of each page in `PAGES` runs in a fresh namespace, in this process
(under JAX's default promotion rules, as a user's code would, and with warnings as
errors). A page steers its
blocks with HTML comments, invisible on the rendered page, placed between the previous
block and the one they apply to:

- `<!-- docs-test: skip REASON -->`: not run; the reason is the skip message.
- `<!-- docs-test: needs EXPR -->`: run only once `EXPR` (evaluated with `eqx`, `jax`
  and `jnp` in scope) evaluates without AttributeError / ValueError / TypeError: for
  example `eqx.field_mask`, a name that is still being built. The skip names it.
- `<!-- docs-test: setup NOTE`, code lines, `-->`: code run first in the block's
  namespace, for a fragment that uses names the page introduced in prose (`model`,
  `loss`). Keep these comments at the top level of the page (not inside a list item),
  where Markdown hides them.

A block titled `Flax NNX` (```` ```python title="Flax NNX" ````) is another library's
code shown for comparison; it is reported as skipped, never run.
"""

from __future__ import annotations

import dataclasses
import pathlib
import re
import sys
import textwrap
import types

import jax
import jax.numpy as jnp
import pytest

import eqx

DOCS = pathlib.Path(__file__).resolve().parents[1] / "docs"
PAGES = (
    "migrating.md",
    "coming-from-nnx.md",
    "freezing-and-surgery.md",
    "scaling-out.md",
    "debugging.md",
)
COMPARISON_TITLE = 'title="Flax NNX"'

_FENCE = re.compile(r"^(?P<indent>[ ]*)(?P<fence>```+)\s*(?P<info>.*)$")
_DIRECTIVE = re.compile(r"<!--\s*docs-test:\s*(?P<kind>skip|needs|setup)\b(?P<body>.*?)-->", re.S)


@dataclasses.dataclass(frozen=True)
class Snippet:
    page: str
    line: int  # 1-based line of the opening fence
    code: str
    setup: str = ""
    skip: str | None = None
    needs: tuple[str, ...] = ()

    @property
    def id(self) -> str:
        return f"{self.page}:{self.line}"


def parse_snippets(page: str, text: str) -> list[Snippet]:
    """The Python blocks of a Markdown page, with the directives that precede each."""
    lines = text.splitlines()
    snippets = []
    i, previous_end = 0, 0
    offsets = [0]
    for line in lines:
        offsets.append(offsets[-1] + len(line) + 1)
    while i < len(lines):
        opening = _FENCE.match(lines[i])
        if opening is None:
            i += 1
            continue
        indent, fence, info = opening["indent"], opening["fence"], opening["info"]
        end = i + 1
        while end < len(lines) and lines[end].strip() != fence:
            end += 1
        if end == len(lines):
            raise ValueError(f"{page}:{i + 1}: the code fence is never closed")
        body = "\n".join(
            line[len(indent) :] if line.startswith(indent) else line.lstrip()
            for line in lines[i + 1 : end]
        )
        directives = list(_DIRECTIVE.finditer(text[offsets[previous_end] : offsets[i]]))
        language = info.split()[0] if info.split() else ""
        if language in ("python", "py"):
            snippets.append(_snippet(page, i + 1, body, info, directives))
        previous_end = end + 1
        i = end + 1
    return snippets


def _snippet(page: str, line: int, code: str, info: str, directives: list) -> Snippet:
    skip = needs = None
    setup = ""
    for directive in directives:
        body = directive["body"]
        if directive["kind"] == "skip":
            skip = body.strip() or None
            if skip is None:
                raise ValueError(f"{page}:{line}: `docs-test: skip` needs a reason")
        elif directive["kind"] == "needs":
            needs = tuple(e.strip() for e in body.split(";") if e.strip())
        else:
            # The rest of the directive's first line is a note for the reader.
            setup = textwrap.dedent(body.partition("\n")[2]).strip("\n")
    if COMPARISON_TITLE in info:
        skip = "Flax NNX code, shown for comparison only (flax is not installed here)"
    return Snippet(page, line, code, setup, skip, needs or ())


def run_snippet(snippet: Snippet) -> None:
    """Runs the snippet (after its setup) in a fresh namespace; skips as it says."""
    if snippet.skip is not None:
        pytest.skip(snippet.skip)
    for expression in snippet.needs:
        try:
            eval(expression, {"eqx": eqx, "jax": jax, "jnp": jnp})
        except (AttributeError, ValueError, TypeError) as error:
            pytest.skip(
                f"needs `{expression}`, which the installed eqx does not provide yet "
                f"({type(error).__name__}: {error}); this snippet runs once it does"
            )
    # A real module, so classes defined in the snippet (dataclasses) can find it.
    module = types.ModuleType("docs_snippet")
    sys.modules[module.__name__] = module
    try:
        # Snippets are user code: they run under JAX's default promotion rules, not the
        # strict ones this suite sets to catch sloppy promotion inside the library.
        with jax.numpy_dtype_promotion("standard"), jax.numpy_rank_promotion("allow"):
            _exec(snippet, module)
    finally:
        del sys.modules[module.__name__]


def _exec(snippet: Snippet, module: types.ModuleType) -> None:
    if snippet.setup:
        exec(compile(snippet.setup, f"docs/{snippet.id} (setup)", "exec"), module.__dict__)
    exec(compile(snippet.code, f"docs/{snippet.id}", "exec"), module.__dict__)


ALL = [s for page in PAGES for s in parse_snippets(page, (DOCS / page).read_text())]


@pytest.mark.parametrize("snippet", ALL, ids=lambda s: s.id)
def test_docs_snippet_runs(snippet: Snippet) -> None:
    run_snippet(snippet)


@pytest.mark.parametrize("page", PAGES)
def test_every_page_has_snippets_that_run(page: str) -> None:
    runnable = [s for s in ALL if s.page == page and s.skip is None]
    assert runnable, f"docs/{page} has no Python block the test runs"


def test_nnx_page_pairs_every_comparison_with_an_eqx_block() -> None:
    nnx = [s for s in ALL if s.page == "coming-from-nnx.md"]
    comparisons = [s for s in nnx if s.skip is not None]
    eqx_blocks = [s for s in nnx if s.skip is None]
    assert len(comparisons) >= 8
    assert len(eqx_blocks) >= len(comparisons)


PARSER_PAGE = """\
Text.

```python
x = 1
```

<!-- docs-test: skip shows another library -->
```python
import somewhere_else
```

- A list item:

    <!-- docs-test: setup
    y = 41
    -->
    ```python
    assert y + 1 == 42
    ```

<!-- docs-test: needs eqx.no_such_name -->
```python
eqx.no_such_name()
```

```bash
not python
```

```python title="Flax NNX"
nnx.jit
```

```python
raise ValueError("a broken snippet")
```
"""


def test_meta_parser_reads_blocks_and_directives() -> None:
    snippets = parse_snippets("page.md", PARSER_PAGE)
    assert [s.line for s in snippets] == [3, 8, 17, 22, 30, 34]
    assert snippets[0].code == "x = 1" and snippets[0].skip is None
    assert snippets[1].skip == "shows another library"
    assert snippets[2].setup == "y = 41" and snippets[2].code == "assert y + 1 == 42"
    assert snippets[3].needs == ("eqx.no_such_name",)
    assert snippets[4].skip is not None and "Flax NNX" in snippets[4].skip
    run_snippet(snippets[0])
    run_snippet(snippets[2])


def test_meta_a_broken_snippet_fails_and_a_missing_name_skips_naming_it() -> None:
    snippets = parse_snippets("page.md", PARSER_PAGE)
    with pytest.raises(ValueError, match="a broken snippet"):
        run_snippet(snippets[5])
    with pytest.raises(pytest.skip.Exception, match=r"needs `eqx\.no_such_name`"):
        run_snippet(snippets[3])
