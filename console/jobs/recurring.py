"""The rule-driven half of reset_periodic_tasks: tasks whose ``recurrence`` is set.

Rules (RRULEs, calendar durations in a timezone) cannot be evaluated in SQL, so these tasks go
through Python, but only those that need it, a batch at a time, read through partial indexes:
- *plan*: tasks finished since they were last planned get ``next_reset_at`` (or
  ``recurrence_error``);
- *reset*: tasks whose ``next_reset_at`` has come are reset with their new window, and their
  handlers notified, a batch per transaction (reset and notifications commit together).
So the cost follows the tasks that finished or fell due, not the number of periodic tasks.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Connection, and_, bindparam, func, null, or_, select, update

from console.db.engine import read_only
from console.db.models import Task
from console.db.types import UTCDateTime
from console.domain.recurrence import RecurrenceError, due_at, new_window, parse_recurrence
from console.domain.rules import PERIODIC, RESETTABLE
from console.jobs.base import JobContext
from console.jobs.sql import has_handler
from console.notify.notifications import insert_notifications

BATCH = 1000
NO_OCCURRENCE = "the rule has no occurrence in the next five years"
# An absurd stored window (year 1, year 9999, a cycle ten thousand years long) takes the rule's
# dates outside what a datetime can hold: the task is skipped and counted, never the run aborted.
OUT_OF_RANGE = "the rule gives a date outside years 1 to 9999 (check the task's window)"


def ruled():
    """Finished periodic tasks with a rule of their own (the partial indexes' predicate)."""
    # No IN (...): these conditions also guard executemany UPDATEs, which cannot expand a list.
    finished = or_(*[Task.status == status for status in RESETTABLE])
    return and_(Task.category == PERIODIC, finished, Task.recurrence.is_not(None))


def unplanned():
    return and_(ruled(), or_(Task.reset_planned_from.is_(None), Task.reset_planned_from != Task.actual_end_time))


def due(now: datetime):
    return and_(ruled(), Task.next_reset_at <= now, Task.recurrence_error.is_(None))


def plan_for(row, ctx: JobContext) -> tuple[datetime | None, str | None]:
    """(next_reset_at, error) for a finished task."""
    try:
        rule = parse_recurrence(row.recurrence, ctx.settings.periodic.default_period)
        when = due_at(rule, cycle_start=row.expected_start_time, actual_end=row.actual_end_time,
                      tz=ctx.settings.tz)
    except RecurrenceError as exc:
        return None, str(exc)
    except (OverflowError, ValueError):
        return None, OUT_OF_RANGE
    return (when, None) if when is not None else (None, NO_OCCURRENCE)


def plan(ctx: JobContext) -> int:
    """Plan every newly finished rule-driven task; returns how many were planned."""
    planned = 0
    stmt = (
        update(Task)
        .where(Task.id == bindparam("b_id"))
        .values(next_reset_at=bindparam("b_due", type_=UTCDateTime()),
                reset_planned_from=bindparam("b_from", type_=UTCDateTime()),
                recurrence_error=bindparam("b_error"))
        .execution_options(synchronize_session=False)
    )
    while not ctx.should_stop():
        with ctx.engine.begin() as conn:
            rows = conn.execute(
                select(Task.id, Task.recurrence, Task.expected_start_time, Task.actual_end_time)
                .where(unplanned()).order_by(Task.id).limit(BATCH)
            ).all()
            if not rows:
                break
            params = []
            for row in rows:
                when, error = plan_for(row, ctx)
                params.append({"b_id": row.id, "b_due": when, "b_from": row.actual_end_time, "b_error": error})
            conn.execute(stmt, params)
        planned += len(rows)
    return planned


def reset_due(ctx: JobContext) -> tuple[int, int]:
    """Reset rule-driven tasks that fell due, a batch per transaction; (reset, notified)."""
    reset = notified = 0
    default_period = ctx.settings.periodic.default_period
    stmt = (
        update(Task)
        .where(Task.id == bindparam("b_id"), due(ctx.now))  # re-checked: a concurrent run may have won
        .values(status="new", progress=0, time_progress=0, actual_start_time=null(), actual_end_time=null(),
                expected_start_time=bindparam("b_start", type_=UTCDateTime()),
                expected_end_time=bindparam("b_end", type_=UTCDateTime()),
                next_reset_at=null(), reset_planned_from=null(), updated_at=ctx.now, last_reset_run_id=ctx.run_id)
        .execution_options(synchronize_session=False)
    )
    while not ctx.should_stop():
        with ctx.engine.begin() as conn:
            rows = conn.execute(
                select(Task.id, Task.recurrence, Task.expected_start_time, Task.expected_end_time)
                .where(due(ctx.now), has_handler())
                .order_by(Task.next_reset_at, Task.id).limit(BATCH)
                .with_for_update(skip_locked=True)
            ).all()
            if not rows:
                break
            params, unusable = [], []
            for row in rows:
                rule = parse_recurrence(row.recurrence, default_period)  # planned, so it parses
                try:
                    start, end = new_window(rule, now=ctx.now, cycle_start=row.expected_start_time,
                                            cycle_end=row.expected_end_time, tz=ctx.settings.tz,
                                            default_period=default_period)
                except RecurrenceError as exc:
                    unusable.append({"b_id": row.id, "b_error": str(exc)})
                    continue
                except (OverflowError, ValueError):
                    unusable.append({"b_id": row.id, "b_error": OUT_OF_RANGE})
                    continue
                params.append({"b_id": row.id, "b_start": start, "b_end": end})
            if unusable:  # no longer due: counted as skipped_invalid_rule from now on
                conn.execute(update(Task).where(Task.id == bindparam("b_id"))
                             .values(recurrence_error=bindparam("b_error"))
                             .execution_options(synchronize_session=False), unusable)
            if params:
                conn.execute(stmt, params)
            ids = [row.id for row in rows]
            batch_reset = _stamped(conn, ctx, ids)
            notified += insert_notifications(
                conn, ctx.settings.notifications.reset,
                select(Task.id).where(Task.last_reset_run_id == ctx.run_id, Task.id.in_(ids)),
                {"title": Task.title, "task_id": Task.id},
                user_id=Task.current_handler_id, task_id=Task.id, now=ctx.now,
            )
        reset += batch_reset
        if batch_reset == 0 and not unusable:
            break  # every row of the batch went to a concurrent run
    return reset, notified


def _stamped(conn: Connection, ctx: JobContext, ids: list[int]) -> int:
    return int(conn.execute(
        select(func.count()).where(Task.last_reset_run_id == ctx.run_id, Task.id.in_(ids))
    ).scalar_one())


def counts(conn: Connection, now: datetime) -> dict[str, int]:
    """Rule-driven tasks skipped: an unusable rule, or due with no handler."""
    invalid = conn.execute(
        select(func.count()).where(ruled(), Task.recurrence_error.is_not(None))
    ).scalar_one()
    no_handler = conn.execute(
        select(func.count()).where(due(now), ~has_handler())
    ).scalar_one()
    return {"skipped_invalid_rule": int(invalid), "skipped_no_handler": int(no_handler)}


def pending_on(engine, now: datetime) -> bool:
    """``work_pending`` on a read-only connection of ``engine``."""
    with read_only(engine).connect() as conn:
        return work_pending(conn, now)


def work_pending(conn: Connection, now: datetime) -> bool:
    """Whether a rule-driven task is due or waits to be planned (two indexed lookups)."""
    if conn.execute(select(Task.id).where(unplanned()).limit(1)).first() is not None:
        return True
    return conn.execute(select(Task.id).where(due(now)).limit(1)).first() is not None
