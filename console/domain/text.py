"""Making data safe to print: no control characters, escape sequences or bidirectional controls
from the data."""

from __future__ import annotations

from datetime import datetime, timezone, tzinfo

import re
import unicodedata

# C0 controls (ESC included), DEL and C1 controls; tab and newline become spaces.
# Unicode bidirectional controls too (embeddings and overrides U+202A-U+202E, isolates
# U+2066-U+2069, the marks U+200E, U+200F and U+061C): in a title they reorder what an operator
# reads (U+202E before "gnp.exe" shows it as "exe.png").
BIDI = "\u202a-\u202e\u2066-\u2069\u200e\u200f\u061c"
_CONTROL = re.compile(f"[\\x00-\\x08\\x0b-\\x1f\\x7f-\\x9f{BIDI}]")


def printable(value: object, *, keep_newlines: bool = False) -> str:
    """``value`` as text that cannot move the cursor, change colours or ring the bell."""
    text = "" if value is None else str(value)
    text = _CONTROL.sub("", text.replace("\t", " "))
    if not keep_newlines:
        text = text.replace("\n", " ")
    return text


def display_width(text: str) -> int:
    """Terminal columns: wide (CJK) characters take two."""
    return sum(2 if unicodedata.east_asian_width(ch) in ("W", "F") else 1 for ch in text)


def fit(text: str, width: int) -> str:
    """Cut to ``width`` columns (with an ellipsis) and pad to exactly ``width``."""
    out, used = [], 0
    for ch in text:
        w = 2 if unicodedata.east_asian_width(ch) in ("W", "F") else 1
        if used + w > width - (1 if display_width(text) > width else 0):
            out.append("…")
            used += 1
            break
        out.append(ch)
        used += w
    return "".join(out) + " " * max(0, width - used)


def in_zone(value: datetime, tz: tzinfo) -> datetime:
    """``value`` in ``tz`` for display; an instant at the very edge of the calendar (year 1 or
    9999), which the zone's offset would push past it, is shown in UTC instead of failing."""
    try:
        return value.astimezone(tz)
    except (OverflowError, ValueError):
        return value.astimezone(timezone.utc)


def log_message(record, *, with_error: bool = True) -> str:
    """A logging record's message, with its exception's text where it carries one (and
    ``with_error``); a bad format string gives the raw message rather than an error in the logger."""
    try:
        message = record.getMessage()
    except Exception:  # noqa: BLE001 - logging must never raise
        message = str(record.msg)
    if with_error and record.exc_info and record.exc_info[1] is not None:
        message += f" ({record.exc_info[1]!s})"
    return message
