"""How many warnings fall due in each of the next hours, per level, with work progress as it stands.

A processing task the warning check looks at (a good window, progress 0..100, a handler that
exists) reaches level L at one instant: ``start + (end - start) * at / 100``. Where that instant
lies ahead (its time progress is still below ``at``, the very test the check makes), before the
end of the horizon, while its work progress is below ``at`` and the warning ledger holds no L
for the task's current cycle, a warning of level L falls due then. Each level's instant counts
apart: the check sends only the most severe level per run, so two instants inside one run's
reach make one notification, not two. A task already past a level's instant is "now" (the
Warnings panel's counts), not ahead, and is not counted for it. Repeats (``warnings.repeat_after``)
of warnings already sent are not forecast: they follow no threshold instant.

Hours are counted from the current hour's boundary in the settings' timezone: hour 0 is the
rest of this hour. One grouped statement over the tasks (the rules of ``console.db.task_sql``,
the epochs of ``console.db.column_types``, so naive wall-clock columns read right), answering at
most hours × levels rows: nothing grows in Python with the number of tasks.
"""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from typing import Callable
from zoneinfo import ZoneInfo

from sqlalchemy import Engine, Float, Integer, exists, func, literal, select, true, union_all
from sqlalchemy.ext.compiler import compiles
from sqlalchemy.sql.functions import FunctionElement

from console.db.column_types import epoch_of
from console.db.engine import read_only
from console.db.models import WarningSent
from console.db.task_sql import (WALL_CLOCK_SLACK, has_handler, is_processing, past_lowest_threshold, progress_ok,
                                 raw_time_progress, task_cycle, window_ok)
from console.db.task_tables import TaskTables
from console.domain.rules import WarningLevel

# The horizons the faces accept (hours): a day is the default, a week the most.
HOURS = (1, 168)
DEFAULT_HOURS = 24
HOUR_S = 3600.0
# The console's panel reads it at most this often: a forecast by the hour moves little in a minute.
PANEL_EVERY_S = 60.0


class hour_index(FunctionElement[int]):
    """floor(x) as a whole number, for x >= 0 (bucketing seconds into hours)."""

    type = Integer()
    inherit_cache = True
    name = "hour_index"


@compiles(hour_index, "postgresql")
def _hour_index_pg(element, compiler, **kw):
    # A cast alone rounds to the nearest on PostgreSQL; floor first.
    return f"CAST(floor({compiler.process(element.clauses, **kw)}) AS INTEGER)"


@compiles(hour_index, "sqlite")
def _hour_index_sqlite(element, compiler, **kw):
    # A cast truncates towards zero: floor for x >= 0 (SQLite may be built without floor()).
    return f"CAST({compiler.process(element.clauses, **kw)} AS INTEGER)"


@dataclass(frozen=True)
class ForecastRow:
    hour: datetime  # the hour's start, aware, in the settings' timezone (hour 0 began before now)
    level: int
    count: int


