"""reset_periodic_tasks: finished periodic tasks whose period has come round go back to ``new``.

Tasks without a rule of their own follow the settings' default period: one UPDATE resets every
due task and stamps it with this run's id; one INSERT ... SELECT then notifies the handlers of
exactly the tasks carrying that stamp. Both commit together. A second run finds nothing due:
the UPDATE's own WHERE (status finished, end long enough ago) no longer holds, and on
PostgreSQL a concurrent run re-checks it after waiting on the row lock. Tasks with a rule
(``tasks.recurrence``) are planned and reset by ``console.jobs.recurring``.
"""

from __future__ import annotations

from sqlalchemy import and_, null, or_, select, true, update

from console.db.engine import read_only
from console.db.models import Task
from console.domain.rules import PERIODIC, RESETTABLE
from console.jobs import recurring
from console.jobs.base import Counts, JobContext, JobSpec, Preview
from console.jobs.sql import count_if, has_handler
from console.notify.notifications import insert_notifications


def _finished():
    return and_(Task.category == PERIODIC, Task.status.in_(RESETTABLE))


def _due(ctx: JobContext):
    """Default-rule tasks due: no rule of their own, finished a whole default period ago."""
    cutoff = ctx.now - ctx.settings.periodic.default_period
    return and_(_finished(), Task.recurrence.is_(None), Task.actual_end_time <= cutoff)


def _skipped(conn, ctx: JobContext) -> Counts:
    row = conn.execute(
        select(
            count_if(Task.actual_end_time.is_(None)).label("no_end_time"),
            count_if(and_(_due(ctx), ~has_handler())).label("no_handler"),
        ).where(_finished())
    ).one()
    ruled = recurring.counts(conn, ctx.now)
    return {
        "skipped_no_end_time": int(row.no_end_time),
        "skipped_no_handler": int(row.no_handler) + ruled["skipped_no_handler"],
        "skipped_invalid_rule": ruled["skipped_invalid_rule"],
    }


def run(ctx: JobContext) -> Counts:
    period = ctx.settings.periodic.default_period
    planned = recurring.plan(ctx)
    with ctx.engine.begin() as conn:
        reset = conn.execute(
            update(Task)
            .where(_due(ctx), has_handler())
            .values(
                status="new",
                progress=0,
                time_progress=0,
                actual_start_time=null(),
                actual_end_time=null(),
                expected_start_time=ctx.now,
                expected_end_time=ctx.now + period,
                updated_at=ctx.now,
                last_reset_run_id=ctx.run_id,
            )
            .execution_options(synchronize_session=False)
        ).rowcount
        rows = select(Task.id).where(Task.last_reset_run_id == ctx.run_id)
        notified = insert_notifications(
            conn,
            ctx.settings.notifications.reset,
            rows,
            {"title": Task.title, "task_id": Task.id},
            user_id=Task.current_handler_id,
            task_id=Task.id,
            now=ctx.now,
        )
    rule_reset, rule_notified = recurring.reset_due(ctx)
    with read_only(ctx.engine).connect() as conn:
        counts = _skipped(conn, ctx)
    counts.update(reset=reset + rule_reset, notified=notified + rule_notified, rule_reset=rule_reset,
                  planned=planned)
    ctx.log.info("reset_periodic_tasks: %d periodic tasks reset (%d by their own rule), %d handlers notified",
                 reset + rule_reset, rule_reset, notified + rule_notified)
    if counts["skipped_invalid_rule"]:
        ctx.log.warning("reset_periodic_tasks: %d tasks skipped: their recurrence rule is invalid",
                        counts["skipped_invalid_rule"])
    return counts


def preview(ctx: JobContext) -> Preview:
    with read_only(ctx.engine).connect() as conn:
        counts = _skipped(conn, ctx)
        due = and_(_due(ctx), has_handler())
        default_due = int(conn.execute(select(count_if(true())).where(due)).scalar_one())
        ruled_due = int(conn.execute(
            select(count_if(true())).where(recurring.due(ctx.now), has_handler())
        ).scalar_one())
        # Newly finished rule-driven tasks have no plan yet: work it out here, writing nothing.
        unplanned_due = 0
        for row in conn.execute(
            select(Task.id, Task.recurrence, Task.expected_start_time, Task.actual_end_time,
                   has_handler().label("handler_ok"))
            .where(recurring.unplanned())
        ).yield_per(1000):
            when, error = recurring.plan_for(row, ctx)
            counts["skipped_invalid_rule"] += int(error is not None)
            unplanned_due += int(error is None and when <= ctx.now and row.handler_ok)
        counts["would_reset"] = default_due + ruled_due + unplanned_due
        samples = conn.execute(
            select(
                Task.id.label("task_id"),
                Task.title,
                Task.status,
                Task.recurrence,
                Task.actual_end_time,
                Task.current_handler_id.label("handler_id"),
            )
            .where(or_(due, and_(recurring.due(ctx.now), has_handler())))
            .order_by(Task.actual_end_time, Task.id)
            .limit(10)
        ).mappings().all()
    return Preview(counts=counts, samples=[dict(r) for r in samples])


RESET = JobSpec(
    id="reset_periodic_tasks",
    name="Reset periodic tasks whose period has come round",
    short="reset periodic",
    run=run,
    preview=preview,
)
