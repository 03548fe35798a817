"""The rule-driven half of reset_periodic_tasks: tasks whose ``recurrence`` is set.

Rules (RRULEs, calendar durations in a timezone) cannot be evaluated in SQL, so these tasks go
through Python, but only those that need it, a batch at a time, read through partial indexes:
- *plan*: tasks finished since they were last planned get ``next_reset_at`` (or
  ``recurrence_error``);
- *reset*: tasks whose ``next_reset_at`` has come are reset with their new window, and their
  handlers notified, a batch per transaction (reset and notifications commit together); a task
  without a handler is reset without a notification.
So the cost follows the tasks that finished or fell due, not the number of periodic tasks. Each
evaluation of a rule is bounded (``console.domain.rrules``); a rule that cannot be used is
recorded in its task_state row and counted, never fails the run. Both phases walk the tasks by key, so a row
the database refuses (isolated by ``console.jobs.isolate``) is not read again in the same run.
"""

from __future__ import annotations

import logging
from datetime import datetime

from sqlalchemy import Connection, and_, bindparam, func, or_, select, update

from console.db.engine import read_only
from console.db.models import JobRun
from console.db.task_sql import STATE, finished_periodic, has_handler, rule_column, with_state
from console.db.task_tables import TaskTables, status_in
from console.db.column_types import UTCDateTime, instant_of
from console.domain.recurrence import (NO_OCCURRENCE, OUT_OF_RANGE, RecurrenceError, due_at, new_window,
                                       parse_recurrence)
from console.domain.runs import JobId, RunStatus
from console.jobs.base import JobContext
from console.jobs.isolate import Refused, batch_size, halves, write_isolated
from console.jobs.task_state import reset_values, stamp_reset, upsert_statement
from console.domain.deliveries import DeliveryEvent
from console.notify.notifications import insert_notifications
from console.notify.outbox import queue_task_event

BATCH = 1000
log = logging.getLogger("console.jobs")


def ruled(t: TaskTables):
    """Finished periodic tasks with a rule of their own (reads select from ``with_state(t)``)."""
    return and_(finished_periodic(t), rule_column(t).is_not(None))


def unplanned(t: TaskTables):
    """Ruled tasks finished since their last plan (the plan remembers the end it was made from,
    copied from the task's own column, so the two compare in the task system's own form)."""
    return and_(ruled(t), or_(STATE.c.reset_planned_from.is_(None),
                              STATE.c.reset_planned_from != t.tasks.c.actual_end_time))


def due(t: TaskTables, now: datetime):
    return and_(ruled(t), STATE.c.next_reset_at <= now, STATE.c.recurrence_error.is_(None))


def _unusable(row, exc: Exception) -> str:
    """Why a rule cannot be used: its own error, or one line for a failure nobody foresaw."""
    if isinstance(exc, RecurrenceError):
        return str(exc)
    if isinstance(exc, (OverflowError, ValueError)):
        return OUT_OF_RANGE
    # A rule is data anyone may write: whatever it makes dateutil do, the run goes on.
    log.warning("reset_periodic_tasks: task %s: its rule could not be evaluated (%s: %s)",
                row.id, type(exc).__name__, exc)
    return f"the rule could not be evaluated ({type(exc).__name__})"


def plan_for(row, ctx: JobContext) -> tuple[datetime | None, str | None]:
    """(next_reset_at, error) for a finished task."""
    try:
        rule = parse_recurrence(row.recurrence, ctx.settings.periodic.default_period)
        when = due_at(rule, cycle_start=row.expected_start_time, actual_end=row.actual_end_time,
                      tz=ctx.settings.tz)
    except Exception as exc:  # noqa: BLE001 - see _unusable
        return None, _unusable(row, exc)
    return (when, None) if when is not None else (None, NO_OCCURRENCE)


