"""cleanup_old_data: delete long-closed tasks and old read notifications, in batches.

Each batch is its own short transaction (``DELETE ... WHERE id IN (SELECT id ... LIMIT n)``), so
no lock is held for long and the other jobs keep running. Deleting a task sets ``task_id`` of
its notifications to NULL and drops its warning-ledger rows (foreign keys), so notifications
that still point at a deleted task never make the cleanup fail.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import and_, delete, select, true

from console.db.engine import read_only
from console.db.models import Notification, Task
from console.jobs.base import Counts, JobContext, JobSpec, Preview
from console.jobs.sql import count_if


def _old_closed(ctx: JobContext):
    return and_(Task.status == "closed", Task.updated_at < ctx.now - ctx.settings.cleanup.closed_task_age)


def _old_read(ctx: JobContext):
    return and_(
        Notification.is_read.is_(True),
        Notification.created_at < ctx.now - ctx.settings.cleanup.read_notification_age,
    )


def _delete_in_batches(ctx: JobContext, model, condition, what: str) -> tuple[int, int, bool]:
    """Delete rows matching ``condition`` a batch per transaction; (rows, batches, stopped)."""
    size = ctx.settings.cleanup.batch_size
    total = batches = 0
    last_log = datetime.now().timestamp()
    while True:
        if ctx.should_stop():
            ctx.log.info("cleanup_old_data: stopping early after %d %s", total, what)
            return total, batches, True
        batch = select(model.id).where(condition).limit(size).scalar_subquery()
        with ctx.engine.begin() as conn:
            deleted = conn.execute(
                delete(model).where(model.id.in_(batch)).execution_options(synchronize_session=False)
            ).rowcount
        if deleted <= 0:
            return total, batches, False
        total += deleted
        batches += 1
        now = datetime.now().timestamp()
        if now - last_log >= 2 or deleted < size:
            ctx.log.info("cleanup_old_data: %d %s deleted so far", total, what)
            last_log = now


def run(ctx: JobContext) -> Counts:
    tasks, task_batches, stopped = _delete_in_batches(ctx, Task, _old_closed(ctx), "closed tasks")
    notes, note_batches = 0, 0
    if not stopped:
        notes, note_batches, stopped = _delete_in_batches(ctx, Notification, _old_read(ctx), "read notifications")
    counts = {
        "deleted_tasks": tasks,
        "deleted_notifications": notes,
        "batches": task_batches + note_batches,
    }
    if stopped:
        counts["stopped_early"] = 1
    ctx.log.info("cleanup_old_data: %d closed tasks and %d read notifications deleted", tasks, notes)
    return counts


def preview(ctx: JobContext) -> Preview:
    with read_only(ctx.engine).connect() as conn:
        tasks = int(conn.execute(select(count_if(true())).select_from(Task).where(_old_closed(ctx))).scalar_one())
        notes = int(
            conn.execute(select(count_if(true())).select_from(Notification).where(_old_read(ctx))).scalar_one()
        )
        samples = conn.execute(
            select(Task.id.label("task_id"), Task.title, Task.updated_at)
            .where(_old_closed(ctx))
            .order_by(Task.updated_at, Task.id)
            .limit(10)
        ).mappings().all()
    return Preview(
        counts={"would_delete_tasks": tasks, "would_delete_notifications": notes},
        samples=[dict(r) for r in samples],
    )


CLEANUP = JobSpec(
    id="cleanup_old_data",
    name="Delete long-closed tasks and old read notifications",
    short="delete old data",
    run=run,
    preview=preview,
)
