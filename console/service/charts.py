"""What the console's charts draw, grouped by the hour in SQL over the last 7 days.

Both charts count hours from the start of the current hour in the settings' timezone (as the
forecast does, ``console.service.forecast``): hour ``HOURS - 1`` is the current one, hour 0 began a
week before it. Each is one grouped statement bounded to those hours: at most hours × levels rows
for the warnings sent (from ``ix_warning_ledger_sent_at_level``), at most one row per hour for a
job's runs. Nothing grows in Python with the number of runs or warnings.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from zoneinfo import ZoneInfo

from sqlalchemy import Engine, func, select

from console.db.column_types import epoch_of
from console.db.engine import read_only
from console.db.models import JobRun, WarningSent
from console.db.readable import readable
from console.db.task_sql import count_if
from console.domain.runs import RunStatus
from console.service.forecast import HOUR_S, hour_index, hour_start

HOURS = 7 * 24


@dataclass(frozen=True)
class HourlyRuns:
    """A job's finished runs (success or failed) per hour: the longest duration and the failures."""

    start: datetime  # hour 0's start, in the settings' timezone
    hours: int
    longest: list[float | None]  # seconds; None: no finished run in that hour
    runs: list[int]
    failed: list[int]

    @property
    def total(self) -> int:
        return sum(self.runs)


@dataclass(frozen=True)
class HourlySent:
    """Warnings sent per hour and level (levels lowest threshold first, as the forecast's)."""

    start: datetime
    hours: int
    levels: tuple[int, ...]
    per_level: dict[int, list[int]]  # level -> count per hour, oldest first

    def totals(self) -> dict[int, int]:
        return {level: sum(counts) for level, counts in self.per_level.items()}


def _window(now: datetime, tz: ZoneInfo, hours: int) -> tuple[datetime, float]:
    """Hour 0's start (in ``tz``) and its epoch seconds."""
    start = (hour_start(now, tz).astimezone(timezone.utc) - timedelta(hours=hours - 1)).astimezone(tz)
    return start, start.timestamp()


def _hour(value, hours: int) -> int | None:
    hour = int(value)
    return hour if 0 <= hour < hours else None


def job_runs_per_hour(engine: Engine, job_id: str, now: datetime, tz: ZoneInfo, hours: int = HOURS) -> HourlyRuns:
    start, start_s = _window(now, tz, hours)
    r = JobRun
    hour = hour_index((epoch_of(r.started_at) - start_s) / HOUR_S).label("hour")
    longest: list[float | None] = [None] * hours
    runs, failed = [0] * hours, [0] * hours
    query = (select(hour, func.max(r.duration_s), func.count(), count_if(r.status == RunStatus.FAILED))
             .where(r.job_id == job_id, r.started_at >= start, r.started_at <= now,
                    r.status.in_((RunStatus.SUCCESS, RunStatus.FAILED)))
             .group_by(hour))
    with read_only(engine).connect() as conn:
        for h, most, n, bad in conn.execute(query):
            i = _hour(h, hours)
            if i is not None:
                longest[i], runs[i], failed[i] = float(most or 0.0), int(n), int(bad)
    return HourlyRuns(start, hours, longest, runs, failed)


def warnings_sent_per_hour(engine: Engine, now: datetime, tz: ZoneInfo, levels: tuple[int, ...],
                           hours: int = HOURS) -> HourlySent:
    start, start_s = _window(now, tz, hours)
    w = WarningSent
    hour = hour_index((epoch_of(w.sent_at) - start_s) / HOUR_S).label("hour")
    per_level = {level: [0] * hours for level in levels}
    # A range of ix_warning_ledger_sent_at_level, grouped by hour and level.
    query = (select(hour, w.level, func.count())
             .where(w.sent_at >= start, w.sent_at <= now, readable(w.sent_at))
             .group_by(hour, w.level))
    with read_only(engine).connect() as conn:
        for h, level, n in conn.execute(query):
            i = _hour(h, hours)
            if i is not None and int(level) in per_level:
                per_level[int(level)][i] += int(n)
    return HourlySent(start, hours, levels, per_level)
