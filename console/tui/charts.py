"""Charts drawn in text: bars over hours that follow the widget's width.

An ``HourChart`` draws one or more strips (a label in the gutter, bars of eighth blocks), an
optional row of marks under a strip (failures: ``✗``, in text, so ``NO_COLOR`` keeps it), and a
row of dates. With fewer columns than hours each column takes several hours (the most of them, and
the sum of their marks); with more, one column per hour. The data is the service's, grouped in SQL
(``console.service.charts``); nothing here reads the database.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from typing import Callable

from rich.text import Text
from textual.widgets import Static

BLOCKS = " ▁▂▃▄▅▆▇█"
GUTTER = 8  # cells for a strip's label and its scale


@dataclass(frozen=True)
class Strip:
    label: str  # a few cells: the level, or nothing
    values: list[float | None]  # per hour; None: nothing in that hour
    style: str = ""
    rows: int = 2  # rows of bars
    marks: list[int] | None = None  # per hour; a column with any is marked under the bars
    mark_style: str = "bold red"
    scale: Callable[[float], str] | None = None  # how to write the largest value; None: a count
    mark_label: str = ""  # the gutter of the marks' row


@dataclass
class ChartData:
    start: datetime  # hour 0's start, aware, in the timezone the dates are written in
    hours: int
    strips: list[Strip] = field(default_factory=list)
    empty: str = ""  # said over the chart when every strip has nothing


def columns_for(hours: int, width: int) -> list[range]:
    """The hours each column stands for: ``width`` columns (at most one per hour)."""
    n = max(1, min(hours, width))
    return [range(c * hours // n, (c + 1) * hours // n) for c in range(n)]


def bucket(values: list[float | None], spans: list[range]) -> list[float | None]:
    out = []
    for span in spans:
        seen = [values[h] for h in span if values[h] is not None]
        out.append(max(seen) if seen else None)
    return out


def bar_rows(values: list[float | None], rows: int, top: float) -> list[str]:
    """``rows`` lines of blocks, the top line first; a value above zero shows at least one eighth."""
    lines = [[] for _ in range(rows)]
    for value in values:
        eighths = 0
        if value and top > 0:
            eighths = max(1, round(value / top * rows * 8))
        for r in range(rows):  # r = 0 is the bottom line
            fill = min(8, max(0, eighths - 8 * r))
            lines[rows - 1 - r].append(BLOCKS[fill])
    return ["".join(line) for line in lines]


def _number(value: float, scale: Callable[[float], str] | None) -> str:
    return scale(value) if scale is not None else f"{value:,.0f}"


def date_axis(start: datetime, spans: list[range]) -> str:
    """Under the column where each day begins, its date (MM-DD), where there is room."""
    line = [" "] * len(spans)
    utc = start.astimezone(timezone.utc)
    free, previous = 0, None  # the first column a label may start at; the last column's date
    for c, span in enumerate(spans):
        if not span:
            continue
        day = (utc + timedelta(hours=span.stop - 1)).astimezone(start.tzinfo).date()
        if day != previous and c >= free:
            label = "|" + day.strftime("%m-%d")
            if c + len(label) <= len(spans):
                line[c:c + len(label)] = list(label)
                free = c + len(label) + 1
        previous = day
    return "".join(line)


def hour_axis(start: datetime, spans: list[range]) -> str:
    """Under each column where a 6-hour mark of the wall clock falls, the hour (HH)."""
    line = [" "] * len(spans)
    utc = start.astimezone(timezone.utc)
    free = 0
    for c, span in enumerate(spans):
        if not span:
            continue
        hour = (utc + timedelta(hours=span.start)).astimezone(start.tzinfo).hour
        if (hour % 6 == 0 or c == 0) and c >= free and c + 3 <= len(spans):
            line[c:c + 3] = list(f"|{hour:02d}")
            free = c + 4
    return "".join(line)


class HourChart(Static):
    """Strips of bars over hours, with dates (or hours, for a day) under them; redrawn at each
    width."""

    def __init__(self, *args, axis: str = "dates", **kwargs):
        super().__init__("", *args, **kwargs)
        self.data: ChartData | None = None
        self.axis = axis  # "dates" (a week) or "hours" (a day)

    def show(self, data: ChartData) -> None:
        self.data = data
        self._draw()

    def on_resize(self, event) -> None:
        self._draw()

    def _draw(self) -> None:
        if self.data is None or not self.size.width:
            return
        self.update(self.render_text(self.size.width))

    def render_text(self, width: int) -> Text:
        d = self.data
        spans = columns_for(d.hours, max(1, width - GUTTER))
        text = Text(no_wrap=True, overflow="crop")
        everything_empty = all(not any(s.values[h] for h in range(d.hours) if s.values[h] is not None)
                               for s in d.strips)
        for strip in d.strips:
            values = bucket(strip.values, spans)
            top = max((v for v in values if v is not None), default=0.0)
            lines = bar_rows(values, strip.rows, top)
            marked = ([sum(strip.marks[h] for h in span) for span in spans] if strip.marks is not None else None)
            for r, line in enumerate(lines):
                # The scale's top beside the top line; the strip's name beside the bottom one.
                gutter = _number(top, strip.scale) if r == 0 and top else ""
                if r == strip.rows - 1 and strip.label:
                    gutter = strip.label
                text.append(f"{gutter[:GUTTER - 1]:>{GUTTER - 1}}│", style="dim" if r == 0 else "")
                for c, ch in enumerate(line):
                    style = strip.mark_style if marked and marked[c] else strip.style
                    text.append(ch, style=style)
                text.append("\n")
            if marked is not None:
                text.append(f"{strip.mark_label[:GUTTER - 1]:>{GUTTER - 1}}│", style="dim")
                text.append("".join("✗" if m else " " for m in marked), style=strip.mark_style)
                text.append("\n")
        axis = date_axis(d.start, spans) if self.axis == "dates" else hour_axis(d.start, spans)
        text.append(" " * GUTTER + axis, style="dim")
        if everything_empty and d.empty:
            text.append(f"\n{d.empty}", style="dim")
        return text