def plan(ctx: JobContext, refused: Refused | None = None) -> int:
    """Plan every newly finished rule-driven task; returns how many were planned."""
    t = ctx.tables
    c = t.tasks.c
    refused = refused if refused is not None else Refused()
    planned, last_id = 0, None
    # One upsert per task, as an executemany; the plan's "from" is copied from the task's column.
    stmt_rows = select(c.id).where(c.id == bindparam("b_id"))
    values = {"next_reset_at": bindparam("b_due", type_=UTCDateTime()),
              "reset_planned_from": select(c.actual_end_time).where(c.id == bindparam("b_id")).scalar_subquery(),
              "recurrence_error": bindparam("b_error")}

    def write(conn: Connection, params: list[dict]) -> int:
        conn.execute(upsert_statement(conn, stmt_rows, values), params)
        return len(params)

    while not ctx.should_stop():
        with ctx.engine.begin() as conn:
            query = (select(c.id, rule_column(t).label("recurrence"), c.expected_start_time, c.actual_end_time)
                     .select_from(with_state(t)).where(unplanned(t)))
            if last_id is not None:  # by key: a row the database refused is not read again
                query = query.where(c.id > last_id)
            rows = conn.execute(query.order_by(c.id).limit(BATCH)).all()
            if not rows:
                break
            params = []
            for row in rows:
                when, error = plan_for(row, ctx)
                params.append({"b_id": row.id, "b_due": when, "b_error": error})
            planned += sum(write_isolated(conn, params, write, lambda c, p: halves(p), lambda c, p: batch_size(p),
                                          refused))
        if len(rows) < BATCH:
            break  # the last batch: a task finished since is planned by the next run
        last_id = rows[-1].id
    return planned


def _new_windows(ctx: JobContext, rows) -> tuple[list[dict], list[dict]]:
    """Parameters for the batch: (resets, unusable rules)."""
    default_period = ctx.settings.periodic.default_period
    resets, unusable = [], []
    for row in rows:
        try:
            rule = parse_recurrence(row.recurrence, default_period)
            start, end = new_window(rule, now=ctx.now, cycle_start=row.expected_start_time,
                                    cycle_end=row.expected_end_time, tz=ctx.settings.tz,
                                    default_period=default_period)
        except Exception as exc:  # noqa: BLE001 - see _unusable
            unusable.append({"b_id": row.id, "b_error": _unusable(row, exc)})
            continue
        resets.append({"b_id": row.id, "b_start": start, "b_end": end})
    return resets, unusable