@dataclass(frozen=True)
class Forecast:
    """Warnings falling due per hour and level: every hour of the horizon × every level, in hour
    order and, within an hour, from the lowest threshold (20 %) to the highest (5 %)."""

    now: datetime
    start: datetime  # hour 0's start, in the settings' timezone
    hours: int
    levels: tuple[int, ...]  # lowest threshold first
    rows: list[ForecastRow] = field(default_factory=list)

    @property
    def totals(self) -> dict[int, int]:
        """Per level, over the whole horizon."""
        out = dict.fromkeys(self.levels, 0)
        for row in self.rows:
            out[row.level] += row.count
        return out

    @property
    def total(self) -> int:
        return sum(row.count for row in self.rows)

    @property
    def per_hour(self) -> list[int]:
        """Every level together, hour by hour (the panel's sparkline)."""
        out = [0] * self.hours
        for i, row in enumerate(self.rows):
            out[i // len(self.levels)] += row.count
        return out

    def hourly(self) -> list[tuple[datetime, dict[int, int]]]:
        """Each hour's start and its counts by level."""
        n = len(self.levels)
        return [(self.rows[i].hour, {r.level: r.count for r in self.rows[i:i + n]})
                for i in range(0, len(self.rows), n)]


def hour_start(now: datetime, tz: ZoneInfo) -> datetime:
    """The start of the hour ``now`` is in, on the wall clock of ``tz`` (a zone 30 or 45 minutes off
    UTC has its hours there); aware, in ``tz``."""
    return now.astimezone(tz).replace(minute=0, second=0, microsecond=0)


def _levels_table(levels: tuple[WarningLevel, ...]):
    """The levels as a little table (level, at), one row each: joined to the tasks, one scan serves
    every level. SELECTs of literals, as SQLite names no columns of a VALUES list."""
    rows = [select(literal(lv.level, Integer).label("level"), literal(float(lv.at), Float).label("at"))
            for lv in levels]
    return (union_all(*rows) if len(rows) > 1 else rows[0]).subquery("levels")


def due_counts(t: TaskTables, now: datetime, levels: tuple[WarningLevel, ...], start: datetime, hours: int):
    """SELECT hour, level, count: the warnings falling due in each hour from ``start``, grouped.

    Its cost follows the tasks with a threshold inside the horizon, not N: measured on the
    1,000,000-task demo (PostgreSQL, db tune applied), 207,000 of them (270,000 warnings in 24 h)
    took 0.8 to 1.4 s on a shared two-core host under load, where counting those candidates alone
    through ix_tasks_warn_from took 0.3 s. Hence the panel's once a minute."""
    c = t.tasks.c
    horizon = start + timedelta(hours=hours)
    start_s, end_s = epoch_of(c.expected_start_time), epoch_of(c.expected_end_time)
    # The rows the warning check looks at (console.jobs.warnings), narrowed by two supersets an index
    # can serve: the lowest threshold is reached before the horizon ends (ix_tasks_warn_from, db tune),
    # and the window has not ended (every instant is at or before the end; the deadline index, in the
    # column's own clock, with a wall clock's slack). OFFSET 0: each epoch is computed once per row.
    timed = (
        select(c.id, c.progress, task_cycle(t).label("cycle"), start_s.label("start_s"), end_s.label("end_s"),
               raw_time_progress(t, now).label("tp"))
        .where(is_processing(t), window_ok(t), progress_ok(t), c.current_handler_id.is_not(None),
               c.expected_end_time > now - WALL_CLOCK_SLACK, past_lowest_threshold(t, horizon, levels),
               has_handler(t))
        .offset(0)
        .subquery("timed")
    )
    lv = _levels_table(levels)
    instant = timed.c.start_s + (timed.c.end_s - timed.c.start_s) * lv.c.at / 100.0
    w = WarningSent
    warned = exists(select(w.id).where(w.task_id == timed.c.id, w.cycle == timed.c.cycle, w.level == lv.c.level))
    due = (
        select(hour_index((instant - start.timestamp()) / HOUR_S).label("hour"), lv.c.level)
        .select_from(timed.join(lv, true()))
        # Ahead: the check's own test (time progress >= at) is still false now; the instant itself
        # is compared only with the horizon's end.
        .where(timed.c.tp < lv.c.at, timed.c.progress < lv.c.at, instant < horizon.timestamp(), ~warned)
        .subquery("due")
    )
    return select(due.c.hour, due.c.level, func.count().label("n")).group_by(due.c.hour, due.c.level)


def warning_forecast(engine: Engine, t: TaskTables, now: datetime, levels: tuple[WarningLevel, ...], tz: ZoneInfo,
                     hours: int = DEFAULT_HOURS) -> Forecast:
    """The forecast for ``hours`` hours from the start of the current hour (1 to 168)."""
    if not HOURS[0] <= hours <= HOURS[1]:
        raise ValueError(f"hours must be from {HOURS[0]} to {HOURS[1]}, not {hours}")
    start = hour_start(now, tz)
    order = tuple(lv.level for lv in sorted(levels, key=lambda lv: lv.at))
    counts: dict[tuple[int, int], int] = {}
    with read_only(engine).connect() as conn:
        for hour, level, n in conn.execute(due_counts(t, now, levels, start, hours)):
            # An instant a hair before hour 0 (rounding) belongs to it; past the end, nothing comes.
            key = (min(max(int(hour), 0), hours - 1), int(level))
            counts[key] = counts.get(key, 0) + int(n)
    # Hours are an hour apart in time; each is shown on the wall clock (a daylight-saving change
    # repeats or skips a wall-clock hour, never a real one).
    utc_start = start.astimezone(timezone.utc)
    rows = [ForecastRow((utc_start + timedelta(hours=h)).astimezone(tz), level, counts.get((h, level), 0))
            for h in range(hours) for level in order]
    return Forecast(now=now, start=start, hours=hours, levels=order, rows=rows)


class PanelForecast:
    """The console's forecast: read again at most every ``every_s`` seconds (the Dashboard reads it
    at each refresh). Thread-safe: refreshes come from a worker thread."""

    def __init__(self, read: Callable[[], Forecast], every_s: float = PANEL_EVERY_S,
                 clock: Callable[[], float] = time.monotonic):
        self._read, self._every_s, self._clock = read, every_s, clock
        self._lock = threading.Lock()
        self._last: tuple[float, Forecast] | None = None

    def get(self) -> Forecast:
        with self._lock:
            now = self._clock()
            if self._last is None or now - self._last[0] >= self._every_s:
                self._last = (now, self._read())
            return self._last[1]
