"""The job rules in plain Python: one statement of each rule, pinned by unit tests.

The jobs evaluate the same rules in SQL over whole sets of rows (see ``console.jobs``); tests
check that both agree on the same rows.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Annotated, Iterable, Sequence

# Constraints as plain metadata (pydantic's own vocabulary, no I/O): settings.yaml's levels are
# read into WarningLevel and refused, naming the key, where a bound is not met.
from annotated_types import Ge, Gt, Le

PROCESSING = "processing"
PERIODIC = "periodic"
RESETTABLE = ("completed", "closed")


@dataclass(frozen=True)
class WarningLevel:
    """A warning level: raised when time progress reaches ``at`` while work progress is below it.

    The one class for the idea: the rules here take it, and settings' ``warnings.levels`` are
    read into it (``console.settings``)."""

    level: Annotated[int, Ge(1), Le(99)]
    """Percent of time left that the warning announces."""
    at: Annotated[float, Gt(0), Le(100)]
    """Time progress (percent) at which the level starts."""

    # Read from settings.yaml as strictly as the settings around it: an unknown key is refused.
    __pydantic_config__ = {"extra": "forbid"}


# The design document's levels: 20 % of time left at 80 % time progress, 10 % at 90, 5 % at 95.
DEFAULT_LEVELS = (WarningLevel(20, 80.0), WarningLevel(10, 90.0), WarningLevel(5, 95.0))


def window_problem(start: datetime | None, end: datetime | None) -> str | None:
    """Why a window cannot be used: ``no_window``; None when it can. An inverted window (its end
    at or before its start) can: see ``time_progress``."""
    if start is None or end is None:
        return "no_window"
    return None


def progress_problem(progress: float | None) -> str | None:
    """``bad_progress`` when work progress is missing or outside 0..100."""
    if progress is None or not 0 <= progress <= 100:
        return "bad_progress"
    return None


def time_progress(start: datetime, end: datetime, now: datetime) -> float:
    """Elapsed share of the window [start, end] at ``now``, in percent, clamped to 0..100.

    A task whose deadline has passed is at 100 %, whatever its start: an inverted window (end at
    or before start) too. An inverted window whose deadline is still ahead has not started (0 %).
    """
    if window_problem(start, end):
        raise ValueError("time progress needs a window with a start and an end")
    if end <= start:
        return 100.0 if now >= end else 0.0
    share = (now - start) / (end - start) * 100.0
    return min(100.0, max(0.0, share))


def warning_level(
    time_pct: float, progress: float, levels: Iterable[WarningLevel] = DEFAULT_LEVELS
) -> int | None:
    """The most severe level whose threshold time has reached while work is still below it."""
    for level in sorted(levels, key=lambda lv: lv.at, reverse=True):
        if time_pct >= level.at and progress < level.at:
            return level.level
    return None


def next_threshold(
    time_pct: float, progress: float, levels: Sequence[WarningLevel] = DEFAULT_LEVELS
) -> WarningLevel | None:
    """The first level still ahead in time that would raise a warning if work stays put."""
    ahead = [lv for lv in levels if time_pct < lv.at and progress < lv.at]
    return min(ahead, key=lambda lv: lv.at) if ahead else None


def threshold_instant(start: datetime, end: datetime, at: float) -> datetime:
    """When time progress of [start, end] reaches ``at`` percent."""
    return start + (end - start) * (at / 100.0)


def reset_due(actual_end: datetime | None, now: datetime, period: timedelta) -> bool:
    """A finished periodic task is due once a whole period has passed since it ended."""
    return actual_end is not None and actual_end + period <= now


def next_window(now: datetime, period: timedelta) -> tuple[datetime, datetime]:
    """The window a reset task gets: it starts now and lasts one period."""
    return now, now + period


def repeat_due(last_sent: datetime | None, now: datetime, repeat_after: timedelta) -> bool:
    """Whether a level may be sent (again) for the same task and window."""
    if last_sent is None:
        return True
    return repeat_after > timedelta(0) and last_sent + repeat_after <= now