def reset_rule_due(ctx: JobContext, refused: Refused | None = None) -> tuple[int, int]:
    """Reset rule-driven tasks that fell due, a batch per transaction; (reset, notified)."""
    t = ctx.tables
    c = t.tasks.c
    refused = refused if refused is not None else Refused()
    reset = notified = 0
    one = select(c.id).where(c.id == bindparam("b_id"))
    stmt = (
        update(t.tasks)
        .where(c.id == bindparam("b_id"), finished_periodic(t))  # the rows are locked: still finished
        .values(reset_values(t, ctx.now, bindparam("b_start", type_=c.expected_start_time.type),
                             bindparam("b_end", type_=c.expected_end_time.type)))
        .execution_options(synchronize_session=False)
    )

    def write(conn: Connection, items: list[dict]) -> tuple[int, int]:
        resets = [i for i in items if "b_error" not in i]
        unusable = [i for i in items if "b_error" in i]
        if unusable:  # no longer due: counted as skipped_invalid_rule from now on
            conn.execute(upsert_statement(conn, one, {"recurrence_error": bindparam("b_error")}), unusable)
        if resets:
            conn.execute(stmt, resets)
        ids = [i["b_id"] for i in resets]
        if not ids:
            return 0, 0
        done = select(c.id).where(c.id.in_(ids), status_in(t, "new"))
        stamped = stamp_reset(conn, done, ctx.run_id)
        handled = done.where(has_handler(t))
        sent = insert_notifications(
            conn, t, ctx.settings.notifications.reset, handled,
            {"title": c.title, "task_id": c.id},
            user_id=c.current_handler_id, task_id=c.id, now=ctx.now,
        )
        queue_task_event(conn, t, ctx.settings, DeliveryEvent.RESET, handled,
                         now=ctx.now, run_id=ctx.run_id, deadline=instant_of(c.expected_end_time))
        return stamped, sent

    after = None  # (next_reset_at, id) of the last task read: refused ones are not read again
    while not ctx.should_stop():
        with ctx.engine.begin() as conn:
            query = (select(c.id, rule_column(t).label("recurrence"), c.expected_start_time, c.expected_end_time,
                            STATE.c.next_reset_at)
                     .select_from(_with_plan(t)).where(due(t, ctx.now)))
            if after is not None:
                query = query.where(or_(STATE.c.next_reset_at > after[0],
                                        and_(STATE.c.next_reset_at == after[0], c.id > after[1])))
            rows = conn.execute(
                query.order_by(STATE.c.next_reset_at, c.id).limit(BATCH)
                .with_for_update(skip_locked=True, of=t.tasks)
            ).all()
            if not rows:
                break
            resets, unusable = _new_windows(ctx, rows)
            for batch_reset, sent in write_isolated(conn, resets + unusable, write, lambda c, p: halves(p),
                                                    lambda c, p: batch_size(p), refused):
                reset += batch_reset
                notified += sent
        if len(rows) < BATCH:
            break  # the last batch (rows a concurrent run holds are that run's)
        after = (rows[-1].next_reset_at, rows[-1].id)
    return reset, notified


def _with_plan(t: TaskTables):
    """tasks JOIN task_state: the tasks that have a plan (or a rule error) at all."""
    return t.tasks.join(STATE, STATE.c.task_id == t.tasks.c.id)


def counts(conn: Connection, t: TaskTables) -> dict[str, int]:
    """Rule-driven tasks skipped: an unusable rule."""
    invalid = conn.execute(
        select(func.count()).select_from(_with_plan(t)).where(ruled(t), STATE.c.recurrence_error.is_not(None))
    ).scalar_one()
    return {"skipped_invalid_rule": int(invalid)}


def pending_on(engine, t: TaskTables, now: datetime) -> bool:
    """``work_pending`` on a read-only connection of ``engine``."""
    with read_only(engine).connect() as conn:
        return work_pending(conn, t, now, since=_refused_since(conn))


def _refused_since(conn: Connection) -> datetime | None:
    """When the last finished reset run began, if the database refused rows in it."""
    last = conn.execute(
        select(JobRun.started_at, JobRun.counts)
        .where(JobRun.job_id == JobId.RESET_PERIODIC_TASKS, JobRun.status.in_((RunStatus.SUCCESS, RunStatus.FAILED)))
        .order_by(JobRun.id.desc()).limit(1)
    ).first()
    return last.started_at if last is not None and (last.counts or {}).get("refused") else None


def work_pending(conn: Connection, t: TaskTables, now: datetime, since: datetime | None = None) -> bool:
    """Whether a rule-driven task is due or waits to be planned (two indexed lookups).

    With ``since`` (the start of a run in which the database refused rows), only tasks that
    finished or fell due after it count: a refused task stays due, and polling for it would fail
    a run and alert the admins every minute; it waits for the next scheduled run instead.
    """
    c = t.tasks.c
    waiting = select(c.id).select_from(with_state(t)).where(unplanned(t))
    falling_due = select(c.id).select_from(_with_plan(t)).where(due(t, now))
    if since is not None:
        waiting = waiting.where(c.actual_end_time > since)
        falling_due = falling_due.where(STATE.c.next_reset_at > since)
    if conn.execute(waiting.limit(1)).first() is not None:
        return True
    return conn.execute(falling_due.limit(1)).first() is not None
