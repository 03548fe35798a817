"""Per-task rules for the faces: set one, list a task's next windows, describe it in words.

A rule is validated by evaluating it: one with no occurrence within the horizon (5 years) is
refused when set. Every evaluation is bounded (``console.domain.rrules``), so a stored rule,
whatever it holds, answers in milliseconds.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timezone

from sqlalchemy import Engine, case, literal, null, select, update

from console.db.engine import read_only
from console.db.readable import readable
from console.db.task_sql import STATE, rule_column, with_state
from console.db.task_tables import has_column, tables_for
from console.db.column_types import UTCDateTime
from console.jobs.task_state import upsert
from console.domain.recurrence import (HORIZON, HORIZON_WORDS, OUT_OF_RANGE, RecurrenceError, check_occurs, describe,
                                       next_windows, parse_recurrence)
from console.settings import Settings


class UnknownTask(LookupError):
    def __str__(self) -> str:
        return f"no task with id {self.args[0]}"


@dataclass(frozen=True)
class RuleInfo:
    text: str | None
    words: str
    error: str | None
    next_window: tuple[datetime, datetime] | None


def set_recurrence(engine: Engine, settings: Settings, task_id: int, rule: str | None,
                   now: datetime | None = None) -> str:
    """Validate and store ``rule`` (empty or "none": back to the default); returns it in words.

    RecurrenceError when the rule does not parse, or has no occurrence within the horizon from now
    or from the start of the task's current cycle (the instant the reset job will anchor it at).
    """
    now = now or datetime.now(timezone.utc)
    text = None if rule is None or rule.strip().lower() in ("", "none", "default") else rule.strip()
    parsed = parse_recurrence(text, settings.periodic.default_period)  # RecurrenceError on garbage
    cycle_start = _task(engine, settings, task_id).expected_start_time
    anchors = [now]
    if cycle_start is not None and now - HORIZON <= cycle_start <= now + HORIZON:
        anchors.append(cycle_start)
    for anchor in anchors:
        check_occurs(parsed, anchor=anchor, tz=settings.tz)
    t = tables_for(engine, settings)
    key = t.tasks.c.id
    # A new rule needs a new plan: the reset job makes it on its next run.
    plan = {"next_reset_at": literal(None, UTCDateTime()), "reset_planned_from": literal(None, UTCDateTime()),
            "recurrence_error": literal(None, STATE.c.recurrence_error.type)}
    with engine.begin() as conn:
        if has_column(t, "tasks", "recurrence"):
            changed = conn.execute(update(t.tasks).where(key == task_id).values({t.tasks.c.recurrence: text})).rowcount
        else:
            plan["recurrence"] = literal(text, STATE.c.recurrence.type)
            changed = conn.execute(select(key).where(key == task_id)).first() is not None
        if changed:
            upsert(conn, select(key).where(key == task_id), plan)
    if not changed:
        raise UnknownTask(task_id)
    return describe(parsed)


def _task(engine: Engine, settings: Settings, task_id: int):
    # A timestamp Python cannot hold ('infinity', year 200000, text on SQLite) is read as missing
    # (console.db.readable), so a task's screen still opens.
    t = tables_for(engine, settings)
    c = t.tasks.c
    times = [case((readable(col), col), else_=null()).label(col.key)
             for col in (c.expected_start_time, c.expected_end_time, c.actual_end_time)]
    with read_only(engine).connect() as conn:
        row = conn.execute(
            select(c.id, c.category, c.status, rule_column(t).label("recurrence"), STATE.c.recurrence_error, *times)
            .select_from(with_state(t)).where(c.id == task_id)
        ).first()
    if row is None:
        raise UnknownTask(task_id)
    return row


def windows(engine: Engine, settings: Settings, task_id: int, count: int, now: datetime):
    """The task's next ``count`` windows; RecurrenceError if its stored rule is unusable or has no
    occurrence within the horizon."""
    row = _task(engine, settings, task_id)
    rule = parse_recurrence(row.recurrence, settings.periodic.default_period)
    found = _next_windows(rule, row, settings, count, now)
    if not found:
        shown = row.recurrence if len(row.recurrence or "") <= 60 else row.recurrence[:57] + "..."
        raise RecurrenceError(f"{shown!r}: the rule has no occurrence within {HORIZON_WORDS}")
    return found


def _next_windows(rule, row, settings: Settings, count: int, now: datetime):
    try:
        return next_windows(rule, now=now, cycle_start=row.expected_start_time, cycle_end=row.expected_end_time,
                            actual_end=row.actual_end_time, count=count, tz=settings.tz,
                            default_period=settings.periodic.default_period)
    except (OverflowError, ValueError) as exc:  # a window past year 9999
        if isinstance(exc, RecurrenceError):
            raise
        raise RecurrenceError(OUT_OF_RANGE) from None


def rule_info(engine: Engine, settings: Settings, task_id: int, now: datetime) -> RuleInfo | None:
    """The rule of a periodic task, in words, with its next window; None for other tasks."""
    row = _task(engine, settings, task_id)
    if row.category not in settings.task_system.values.category.periodic:
        return None
    try:
        rule = parse_recurrence(row.recurrence, settings.periodic.default_period)
    except RecurrenceError as exc:
        return RuleInfo(row.recurrence, "invalid rule", row.recurrence_error or str(exc), None)
    try:
        upcoming = _next_windows(rule, row, settings, 1, now)
    except RecurrenceError as exc:
        return RuleInfo(row.recurrence, describe(rule), row.recurrence_error or str(exc), None)
    return RuleInfo(row.recurrence, describe(rule), row.recurrence_error, upcoming[0] if upcoming else None)
