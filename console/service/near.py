"""Processing tasks nearest their next warning threshold (or already past one)."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timezone

from sqlalchemy import Engine, and_, case, literal, select

from console.db.engine import read_only
from console.db.models import Task, User, WarningSent
from console.db.types import epoch_seconds
from console.jobs.sql import (is_processing, past_lowest_threshold, progress_ok, time_progress, warning_level,
                              window_ok)
from console.settings import WarningLevel


@dataclass(frozen=True)
class NearTask:
    task_id: int
    title: str
    handler: str | None
    progress: float
    time_progress: float
    level: int | None
    next_level: int | None
    next_at: datetime | None
    window_start: datetime
    window_end: datetime
    notified_levels: list[int] = field(default_factory=list)


def _next_threshold_epoch(now: datetime, levels: tuple[WarningLevel, ...]):
    start = epoch_seconds(Task.expected_start_time)
    end = epoch_seconds(Task.expected_end_time)
    tp = time_progress(now)
    ordered = sorted(levels, key=lambda lv: lv.at)
    instant = case(
        *[(and_(tp < lv.at, Task.progress < lv.at), start + (end - start) * (lv.at / 100.0)) for lv in ordered],
        else_=literal(None),
    )
    level = case(
        *[(and_(tp < lv.at, Task.progress < lv.at), literal(lv.level)) for lv in ordered],
        else_=literal(None),
    )
    return instant, level


def near_tasks(engine: Engine, now: datetime, levels: tuple[WarningLevel, ...], limit: int = 20,
               in_level: dict[int, int] | None = None) -> list[NearTask]:
    """Tasks in a warning level first (most severe first), then those with a threshold still ahead.

    Each group is read in deadline order through the partial index on processing tasks' windows
    and stops at ``limit`` rows, so the panel never sorts every processing task: the soonest
    deadlines come first within a group. ``in_level`` (tasks per level, when the caller has just
    counted them) lets empty levels be skipped: an index walk looking for a level nobody is in
    would read every processing task.
    """
    level = warning_level(now, levels)
    next_epoch, next_level = _next_threshold_epoch(now, levels)
    columns = select(
        Task.id, Task.title, User.name.label("handler"), Task.progress,
        time_progress(now).label("tp"), level.label("level"), next_level.label("next_level"),
        next_epoch.label("next_epoch"), Task.expected_start_time, Task.expected_end_time,
    ).select_from(Task).outerjoin(User, User.id == Task.current_handler_id).where(
        is_processing(), window_ok(), progress_ok()
    )
    # A level group reads only tasks past the lowest threshold (ix_tasks_warn_from), so a level
    # few tasks are in costs what those few cost, not a walk of every processing task.
    reached = past_lowest_threshold(now, levels)
    groups = [and_(reached, level == lv.level) for lv in sorted(levels, key=lambda lv: lv.at, reverse=True)
              if in_level is None or in_level.get(lv.level, 0) > 0]
    groups.append(and_(level.is_(None), next_epoch.is_not(None)))
    rows: list = []
    with read_only(engine).connect() as conn:
        for group in groups:
            if len(rows) >= limit:
                break
            found = conn.execute(
                columns.where(group).order_by(Task.expected_end_time, Task.expected_start_time, Task.id).limit(limit - len(rows))
            ).all()
            rows.extend(sorted(found, key=lambda r: (r.next_epoch is None, r.next_epoch or 0.0)) if
                        group is groups[-1] else found)
        ids = [r.id for r in rows]
        notified: dict[tuple, set[int]] = {}
        if ids:
            for task_id, lv, ws, we in conn.execute(
                select(WarningSent.task_id, WarningSent.level, WarningSent.window_start, WarningSent.window_end)
                .where(WarningSent.task_id.in_(ids))
            ):
                notified.setdefault((task_id, ws, we), set()).add(lv)
    return [
        NearTask(
            task_id=r.id, title=r.title, handler=r.handler, progress=float(r.progress),
            time_progress=round(float(r.tp), 2), level=r.level, next_level=r.next_level,
            next_at=datetime.fromtimestamp(r.next_epoch, timezone.utc) if r.next_epoch is not None else None,
            window_start=r.expected_start_time, window_end=r.expected_end_time,
            notified_levels=sorted(notified.get((r.id, r.expected_start_time, r.expected_end_time), set())),
        )
        for r in rows
    ]
