"""A one-line table cell drawn the short way (console.tui.cell_lines) is what DataTable's own way
(Rich's ``render_lines`` of ``Styled(Padding(cell))``) draws, segment for segment: plain, styled
and spanned text, wide (CJK, emoji) characters cut at every width, ellipsis, right-justified
numbers, empty cells, no padding; what it does not draw falls back."""

from __future__ import annotations

import pytest
from rich.console import Console
from rich.padding import Padding
from rich.segment import Segment
from rich.style import Style
from rich.text import Text
from textual.renderables.styled import Styled

from console.tui.cell_lines import one_line

CONSOLE = Console(width=200, color_system="truecolor")
PRE = Style(color="white", bgcolor="black") + Style.from_meta({"row": 3, "column": 1})
POST = Style(bgcolor="blue", bold=True)


def spanned() -> Text:
    text = Text("hello 世界 long title here", style="bold")
    text.stylize("red", 0, 3)
    text.stylize("italic", 5, 9)
    return text


CELLS = [
    spanned(), Text("ab"), Text(""), Text("世界世界世界", overflow="ellipsis", no_wrap=True),
    Text("x" * 30, overflow="ellipsis", no_wrap=True), Text("42", justify="right"),
    Text("🔥紧急修复🔥 支付系统上线", style="bold red", overflow="ellipsis", no_wrap=True),
    Text("#8099 ", style="dim") + Text("[b]not markup[/b]", overflow="ellipsis"),
    Text("1,234", style="bold yellow", justify="right", overflow="ellipsis"),
]


def rich_way(cell, width: int, padding: int) -> list[list[Segment]]:
    options = CONSOLE.options.update_dimensions(width, 1).update(no_wrap=True)
    return CONSOLE.render_lines(Styled(Padding(cell, (0, padding)), pre_style=PRE, post_style=POST), options)


def simple(lines) -> list[list[Segment]]:
    return [list(Segment.simplify(line)) for line in lines]


@pytest.mark.parametrize("cell", CELLS, ids=[c.plain or "empty" for c in CELLS])
def test_the_short_way_draws_what_rich_draws_at_every_width(cell):
    for width in range(1, 42):
        for padding in (0, 1, 2):
            short = one_line(CONSOLE, cell, width, padding, PRE, POST)
            if width - 2 * padding < 1:
                assert short is None
                continue
            assert short is not None
            assert simple(short) == simple(rich_way(cell, width, padding)), (cell.plain, width, padding)


@pytest.mark.parametrize("cell", [Text("two\nlines"), Text("a\ttab"), Text("centred", justify="center"),
                                  Text("full", justify="full"), Text("hello world foo", no_wrap=False),
                                  Text("ends", end=" ⏎"), "a plain str"])
def test_what_the_short_way_does_not_draw_falls_back(cell):
    assert one_line(CONSOLE, cell, 20, 1, PRE, POST) is None
