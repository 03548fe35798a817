"""reset_periodic_tasks: finished periodic tasks whose period has come round go back to ``new``.

Tasks without a rule of their own follow the settings' default period. The due tasks' ids are
staged in a temporary table, their rows locked (``FOR UPDATE``: a concurrent run waits, then finds
them no longer due), then one UPDATE resets them, one upsert stamps them with this run's id in
``task_state`` (their new warning cycle), and one INSERT ... SELECT notifies their handlers. All
commit together; a second run finds nothing due. Tasks with a rule are planned and reset by
``console.jobs.rule_resets``.

A task with no handler (or one whose user is gone) is reset all the same, without a
notification, and counted ``reset_unassigned``. A row the database refuses to write is isolated
(``console.jobs.isolate``): the others are written, and the run raises ``RowsRefused`` naming it.
Rows whose status the mapping names no meaning for are counted ``skipped_unknown_status``.
"""

from __future__ import annotations

from sqlalchemy import and_, delete, exists, func, insert, or_, select, true, update

from console.db.engine import read_only
from console.db.task_sql import (STATE, count_if, count_unknown_status, finished_periodic, has_handler, rule_column,
                                 with_state)
from console.db.task_tables import has_column
from console.domain.runs import JobId
from console.jobs import rule_resets
from console.jobs.base import Counts, JobContext, JobSpec, Preview, RowsRefused
from console.jobs.isolate import IdRange, Refused, in_range, range_halves, range_size, write_isolated
from console.jobs.task_state import reset_values, staging_table, stamp_reset
from console.db.column_types import instant_of
from console.domain.deliveries import DeliveryEvent
from console.notify.notifications import insert_notifications
from console.notify.outbox import queue_task_event


def _no_rule(ctx: JobContext):
    """The task has no rule of its own (the settings' default period applies)."""
    t = ctx.tables
    if has_column(t, "tasks", "recurrence"):
        return t.tasks.c.recurrence.is_(None)
    return ~exists(select(STATE.c.task_id).where(STATE.c.task_id == t.tasks.c.id, STATE.c.recurrence.is_not(None)))


def _due(ctx: JobContext):
    """Default-rule tasks due: no rule of their own, finished a whole default period ago."""
    cutoff = ctx.now - ctx.settings.periodic.default_period
    return and_(finished_periodic(ctx.tables), _no_rule(ctx), ctx.tables.tasks.c.actual_end_time <= cutoff)


def _skipped(conn, ctx: JobContext) -> Counts:
    c = ctx.tables.tasks.c
    no_end_time = conn.execute(
        select(count_if(c.actual_end_time.is_(None))).select_from(ctx.tables.tasks).where(finished_periodic(ctx.tables))
    ).scalar_one()
    return {
        "skipped_no_end_time": int(no_end_time),
        "skipped_invalid_rule": rule_resets.counts(conn, ctx.tables)["skipped_invalid_rule"],
        "skipped_unknown_status": count_unknown_status(conn, ctx.tables),
    }


def _reset_default(conn, ctx: JobContext, staged, part: IdRange) -> tuple[int, int]:
    """Reset the due default-rule tasks in ``part`` and notify their handlers; (reset, notified)."""
    t = ctx.tables
    tasks = t.tasks
    period = ctx.settings.periodic.default_period
    conn.execute(delete(staged))
    conn.execute(insert(staged).from_select(
        ["task_id"], select(tasks.c.id).where(_due(ctx), in_range(tasks.c.id, part)).with_for_update()))
    ids = select(staged.c.task_id)
    reset = conn.execute(
        update(tasks).where(tasks.c.id.in_(ids))
        .values(reset_values(t, ctx.now, ctx.now, ctx.now + period))
        .execution_options(synchronize_session=False)
    ).rowcount
    stamp_reset(conn, ids, ctx.run_id)
    handled = select(tasks.c.id).where(tasks.c.id.in_(ids), has_handler(t))
    notified = insert_notifications(
        conn, t, ctx.settings.notifications.reset, handled,
        {"title": tasks.c.title, "task_id": tasks.c.id},
        user_id=tasks.c.current_handler_id,
        task_id=tasks.c.id,
        now=ctx.now,
    )
    queue_task_event(conn, t, ctx.settings, DeliveryEvent.RESET, handled, now=ctx.now,
                     run_id=ctx.run_id, deadline=instant_of(tasks.c.expected_end_time))
    return reset, notified


