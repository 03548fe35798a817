"""The warning counts and the next day's forecast, counted once by the leader after each warning
pass and read by everyone else.

At a million tasks each costs a second or more (every task past, or ahead of, a threshold with its
work progress and its last warning: docs/performance.md), and every console, API call and
Prometheus scrape counting them afresh multiplies that on the task system's database. So the
leader counts them after each pass (``warnings.check_every``) into ``warning_outlook``, and the
readers take them from there while they are fresh (``FRESH_S``): a read of one row. Where they are
not (no leader, ``check_every: null``, a leader that cannot count), or do not cover what is asked
(more than the next 24 hours), the reader counts them itself, as before.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from zoneinfo import ZoneInfo

from sqlalchemy import Engine, select

from console.db.engine import read_only
from console.db.models import WarningOutlook
from console.db.single_row import ROW_ID, put_row
from console.db.task_tables import TaskTables
from console.domain.rules import WarningLevel
from console.service.dashboard import CurrentCounts, WarningStats, current_counts, with_sent
from console.service.forecast import DEFAULT_HOURS, Forecast, ForecastRow, due_counts, hour_start

# Counts older than this are not used: about two passes of the shipped check_every, and a minute more.
FRESH_S = 150.0


@dataclass(frozen=True)
class Outlook:
    computed_at: datetime
    took_s: float
    counts: CurrentCounts
    forecast_start: float  # hour 0's start, epoch seconds
    forecast: dict[tuple[int, int], int]  # (hour start, epoch seconds; level) -> count


def refresh(engine: Engine, t: TaskTables, levels: tuple[WarningLevel, ...], tz: ZoneInfo, now: datetime) -> float:
    """Count both now and keep them (the leader, after a pass); returns the seconds it took."""
    began = time.perf_counter()
    counts = current_counts(engine, t, now, levels)
    start = hour_start(now, tz)
    with read_only(engine).connect() as conn:
        due = [(int(h), int(level), int(n)) for h, level, n in conn.execute(
            due_counts(t, now, levels, start, DEFAULT_HOURS))]
    took = time.perf_counter() - began
    values = dict(computed_at=now, took_s=took, counts={str(lv): list(c) for lv, c in counts.items()},
                  forecast={"start": start.timestamp(), "hours": DEFAULT_HOURS, "rows": due})
    with engine.begin() as conn:
        put_row(conn, WarningOutlook, values)
    return took


def fresh(engine: Engine, now: datetime) -> Outlook | None:
    """What the leader counted last, if it is fresh (and not from a clock ahead of this one)."""
    with read_only(engine).connect() as conn:
        row = conn.execute(select(WarningOutlook).where(WarningOutlook.id == ROW_ID)).first()
    if row is None or not -60 <= (now - row.computed_at).total_seconds() <= FRESH_S:
        return None
    start = float(row.forecast["start"])
    due: dict[tuple[int, int], int] = {}
    for hour, level, n in row.forecast["rows"]:
        # An instant a hair before hour 0 (rounding) belongs to it; past the end, nothing comes.
        key = (int(start + min(max(hour, 0), row.forecast["hours"] - 1) * 3600), int(level))
        due[key] = due.get(key, 0) + int(n)
    counts = {int(lv): (int(c[0]), int(c[1]), int(c[2])) for lv, c in row.counts.items()}
    return Outlook(row.computed_at, row.took_s, counts, start, due)


def stats(engine: Engine, outlook: Outlook, now: datetime, levels: tuple[WarningLevel, ...]) -> WarningStats:
    return with_sent(engine, outlook.counts, now, levels)


def forecast(outlook: Outlook, now: datetime, levels: tuple[WarningLevel, ...], tz: ZoneInfo,
             hours: int) -> Forecast | None:
    """The forecast for ``hours`` hours from this hour's start, from the kept counts; None where they
    do not cover them all (an hour begun since they were counted, or more than the next day)."""
    start = hour_start(now, tz)
    first = start.timestamp()
    if first < outlook.forecast_start or first + hours * 3600 > outlook.forecast_start + DEFAULT_HOURS * 3600:
        return None
    order = tuple(lv.level for lv in sorted(levels, key=lambda lv: lv.at))
    utc_start = start.astimezone(timezone.utc)
    rows = [ForecastRow((utc_start + timedelta(hours=h)).astimezone(tz), level,
                        outlook.forecast.get((int(first + h * 3600), level), 0))
            for h in range(hours) for level in order]
    return Forecast(now=now, start=start, hours=hours, levels=order, rows=rows)
