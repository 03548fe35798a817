"""Text for the console's cells: safe (no markup, no control characters), aligned, coloured by meaning.

Every value that comes from the database or an exception becomes a ``rich.text.Text`` here, so
it is never read as Rich or Textual markup, and ``printable`` strips ESC and the other control
characters before anything reaches the terminal.
"""

from __future__ import annotations

import os
from datetime import datetime
from zoneinfo import ZoneInfo

from rich.text import Text

from console.domain.runs import JobState, RunStatus, SchedulerState
from console.domain.text import in_zone, printable

# Keyed by the enums' members (equal to their words, so a status read from the database finds its
# style): a run's status, a job's state, the scheduler's, and the health of the database and Redis.
STATUS_STYLES = {
    RunStatus.SUCCESS: "green", RunStatus.FAILED: "bold red", RunStatus.RUNNING: "bold yellow",
    RunStatus.MISSED: "magenta", RunStatus.SKIPPED: "yellow", RunStatus.ABANDONED: "red",
    JobState.SCHEDULED: "green", JobState.PAUSED: "yellow", JobState.DISABLED: "dim", JobState.REFUSED: "bold red",
    SchedulerState.STANDBY: "cyan", SchedulerState.ATTACHED: "cyan", SchedulerState.STOPPED: "red", SchedulerState.FENCED: "red",
    "ok": "green", "down": "bold red", "off": "dim",
}
LEVEL_STYLES = {20: "yellow", 10: "dark_orange", 5: "bold red"}
# Without colour (NO_COLOR) a colour alone says nothing, and a dim or dark one can end up grey on
# grey: the most severe level in reverse video, the next in bold; the text says the rest.
MONO_LEVEL_STYLES = {5: "reverse bold", 10: "bold", 20: ""}


def bar_style(style: str) -> str:
    """A chart's bars: ``style``, or plain where there is no colour (the gutter names what they are)."""
    return "" if os.environ.get("NO_COLOR") else style


def failure_style() -> str:
    """A failure's mark in a chart: red, or bold where there is no colour (its ✗ says it)."""
    return "bold" if os.environ.get("NO_COLOR") else "bold red"


def level_style(level: int) -> str:
    if os.environ.get("NO_COLOR"):
        return MONO_LEVEL_STYLES.get(level, "bold")
    return LEVEL_STYLES.get(level, "bold red")
LOG_STYLES = {"DEBUG": "dim", "INFO": "", "WARNING": "yellow", "ERROR": "bold red", "CRITICAL": "bold red reverse"}


def safe(value: object, style: str = "") -> Text:
    """Data as literal text: never markup, never escapes."""
    return Text(printable(value), style=style, no_wrap=True, overflow="ellipsis")


def status(word: str, label: str | None = None) -> Text:
    return Text(label or word, style=STATUS_STYLES.get(word, ""))


def local_time(value: datetime | str | None, tz: ZoneInfo, fmt: str = "%m-%d %H:%M") -> str:
    """A time in ``tz``; a timestamp the database holds but Python cannot (``OutOfRange``, a
    string) is shown as stored."""
    if isinstance(value, str):
        return f"{printable(value)} (out of range)"
    return in_zone(value, tz).strftime(fmt) if value else "-"


def relative(value: datetime | None, now: datetime) -> str:
    """"in 12 min", "3h05m ago", "in 2 d", "now"."""
    if value is None:
        return "-"
    seconds = int((value - now).total_seconds())
    span = abs(seconds)
    if span < 60:
        return "now"
    minutes = span // 60
    if minutes < 60:
        words = f"{minutes} min"
    elif minutes < 48 * 60:
        words = f"{minutes // 60}h{minutes % 60:02d}m" if minutes % 60 else f"{minutes // 60} h"
    else:
        words = f"{minutes // 1440} d"
    return f"in {words}" if seconds > 0 else f"{words} ago"


def duration(seconds: float | None) -> str:
    if seconds is None:
        return "-"
    if seconds < 1:
        return f"{seconds * 1000:.0f} ms"
    if seconds < 120:
        return f"{seconds:.1f} s"
    return f"{seconds / 60:.1f} min"


def changed(counts: dict[str, int]) -> str:
    """What a run changed, in a few words ("12 reset, 12 notified")."""
    keys = ("reset", "notified", "updated", "deleted_tasks", "deleted_notifications")
    names = {"deleted_tasks": "tasks deleted", "deleted_notifications": "notes deleted"}
    parts = [f"{counts[k]} {names.get(k, k)}" for k in keys if counts.get(k)]
    invalid = counts.get("skipped_invalid_rule", 0)
    skipped = sum(v for k, v in counts.items() if k.startswith("skipped_")) - invalid
    if skipped:
        parts.append(f"{skipped} skipped")
    if invalid:
        parts.append(f"{invalid} invalid rules")
    return ", ".join(parts) or "no change"


def bar(percent: float, width: int, style: str) -> Text:
    """A horizontal bar of ``width`` cells for 0..100 percent, eighths for smoothness."""
    percent = max(0.0, min(100.0, percent))
    eighths = round(percent / 100 * width * 8)
    full, part = divmod(eighths, 8)
    text = "█" * full + ("" if part == 0 else " ▏▎▍▌▋▊▉"[part])
    return Text(text.ljust(width, "·"), style=style, no_wrap=True)


def work_and_time_width(width: int) -> int:
    """Cells taken by ``work_and_time`` with bars of ``width``."""
    return 2 * width + len(" 100% ") + len(" 100%")


def work_and_time(progress: float, time_pct: float, width: int = 8) -> Text:
    """Work progress beside time progress: two bars and their numbers."""
    behind = progress < time_pct
    text = Text(no_wrap=True)
    text.append_text(bar(progress, width, "green"))
    text.append(f" {progress:3.0f}% ")
    text.append_text(bar(time_pct, width, "red" if behind else "blue"))
    text.append(f" {time_pct:3.0f}%")
    return text