def run(ctx: JobContext) -> Counts:
    t = ctx.tables
    key = t.tasks.c.id
    refused = Refused()
    planned = rule_resets.plan(ctx, refused)
    with ctx.engine.begin() as conn:
        staged = staging_table(conn, "reset_staged")
        written = write_isolated(conn, (None, None), lambda c, p: _reset_default(c, ctx, staged, p),
                                 lambda c, p: range_halves(c, key, _due(ctx), p),
                                 lambda c, p: range_size(c, key, _due(ctx), p, "tasks"), refused)
        staged.drop(conn)
    reset, notified = sum(r for r, _ in written), sum(n for _, n in written)
    rule_reset, rule_notified = rule_resets.reset_rule_due(ctx, refused)
    with read_only(ctx.engine).connect() as conn:
        counts = _skipped(conn, ctx)
        unassigned = conn.execute(
            select(func.count()).select_from(t.tasks.join(STATE, STATE.c.task_id == key))
            .where(STATE.c.last_reset_run_id == ctx.run_id, ~has_handler(t))
        ).scalar_one()
    counts.update(reset=reset + rule_reset, notified=notified + rule_notified, rule_reset=rule_reset,
                  reset_unassigned=int(unassigned), planned=planned, refused=refused.count)
    ctx.log.info("reset_periodic_tasks: %d periodic tasks reset (%d by their own rule, %d without a handler), "
                 "%d handlers notified", reset + rule_reset, rule_reset, unassigned, notified + rule_notified)
    if counts["skipped_invalid_rule"]:
        ctx.log.warning("reset_periodic_tasks: %d tasks skipped: their recurrence rule is invalid",
                        counts["skipped_invalid_rule"])
    if counts["skipped_unknown_status"]:
        ctx.log.warning("reset_periodic_tasks: %d tasks have a status task_system.values.status does not name; "
                        "no job touches them (`taskconsole db check` lists the values)", counts["skipped_unknown_status"])
    if refused.count:
        raise RowsRefused(refused.message("periodic task"), counts)
    return counts


def preview(ctx: JobContext) -> Preview:
    t = ctx.tables
    c = t.tasks.c
    with read_only(ctx.engine).connect() as conn:
        counts = _skipped(conn, ctx)
        default = conn.execute(
            select(count_if(true()), count_if(~has_handler(t))).select_from(t.tasks).where(_due(ctx))
        ).one()
        ruled = conn.execute(
            select(count_if(true()), count_if(~has_handler(t))).select_from(with_state(t))
            .where(rule_resets.due(t, ctx.now))
        ).one()
        # Newly finished rule-driven tasks have no plan yet: work it out here, writing nothing.
        unplanned_due = unplanned_unassigned = 0
        for row in conn.execute(
            select(c.id, rule_column(t).label("recurrence"), c.expected_start_time, c.actual_end_time,
                   has_handler(t).label("handler_ok"))
            .select_from(with_state(t)).where(rule_resets.unplanned(t))
        ).yield_per(1000):
            when, error = rule_resets.plan_for(row, ctx)
            counts["skipped_invalid_rule"] += int(error is not None)
            if error is None and when <= ctx.now:
                unplanned_due += 1
                unplanned_unassigned += int(not row.handler_ok)
        counts["would_reset"] = int(default[0]) + int(ruled[0]) + unplanned_due
        counts["would_reset_unassigned"] = int(default[1]) + int(ruled[1]) + unplanned_unassigned
        samples = conn.execute(
            select(
                c.id.label("task_id"),
                c.title,
                c.status,
                rule_column(t).label("recurrence"),
                c.actual_end_time,
                c.current_handler_id.label("handler_id"),
            )
            .select_from(with_state(t))
            .where(or_(_due(ctx), rule_resets.due(t, ctx.now)))
            .order_by(c.actual_end_time, c.id)
            .limit(10)
        ).mappings().all()
    return Preview(counts=counts, samples=[dict(r) for r in samples])


RESET = JobSpec(
    id=JobId.RESET_PERIODIC_TASKS,
    name="Reset periodic tasks whose period has come round",
    short="reset periodic",
    run=run,
    preview=preview,
)
