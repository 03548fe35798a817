"""A table cell of one line drawn without Rich's general layout.

DataTable draws each cell as ``console.render_lines(Styled(Padding(cell), pre, post))``: Rich's
layout for any renderable of any height (measure, pad, split and crop lines, twice), about 0.2 ms
a cell, 20-40 ms for the near panel when a new order (``s``) draws every visible cell again, on
the UI thread. The console's cells are one-line ``Text`` (no wrap): this draws such a cell with the
same Rich steps that matter (``Text.wrap`` for truncation and justification, ``Text.render``,
padding, the pre and post styles) and nothing else, a few times faster. Anything else (a newline,
a tab, centred or full justification, text that asks to wrap, another ``end``, a renderable that is not ``Text``, a row taller than one
line) returns None and DataTable's
own way draws it. ``tests/unit/test_cell_lines.py`` holds the two ways equal, segment for segment.
"""

from __future__ import annotations

from rich.console import Console
from rich.segment import Segment
from rich.style import Style
from rich.text import Text

NEWLINE = Text("\n")


def one_line(console: Console, cell: object, width: int, padding: int, pre: Style,
             post: Style) -> list[list[Segment]] | None:
    """The cell's one line of ``width`` cells (``padding`` each side), ``pre`` under its own styles
    and ``post`` over them, as DataTable's way draws it; None when this way does not apply."""
    inner = width - 2 * padding
    if (not isinstance(cell, Text) or inner < 1 or "\n" in cell.plain or "\t" in cell.plain
            or cell.justify not in (None, "default", "left", "right") or cell.no_wrap is False
            or cell.end not in ("", "\n")):
        return None
    lines = cell.wrap(console, inner, no_wrap=True)
    if len(lines) != 1:
        return None
    # As Text draws itself: its lines joined, which makes each line's own style a span of it.
    drawn = NEWLINE.join(lines).render(console, end="")
    line = Segment.adjust_line_length(list(drawn), inner, style=Style.null(), pad=True)
    if padding:
        blank = Segment(" " * padding, Style.null())
        line = [blank, *line, blank]
    return [list(Segment.apply_style(line, pre, post))]
