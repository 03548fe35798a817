"""Per-task rules for the faces: set one, list a task's next windows, describe it in words."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import Engine, null, select, update

from console.db.engine import read_only
from console.db.models import Task
from console.domain.recurrence import RecurrenceError, describe, next_windows, parse_recurrence
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


def set_recurrence(engine: Engine, settings: Settings, task_id: int, rule: str | None) -> str:
    """Validate and store ``rule`` (empty or "none": back to the default); returns it in words."""
    text = None if rule is None or rule.strip().lower() in ("", "none", "default") else rule.strip()
    parsed = parse_recurrence(text, settings.periodic.default_period)  # RecurrenceError on garbage
    with engine.begin() as conn:
        changed = conn.execute(
            update(Task).where(Task.id == task_id)
            # A new rule needs a new plan: the reset job makes it on its next run.
            .values(recurrence=text, next_reset_at=null(), reset_planned_from=null(), recurrence_error=null())
        ).rowcount
    if not changed:
        raise UnknownTask(task_id)
    return describe(parsed)


def _task(engine: Engine, task_id: int):
    with read_only(engine).connect() as conn:
        row = conn.execute(
            select(Task.id, Task.category, Task.status, Task.recurrence, Task.recurrence_error,
                   Task.expected_start_time, Task.expected_end_time, Task.actual_end_time)
            .where(Task.id == task_id)
        ).first()
    if row is None:
        raise UnknownTask(task_id)
    return row


def windows(engine: Engine, settings: Settings, task_id: int, count: int, now: datetime):
    """The task's next ``count`` windows; RecurrenceError if its stored rule is unusable."""
    row = _task(engine, task_id)
    rule = parse_recurrence(row.recurrence, settings.periodic.default_period)
    return next_windows(rule, now=now, cycle_start=row.expected_start_time, cycle_end=row.expected_end_time,
                        actual_end=row.actual_end_time, count=count, tz=settings.tz,
                        default_period=settings.periodic.default_period)


def rule_info(engine: Engine, settings: Settings, task_id: int, now: datetime) -> RuleInfo | None:
    """The rule of a periodic task, in words, with its next window; None for other tasks."""
    row = _task(engine, task_id)
    if row.category != "periodic":
        return None
    try:
        rule = parse_recurrence(row.recurrence, settings.periodic.default_period)
    except RecurrenceError as exc:
        return RuleInfo(row.recurrence, "invalid rule", row.recurrence_error or str(exc), None)
    upcoming = next_windows(rule, now=now, cycle_start=row.expected_start_time, cycle_end=row.expected_end_time,
                            actual_end=row.actual_end_time, count=1, tz=settings.tz,
                            default_period=settings.periodic.default_period)
    return RuleInfo(row.recurrence, describe(rule), row.recurrence_error, upcoming[0] if upcoming else None)
