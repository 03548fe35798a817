"""cleanup_old_data: delete long-closed tasks and old read notifications, in batches; then
taskconsole's own run history older than ``run_history.keep`` (console.jobs.retention).

Each batch is its own short transaction. The rows are walked by id: a batch takes the next
``batch_size`` rows to delete after the last batch's last id (``SELECT ... ORDER BY id LIMIT n``,
locked ``FOR UPDATE`` on PostgreSQL, so that a task the task system reopens meanwhile is neither
deleted nor stripped of its notifications), and looks no further than ``16 * batch_size`` ids
ahead, so that a stretch of young tasks costs a few short scans, never one long one.

A task system's ``notifications.task_id`` often references ``tasks(id)`` with no ``ON DELETE``
action, so a task is only deletable without its notifications. A batch therefore deletes, in
this order and in one transaction, the notifications of its tasks (read or not: they are about a
task that is gone), taskconsole's own rows about them (warning ledger and task state, which
no key ties to the task), then the tasks. A row the database still refuses to delete (a table of the task
system's own that references the task with no cascade, a trigger) is isolated by bisecting
savepoints (``console.jobs.isolate``): the rest of the batch is deleted, the refused row is kept
with its notifications, named in a warning and counted ``skipped_referenced``, and the run
succeeds. The walk goes on past it, so no later batch of the same run tries it again; the next
run does.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime

from sqlalchemy import and_, delete, exists, func, select, true

from console.db.engine import read_only
from console.db.models import WarningSent
from console.db.task_sql import STATE, count_if, old_closed
from console.db.task_tables import has_column, is_set
from console.domain.runs import JobId
from console.jobs.base import Counts, JobContext, JobSpec, Preview
from console.jobs.retention import prune, would_prune
from console.jobs.isolate import IdRange, Refused, in_range, range_halves, range_size, write_isolated

# How far past its first id a batch looks, in batch sizes: bounds each batch's scan where the rows
# to delete are sparse (the planner may walk the primary key and filter).
SPAN = 16
# taskconsole's own rows about a task, deleted with it (no key ties them to the task system's tasks).
TASK_DEPENDENTS = tuple((table, table.c.task_id) for table in (WarningSent.__table__, STATE))


def _old_closed(ctx: JobContext):
    return old_closed(ctx.tables, ctx.now - ctx.settings.cleanup.closed_task_age)


def _old_read(ctx: JobContext):
    n = ctx.tables.notifications.c
    return and_(is_set(n.is_read), n.created_at < ctx.now - ctx.settings.cleanup.read_notification_age)


def _ages_notifications(ctx: JobContext) -> bool:
    """Read notifications are deleted by age only where the mapping gives them a created_at."""
    return has_column(ctx.tables, "notifications", "created_at")


@dataclass
class _Phase:
    """One kind of row to delete: ``table`` rows where ``condition`` holds, and rows of other
    tables pointing at them, deleted first in the same transaction."""

    table: object
    condition: object
    noun: str  # singular, for the refusal message
    what: str  # plural, for the log
    dependents: tuple = ()  # (table, column referencing table.c.id)


@dataclass
class _Outcome:
    rows: int = 0
    dependents: int = 0  # rows of the first dependent table (notifications of deleted tasks)
    batches: int = 0
    stopped: bool = False
    refused: Refused = field(default_factory=Refused)


def _delete_part(conn, phase: _Phase, part: IdRange) -> tuple[int, int]:
    """Delete the rows of ``part`` and what points at them; (rows, rows of the first dependent)."""
    key = phase.table.c.id
    first = 0
    for i, (table, column) in enumerate(phase.dependents):
        # Each table is read by its index on the key over the part's range alone, and each row found
        # checked against its task (correlated: SQLite would otherwise collect the tasks first, every time).
        chosen = exists().where(key == column, phase.condition)
        gone = conn.execute(delete(table).where(in_range(column, part), chosen)
                            .execution_options(synchronize_session=False))
        if i == 0:
            first = gone.rowcount
    rows = conn.execute(
        delete(phase.table).where(phase.condition, in_range(key, part)).execution_options(synchronize_session=False)
    ).rowcount
    return rows, first


def _delete_in_batches(ctx: JobContext, phase: _Phase) -> _Outcome:
    size = ctx.settings.cleanup.batch_size
    key = phase.table.c.id
    out = _Outcome()
    with read_only(ctx.engine).connect() as conn:
        # Two scalar subqueries: SQLite answers each from the key's index, not a pair in one scan.
        low, high = conn.execute(select(select(func.min(key)).scalar_subquery(),
                                        select(func.max(key)).scalar_subquery())).one()
    if low is None:
        return out
    # Up to the last id there is now: rows written during the run wait for the next one.
    after = low - 1  # every id up to here has been dealt with
    last_log = datetime.now().timestamp()
    while after < high:
        if ctx.should_stop():
            ctx.log.info("cleanup_old_data: stopping early after %d %s", out.rows, phase.what)
            out.stopped = True
            break
        limit = min(after + size * SPAN, high)
        batch = (select(key.label("id")).where(phase.condition, key > after, key <= limit)
                 .order_by(key).limit(size).with_for_update().subquery())
        with ctx.engine.begin() as conn:
            found, last = conn.execute(select(func.count(), func.max(batch.c.id))).one()
            if found:
                written = write_isolated(
                    conn, (after + 1, last), lambda c, p: _delete_part(c, phase, p),
                    lambda c, p: range_halves(c, key, phase.condition, p),
                    lambda c, p: range_size(c, key, phase.condition, p, phase.what), out.refused)
        # A full batch may have more rows to its limit; a short one has none.
        after = last if found == size else limit
        if not found:
            continue
        deleted = sum(r for r, _ in written)
        out.rows += deleted
        out.dependents += sum(d for _, d in written)
        out.batches += 1
        now = datetime.now().timestamp()
        if now - last_log >= 2:
            ctx.log.info("cleanup_old_data: %d %s deleted so far", out.rows, phase.what)
            last_log = now
    if out.refused.count:
        ctx.log.warning("cleanup_old_data: %s; kept, and tried again at the next run",
                        out.refused.message(phase.noun, verb="delete"))
    return out


def run(ctx: JobContext) -> Counts:
    n = ctx.tables.notifications
    tasks = _delete_in_batches(ctx, _Phase(ctx.tables.tasks, _old_closed(ctx), "closed task", "closed tasks",
                                           ((n, n.c.task_id),) + TASK_DEPENDENTS))
    notes = _Outcome()
    if not tasks.stopped and _ages_notifications(ctx):
        notes = _delete_in_batches(ctx, _Phase(n, _old_read(ctx), "read notification", "read notifications"))
    counts = {
        "deleted_tasks": tasks.rows,
        "deleted_task_notifications": tasks.dependents,
        "deleted_notifications": notes.rows,
        "skipped_referenced": tasks.refused.count + notes.refused.count,
        "batches": tasks.batches + notes.batches,
    }
    if not (tasks.stopped or notes.stopped):
        counts.update(prune(ctx))  # taskconsole's own ledgers (run_history.keep)
    if tasks.stopped or notes.stopped or ctx.should_stop():
        counts["stopped_early"] = 1
    ctx.log.info("cleanup_old_data: %d closed tasks (with %d notifications) and %d read notifications deleted",
                 tasks.rows, tasks.dependents, notes.rows)
    return counts


def preview(ctx: JobContext) -> Preview:
    t = ctx.tables
    c, n = t.tasks.c, t.notifications
    with read_only(ctx.engine).connect() as conn:
        tasks = int(conn.execute(select(count_if(true())).select_from(t.tasks).where(_old_closed(ctx))).scalar_one())
        task_notes = int(conn.execute(
            select(count_if(true())).select_from(n)
            .where(n.c.task_id.in_(select(c.id).where(_old_closed(ctx))))
        ).scalar_one())
        notes = int(
            conn.execute(select(count_if(true())).select_from(n).where(_old_read(ctx))).scalar_one()
        ) if _ages_notifications(ctx) else 0
        samples = conn.execute(
            select(c.id.label("task_id"), c.title, c.updated_at)
            .where(_old_closed(ctx))
            .order_by(c.updated_at, c.id)
            .limit(10)
        ).mappings().all()
        history = would_prune(conn, ctx.now, ctx.settings.run_history.keep)
    return Preview(
        counts={"would_delete_tasks": tasks, "would_delete_task_notifications": task_notes,
                "would_delete_notifications": notes, **history},
        samples=[dict(r) for r in samples],
    )


CLEANUP = JobSpec(
    id=JobId.CLEANUP_OLD_DATA,
    name="Delete long-closed tasks and old read notifications",
    short="delete old data",
    run=run,
    preview=preview,
)
