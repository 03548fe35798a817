"""What every settings section shares: the error that names a key, the strict model, and the
bounds of durations (an age or period of zero or less would delete or reset everything; past
``LONGEST`` every run would fail)."""

from __future__ import annotations

from datetime import timedelta

from pydantic import BaseModel, ConfigDict

# The longest age, period or interval: every one is added to or taken from "now", and the result
# must stay a timestamp both databases and Python hold (years 1 to 9999) for centuries to come.
LONGEST = timedelta(days=36500)


class SettingsError(Exception):
    """Bad settings: the message names the key and is safe to show."""


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


def _within(value: timedelta, shortest: timedelta, too_short: str) -> timedelta:
    """``value`` if it lies in [shortest, LONGEST]; else a ValueError saying the bounds and why."""
    if not shortest <= value <= LONGEST:
        why = too_short if value < shortest else "every run would fail: no timestamp reaches that far"
        raise ValueError(f"must be between {_words(shortest)} and {_words(LONGEST)}, not {_span(value)}: {why}")
    return value


def _between(value: timedelta | None, shortest: timedelta, longest: timedelta, message: str) -> timedelta | None:
    """``value`` if it is None or lies in [shortest, longest]; else a ValueError with ``message``."""
    if value is not None and not shortest <= value <= longest:
        raise ValueError(message)
    return value


def _span(value: timedelta) -> str:
    seconds = value.total_seconds()
    if seconds and seconds % 86400 == 0:
        days = int(seconds // 86400)
        return f"{days} day{'' if abs(days) == 1 else 's'}"
    return f"{seconds:g} second{'' if abs(seconds) == 1 else 's'}"


def _words(value: timedelta) -> str:
    seconds = value.total_seconds()
    iso = f"P{int(seconds // 86400)}D" if seconds and seconds % 86400 == 0 else f"PT{seconds:g}S"
    return f"{_span(value)} ({iso})"
