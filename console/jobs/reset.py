"""reset_periodic_tasks: periodic tasks finished at least one period ago go back to ``new``.

One UPDATE resets every due task and stamps it with this run's id; one INSERT ... SELECT then
notifies the handlers of exactly the tasks carrying that stamp. Both commit together. A second
run finds nothing due: the UPDATE's own WHERE (status finished, end long enough ago) no longer
holds, and on PostgreSQL a concurrent run re-checks it after waiting on the row lock.
"""

from __future__ import annotations

from sqlalchemy import and_, literal, null, select, true, update

from console.db.engine import read_only
from console.db.models import Task
from console.domain.rules import PERIODIC, RESETTABLE
from console.jobs.base import Counts, JobContext, JobSpec, Preview
from console.jobs.sql import count_if
from console.notify.notifications import insert_notifications


def _finished():
    return and_(Task.category == PERIODIC, Task.status.in_(RESETTABLE))


def _due(ctx: JobContext):
    cutoff = ctx.now - ctx.settings.periodic.default_period
    return and_(_finished(), Task.actual_end_time <= cutoff)


def _skipped(conn, ctx: JobContext) -> Counts:
    row = conn.execute(
        select(
            count_if(Task.actual_end_time.is_(None)).label("no_end_time"),
            count_if(and_(_due(ctx), Task.current_handler_id.is_(None))).label("no_handler"),
        ).where(_finished())
    ).one()
    return {"skipped_no_end_time": int(row.no_end_time), "skipped_no_handler": int(row.no_handler)}


def run(ctx: JobContext) -> Counts:
    period = ctx.settings.periodic.default_period
    with ctx.engine.begin() as conn:
        counts = _skipped(conn, ctx)
        reset = conn.execute(
            update(Task)
            .where(_due(ctx), Task.current_handler_id.is_not(None))
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
    counts.update(reset=reset, notified=notified)
    ctx.log.info("reset_periodic_tasks: %d periodic tasks reset, %d handlers notified", reset, notified)
    return counts


def preview(ctx: JobContext) -> Preview:
    with read_only(ctx.engine).connect() as conn:
        counts = _skipped(conn, ctx)
        due = and_(_due(ctx), Task.current_handler_id.is_not(None))
        counts["would_reset"] = int(conn.execute(select(count_if(true())).where(due)).scalar_one())
        samples = conn.execute(
            select(
                Task.id.label("task_id"),
                Task.title,
                Task.status,
                Task.actual_end_time,
                Task.current_handler_id.label("handler_id"),
                literal(ctx.now + ctx.settings.periodic.default_period, Task.expected_end_time.type).label("new_end"),
            )
            .where(due)
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
