"""reset_periodic_tasks: finished periodic tasks whose period has come round go back to ``new``.

Tasks without a rule of their own follow the settings' default period: one UPDATE resets every
due task and stamps it with this run's id; one INSERT ... SELECT then notifies the handlers of
exactly the tasks carrying that stamp. Both commit together. A second run finds nothing due:
the UPDATE's own WHERE (status finished, end long enough ago) no longer holds, and on
PostgreSQL a concurrent run re-checks it after waiting on the row lock. Tasks with a rule
(``tasks.recurrence``) are planned and reset by ``console.jobs.recurring``.

A task with no handler (or one whose user is gone) is reset all the same, without a
notification, and counted ``reset_unassigned``. A row the database refuses to write is isolated
(``console.jobs.isolate``): the others are written, and the run raises ``RowsRefused`` naming it.
"""

from __future__ import annotations

from sqlalchemy import and_, func, null, or_, select, true, update

from console.db.engine import read_only
from console.db.models import Task
from console.domain.rules import PERIODIC, RESETTABLE
from console.jobs import recurring
from console.jobs.base import Counts, JobContext, JobSpec, Preview, RowsRefused
from console.jobs.isolate import IdRange, Refused, in_range, range_halves, range_size, write_isolated
from console.jobs.sql import count_if, has_handler
from console.notify.notifications import insert_notifications

def _finished():
    return and_(Task.category == PERIODIC, Task.status.in_(RESETTABLE))


def _due(ctx: JobContext):
    """Default-rule tasks due: no rule of their own, finished a whole default period ago."""
    cutoff = ctx.now - ctx.settings.periodic.default_period
    return and_(_finished(), Task.recurrence.is_(None), Task.actual_end_time <= cutoff)


def _in(part: IdRange):
    return in_range(Task.id, part)


def _skipped(conn, ctx: JobContext) -> Counts:
    no_end_time = conn.execute(
        select(count_if(Task.actual_end_time.is_(None))).where(_finished())
    ).scalar_one()
    return {
        "skipped_no_end_time": int(no_end_time),
        "skipped_invalid_rule": recurring.counts(conn)["skipped_invalid_rule"],
    }


def _reset_default(conn, ctx: JobContext, part: IdRange) -> tuple[int, int]:
    """Reset the due default-rule tasks in ``part`` and notify their handlers; (reset, notified)."""
    period = ctx.settings.periodic.default_period
    reset = conn.execute(
        update(Task)
        .where(_due(ctx), _in(part))
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
    notified = insert_notifications(
        conn,
        ctx.settings.notifications.reset,
        select(Task.id).where(Task.last_reset_run_id == ctx.run_id, _in(part), has_handler()),
        {"title": Task.title, "task_id": Task.id},
        user_id=Task.current_handler_id,
        task_id=Task.id,
        now=ctx.now,
    )
    return reset, notified


def run(ctx: JobContext) -> Counts:
    refused = Refused()
    planned = recurring.plan(ctx, refused)
    with ctx.engine.begin() as conn:
        written = write_isolated(conn, (None, None), lambda c, p: _reset_default(c, ctx, p),
                                 lambda c, p: range_halves(c, Task.id, _due(ctx), p),
                                 lambda c, p: range_size(c, Task.id, _due(ctx), p, "tasks"), refused)
    reset, notified = sum(r for r, _ in written), sum(n for _, n in written)
    rule_reset, rule_notified = recurring.reset_due(ctx, refused)
    with read_only(ctx.engine).connect() as conn:
        counts = _skipped(conn, ctx)
        unassigned = conn.execute(
            select(func.count()).where(Task.last_reset_run_id == ctx.run_id, ~has_handler())
        ).scalar_one()
    counts.update(reset=reset + rule_reset, notified=notified + rule_notified, rule_reset=rule_reset,
                  reset_unassigned=int(unassigned), planned=planned, refused=refused.count)
    ctx.log.info("reset_periodic_tasks: %d periodic tasks reset (%d by their own rule, %d without a handler), "
                 "%d handlers notified", reset + rule_reset, rule_reset, unassigned, notified + rule_notified)
    if counts["skipped_invalid_rule"]:
        ctx.log.warning("reset_periodic_tasks: %d tasks skipped: their recurrence rule is invalid",
                        counts["skipped_invalid_rule"])
    if refused.count:
        raise RowsRefused(refused.message("periodic task"), counts)
    return counts


def preview(ctx: JobContext) -> Preview:
    with read_only(ctx.engine).connect() as conn:
        counts = _skipped(conn, ctx)
        default = conn.execute(
            select(count_if(true()), count_if(~has_handler())).where(_due(ctx))
        ).one()
        ruled = conn.execute(
            select(count_if(true()), count_if(~has_handler())).where(recurring.due(ctx.now))
        ).one()
        # Newly finished rule-driven tasks have no plan yet: work it out here, writing nothing.
        unplanned_due = unplanned_unassigned = 0
        for row in conn.execute(
            select(Task.id, Task.recurrence, Task.expected_start_time, Task.actual_end_time,
                   has_handler().label("handler_ok"))
            .where(recurring.unplanned())
        ).yield_per(1000):
            when, error = recurring.plan_for(row, ctx)
            counts["skipped_invalid_rule"] += int(error is not None)
            if error is None and when <= ctx.now:
                unplanned_due += 1
                unplanned_unassigned += int(not row.handler_ok)
        counts["would_reset"] = int(default[0]) + int(ruled[0]) + unplanned_due
        counts["would_reset_unassigned"] = int(default[1]) + int(ruled[1]) + unplanned_unassigned
        samples = conn.execute(
            select(
                Task.id.label("task_id"),
                Task.title,
                Task.status,
                Task.recurrence,
                Task.actual_end_time,
                Task.current_handler_id.label("handler_id"),
            )
            .where(or_(_due(ctx), recurring.due(ctx.now)))
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
