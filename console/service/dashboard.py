"""What the console's panels show, each read with a few indexed, aggregate queries.

Panels query only what they show: counts per level (one aggregate over processing tasks),
warnings sent per hour for the last day (grouped in SQL), and one task's details on demand.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import Engine, and_, exists, func, select

from console.db.engine import read_only
from console.db.models import Notification, Task, User, WarningSent
from console.db.types import epoch_seconds
from console.jobs.sql import count_if, is_processing, progress_ok, time_progress, warning_candidates, warning_level
from console.settings import WarningLevel

HOURS = 24


@dataclass(frozen=True)
class LevelStats:
    level: int
    at: float
    in_level: int  # processing tasks in this level now
    notified_24h: int  # warnings of this level sent in the last 24 h
    pending: int  # in this level now, not yet notified for the current window


@dataclass(frozen=True)
class WarningStats:
    levels: list[LevelStats]
    per_hour: list[int]  # warnings sent in each of the last 24 hours, oldest first


def warning_stats(engine: Engine, now: datetime, levels: tuple[WarningLevel, ...]) -> WarningStats:
    # The level is computed once per task (OFFSET 0 keeps PostgreSQL from inlining the subquery
    # and computing it again for the grouping and for the ledger probe); only tasks past the
    # lowest threshold are read (warning_candidates goes through ix_tasks_warn_from).
    reached = (
        select(Task.id, Task.expected_start_time.label("ws"), Task.expected_end_time.label("we"),
               warning_level(now, levels).label("level"))
        .where(warning_candidates(now, levels))
        .offset(0)
        .subquery()
    )
    sent_for_window = exists().where(
        WarningSent.task_id == reached.c.id,
        WarningSent.level == reached.c.level,
        WarningSent.window_start == reached.c.ws,
        WarningSent.window_end == reached.c.we,
    )
    since = now - timedelta(hours=HOURS)
    with read_only(engine).connect() as conn:
        current = {
            lv: (n, pending)
            for lv, n, pending in conn.execute(
                select(reached.c.level, func.count(), count_if(~sent_for_window)).group_by(reached.c.level)
            ).all()
        }
        # One pass over the last day's ledger gives both the per-level totals and the per-hour bars.
        bucket = func.floor((epoch_seconds(WarningSent.sent_at) - since.timestamp()) / 3600.0)
        sent: dict[int, int] = {}
        per_hour = [0] * HOURS
        for lv, b, n in conn.execute(select(WarningSent.level, bucket, func.count())
                                     .where(WarningSent.sent_at > since).group_by(WarningSent.level, bucket)):
            sent[lv] = sent.get(lv, 0) + int(n)
            if b is not None and int(b) >= 0:
                per_hour[min(int(b), HOURS - 1)] += int(n)  # "now" itself belongs to the last hour
    stats = [
        LevelStats(lv.level, lv.at, int(current.get(lv.level, (0, 0))[0]), int(sent.get(lv.level, 0)),
                   int(current.get(lv.level, (0, 0))[1]))
        for lv in sorted(levels, key=lambda lv: lv.at)
    ]
    return WarningStats(stats, per_hour)


@dataclass(frozen=True)
class TaskDetail:
    task: dict[str, Any]
    handler: str | None
    time_progress_now: float | None
    level_now: int | None
    warnings: list[dict[str, Any]] = field(default_factory=list)
    notifications: list[dict[str, Any]] = field(default_factory=list)


def task_detail(engine: Engine, task_id: int, now: datetime, levels: tuple[WarningLevel, ...]) -> TaskDetail | None:
    with read_only(engine).connect() as conn:
        row = conn.execute(
            select(*Task.__table__.c, User.name.label("handler"))
            .outerjoin(User, User.id == Task.current_handler_id)
            .where(Task.id == task_id)
        ).first()
        if row is None:
            return None
        live = conn.execute(
            select(time_progress(now), warning_level(now, levels)).where(
                Task.id == task_id,
                Task.expected_start_time.is_not(None),
                Task.expected_end_time > Task.expected_start_time,
                and_(is_processing(), progress_ok()),
            )
        ).first()
        warnings = conn.execute(
            select(WarningSent.level, WarningSent.window_start, WarningSent.window_end, WarningSent.repeat_no,
                   WarningSent.sent_at, WarningSent.run_id)
            .where(WarningSent.task_id == task_id).order_by(WarningSent.sent_at.desc()).limit(50)
        ).mappings().all()
        notes = conn.execute(
            select(Notification.created_at, Notification.type, Notification.title, Notification.content,
                   Notification.is_read, User.name.label("to"))
            .outerjoin(User, User.id == Notification.user_id)
            .where(Notification.task_id == task_id).order_by(Notification.id.desc()).limit(50)
        ).mappings().all()
    columns = ("id", "title", "category", "status", "progress", "time_progress", "expected_start_time",
               "expected_end_time", "actual_start_time", "actual_end_time", "current_handler_id", "created_at",
               "updated_at")
    return TaskDetail(
        task={c: getattr(row, c) for c in columns},
        handler=row.handler,
        time_progress_now=round(float(live[0]), 2) if live else None,
        level_now=live[1] if live else None,
        warnings=[dict(w) for w in warnings],
        notifications=[dict(n) for n in notes],
    )
