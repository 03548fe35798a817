"""What the console's panels show, each read with a few indexed, aggregate queries.

Panels query only what they show: counts per level (one aggregate over the processing tasks past
the lowest threshold, read through ``db tune``'s index on that instant), warnings sent per hour for
the last day (grouped in SQL, from the ledger's index alone), and one task's details on demand.
A timestamp Python cannot hold ('infinity', year 200000, text on SQLite) is never read into it:
the counts leave such windows out, and a task's details show it as the database stores it.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import Engine, Text, and_, case, cast, func, null, or_, select

from console.db.engine import read_only
from console.db.models import WarningSent
from console.db.readable import all_readable, readable
from console.db.task_sql import (count_if, count_unknown_status, has_handler, is_processing, level_of,
                                 past_lowest_threshold, progress_ok, raw_time_progress, task_cycle, time_progress,
                                 warning_level, window_ok)
from console.db.task_tables import TaskTables
from console.db.tuning import warn_index_present
from console.service.near import handler_name
from console.domain.rules import WarningLevel

HOURS = 24


@dataclass(frozen=True)
class LevelStats:
    level: int
    at: float
    in_level: int  # processing tasks in this level now
    notified_24h: int  # warnings of this level sent in the last 24 h
    # In this level now, with a handler, and not the level last notified in the task's cycle (the
    # ledger, migration 0008). A task whose deadline moved back to a level it was warned of before a
    # more severe one counts here, though the check sends that level again only after repeat_after.
    pending: int
    # Of ``in_level``, those without a handler (none, or a user that is gone): nobody is warned.
    no_handler: int = 0


@dataclass(frozen=True)
class WarningStats:
    levels: list[LevelStats]
    per_hour: list[int]  # warnings sent in each of the last 24 hours, oldest first


def _reached(t: TaskTables, now: datetime, levels: tuple[WarningLevel, ...]):
    # Every processing task the rules give a level, past the lowest threshold (through db tune's
    # index on that instant, where made), with or without a handler: the same set as `tasks near`
    # and the level lists. Beside it, whether a handler will hear of it, and the level last warned
    # of in the task's cycle (the ledger, by its unique key). The level is computed once per row
    # (OFFSET 0 keeps PostgreSQL from inlining it into the grouping and the count again).
    c = t.tasks.c
    w = WarningSent
    last_warned = (select(w.level).where(w.task_id == c.id, w.cycle == task_cycle(t))
                   .order_by(w.id.desc()).limit(1).correlate(t.tasks).scalar_subquery())
    timed = (
        select(c.id, c.progress, raw_time_progress(t, now).label("tp"), last_warned.label("warned_level"),
               has_handler(t).label("handled"))
        .where(is_processing(t), window_ok(t), progress_ok(t), past_lowest_threshold(t, now, levels),
               all_readable(c.expected_start_time, c.expected_end_time))
        .offset(0)
        .subquery()
    )
    return select(level_of(timed.c.tp, timed.c.progress, levels).label("level"), timed.c.warned_level,
                  timed.c.handled).subquery()


# Per level: (in the level now, pending, without a handler).
CurrentCounts = dict[int, tuple[int, int, int]]


def current_counts(engine: Engine, t: TaskTables, now: datetime, levels: tuple[WarningLevel, ...]) -> CurrentCounts:
    """The processing tasks in each level now: the costly part of the counts (every task past the
    lowest threshold, at a million tasks a second or more), which the leader keeps in
    ``warning_outlook`` after each pass (console.service.outlook)."""
    with read_only(engine).connect() as conn:
        reached = _reached(t, now, levels)
        handled = reached.c.handled
        not_warned = and_(handled, or_(reached.c.warned_level.is_(None), reached.c.warned_level != reached.c.level))
        return {
            int(lv): (int(n), int(pending), int(unhandled))
            for lv, n, pending, unhandled in conn.execute(
                select(reached.c.level, func.count(), count_if(not_warned), count_if(~handled))
                .where(reached.c.level.is_not(None)).group_by(reached.c.level)
            ).all()
        }


def with_sent(engine: Engine, current: CurrentCounts, now: datetime, levels: tuple[WarningLevel, ...]) -> WarningStats:
    """The counts, with what was sent in the last day beside them (the ledger's index alone: cheap,
    so always read now)."""
    since = now - timedelta(hours=HOURS)
    with read_only(engine).connect() as conn:
        # One pass over the last day's ledger, read from ix_warning_ledger_sent_at_level alone, gives
        # both the per-level totals and the per-hour bars. A run stamps all its warnings with one
        # sent_at, so the groups are a few per run, and they are put in hours here.
        sent: dict[int, int] = {}
        per_hour = [0] * HOURS
        for at, lv, n in conn.execute(select(WarningSent.sent_at, WarningSent.level, func.count())
                                      .where(WarningSent.sent_at > since, readable(WarningSent.sent_at))
                                      .group_by(WarningSent.sent_at, WarningSent.level)):
            sent[lv] = sent.get(lv, 0) + int(n)
            hour = int((at - since).total_seconds() // 3600)
            if hour >= 0:
                per_hour[min(hour, HOURS - 1)] += int(n)  # "now" itself belongs to the last hour
    stats = []
    for lv in sorted(levels, key=lambda lv: lv.at):
        n, pending, unhandled = current.get(lv.level, (0, 0, 0))
        stats.append(LevelStats(lv.level, lv.at, int(n), int(sent.get(lv.level, 0)), int(pending), int(unhandled)))
    return WarningStats(stats, per_hour)


def warning_stats(engine: Engine, t: TaskTables, now: datetime, levels: tuple[WarningLevel, ...]) -> WarningStats:
    return with_sent(engine, current_counts(engine, t, now, levels), now, levels)


def indexed(engine: Engine, t: TaskTables) -> bool:
    """Whether db tune's index on the lowest-threshold instant serves the warning counts (a read of
    the tasks near their deadline, not of every processing task)."""
    with read_only(engine).connect() as conn:
        return warn_index_present(conn, t)


def count_unclassified(engine: Engine, t: TaskTables) -> int:
    """Tasks whose status the mapping names no meaning for (``db check`` lists the words)."""
    with read_only(engine).connect() as conn:
        return count_unknown_status(conn, t)


class OutOfRange(str):
    """A stored timestamp Python cannot hold, as the database writes it ('infinity',
    '200000-01-01 00:00:00+00'): shown as it is, never computed with."""


def _timestamp(column, name: str | None = None) -> tuple:
    """A timestamp read safely: the value where readable (else NULL), and beside it the stored text
    where not."""
    name = name or column.key
    ok = readable(column)
    return (case((ok, column), else_=null()).label(name),
            case((ok, null()), else_=cast(column, Text)).label(f"{name}__stored"))


def _timestamps(row, names: tuple[str, ...]) -> dict[str, Any]:
    out = dict(row)
    for name in names:
        stored = out.pop(f"{name}__stored", None)
        if out[name] is None and stored is not None:
            out[name] = OutOfRange(stored)
    return out


TASK_TIMES = ("expected_start_time", "expected_end_time", "actual_start_time", "actual_end_time", "created_at",
              "updated_at")


@dataclass(frozen=True)
class TaskDetail:
    task: dict[str, Any]
    handler: str | None
    time_progress_now: float | None
    level_now: int | None
    warnings: list[dict[str, Any]] = field(default_factory=list)
    notifications: list[dict[str, Any]] = field(default_factory=list)


def task_detail(engine: Engine, t: TaskTables, task_id: int, now: datetime,
                levels: tuple[WarningLevel, ...]) -> TaskDetail | None:
    c, u, n = t.tasks.c, t.users.c, t.notifications.c
    with read_only(engine).connect() as conn:
        # Labelled with taskconsole's names: under a mapping the columns carry the task system's own.
        plain = [(c[k] if k in c else null()).label(k) for k in ("id", "title", "category", "status", "progress",
                                                                 "time_progress", "current_handler_id")]
        times = [part for name in TASK_TIMES
                 for part in (_timestamp(c[name]) if name in c else (null().label(name), null().label(f"{name}__stored")))]
        row = conn.execute(
            select(*plain, *times, handler_name(t).label("handler"))
            .select_from(t.tasks).outerjoin(t.users, u.id == c.current_handler_id)
            .where(c.id == task_id)
        ).mappings().first()
        if row is None:
            return None
        live = conn.execute(
            select(time_progress(t, now), warning_level(t, now, levels)).where(
                c.id == task_id, window_ok(t), all_readable(c.expected_start_time, c.expected_end_time),
                and_(is_processing(t), progress_ok(t)),
            )
        ).first()
        warnings = conn.execute(
            select(WarningSent.level, *_timestamp(WarningSent.window_start), *_timestamp(WarningSent.window_end),
                   WarningSent.repeat_no, *_timestamp(WarningSent.sent_at), WarningSent.run_id)
            .where(WarningSent.task_id == task_id).order_by(WarningSent.sent_at.desc()).limit(50)
        ).mappings().all()
        created = _timestamp(n.created_at) if "created_at" in n else (null().label("created_at"),
                                                                       null().label("created_at__stored"))
        notes = conn.execute(
            select(*created, n.type.label("type"), n.title.label("title"), n.content.label("content"),
                   n.is_read.label("is_read"), handler_name(t).label("to"))
            .select_from(t.notifications).outerjoin(t.users, u.id == n.user_id)
            .where(n.task_id == task_id).order_by(n.id.desc()).limit(50)
        ).mappings().all()
    task = _timestamps(row, TASK_TIMES)
    handler = task.pop("handler")
    return TaskDetail(
        task=task,
        handler=handler,
        time_progress_now=round(float(live[0]), 2) if live else None,
        level_now=live[1] if live else None,
        warnings=[_timestamps(w, ("window_start", "window_end", "sent_at")) for w in warnings],
        notifications=[_timestamps(n, ("created_at",)) for n in notes],
    )
