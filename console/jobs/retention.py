"""The run history's retention (``run_history.keep``), part of cleanup_old_data.

taskconsole's own ledgers grow with every run and every operator's action: the run ledger
(``job_runs``, with each run's log lines in ``job_run_logs``), the audit of manual actions and the
finished commands. Rows older than ``keep`` are deleted in batches, each its own short
transaction. A batch of runs first folds what they counted into ``job_run_totals`` and
``warnings_sent_totals`` (runs by status, failures for good, the duration histogram, warnings
sent by level), in the same transaction as it deletes them: the metrics add those totals to the
live rows, so a counter never falls. Memory is bounded by the batch size, never by the rows.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Connection, case, delete, func, insert, select, update

from console.db.models import (DURATION_BUCKETS, AuditEntry, Delivery, JobRun, JobRunTotal, RunLogLine,
                               SchedulerCommand, WarningsSentTotal)
from console.domain.deliveries import DeliveryState
from console.domain.runs import JobId, RunStatus
from console.jobs.base import JobContext
from console.notify.outbox import add_total

_BUCKETS = range(len(DURATION_BUCKETS))


def prune(ctx: JobContext) -> dict[str, int]:
    """Delete what is older than ``run_history.keep``; the counts of what went."""
    cutoff = ctx.now - ctx.settings.run_history.keep
    size = ctx.settings.cleanup.batch_size
    runs = _in_batches(ctx, size, lambda conn, limit: _runs_batch(conn, cutoff, limit))
    audit = _in_batches(ctx, size, lambda conn, limit: _delete_ids(
        conn, AuditEntry, select(AuditEntry.id).where(AuditEntry.at < cutoff).order_by(AuditEntry.id).limit(limit)))
    done = SchedulerCommand.done_at
    commands = _in_batches(ctx, size, lambda conn, limit: _delete_ids(
        conn, SchedulerCommand, select(SchedulerCommand.id).where(done.is_not(None), done < cutoff)
        .order_by(SchedulerCommand.id).limit(limit)))
    sent = _in_batches(ctx, size, lambda conn, limit: _deliveries_batch(conn, cutoff, limit))
    if runs or audit or commands or sent:
        ctx.log.info("cleanup_old_data: %d runs, %d audited actions, %d commands and %d deliveries older than %s "
                     "deleted", runs, audit, commands, sent, cutoff.isoformat(timespec="seconds"))
    return {"deleted_runs": runs, "deleted_audit": audit, "deleted_commands": commands, "deleted_deliveries": sent}


def _old_delivery(cutoff: datetime):
    """Deliveries that ended (sent or given up) and were written before ``cutoff``."""
    return Delivery.state.in_((DeliveryState.SENT, DeliveryState.FAILED)) & (Delivery.created_at < cutoff)


def _deliveries_batch(conn: Connection, cutoff: datetime, size: int) -> int:
    """Delete a batch of old deliveries, their counts folded into delivery_totals first (issue #28)."""
    ids = conn.execute(select(Delivery.id).where(_old_delivery(cutoff)).order_by(Delivery.id).limit(size)
                       .with_for_update()).scalars().all()
    if not ids:
        return 0
    for channel, state, n in conn.execute(select(Delivery.channel, Delivery.state, func.count())
                                          .where(Delivery.id.in_(ids)).group_by(Delivery.channel, Delivery.state)):
        add_total(conn, channel, state, n)
    return conn.execute(delete(Delivery).where(Delivery.id.in_(ids)).execution_options(synchronize_session=False)).rowcount


def would_prune(conn: Connection, now: datetime, keep) -> dict[str, int]:
    """What ``prune`` would delete now (the preview)."""
    cutoff = now - keep
    done = SchedulerCommand.done_at
    return {
        "would_delete_runs": conn.execute(select(func.count()).select_from(JobRun).where(_old_run(cutoff))).scalar_one(),
        "would_delete_audit": conn.execute(select(func.count()).select_from(AuditEntry)
                                           .where(AuditEntry.at < cutoff)).scalar_one(),
        "would_delete_commands": conn.execute(select(func.count()).select_from(SchedulerCommand)
                                              .where(done.is_not(None), done < cutoff)).scalar_one(),
        "would_delete_deliveries": conn.execute(select(func.count()).select_from(Delivery)
                                                .where(_old_delivery(cutoff))).scalar_one(),
    }


def _old_run(cutoff: datetime):
    return (JobRun.status != RunStatus.RUNNING) & (func.coalesce(JobRun.finished_at, JobRun.started_at) < cutoff)


def _in_batches(ctx: JobContext, size: int, batch) -> int:
    """``batch(conn, size)`` in transactions of its own until it deletes fewer than ``size`` rows."""
    total = 0
    while not ctx.should_stop():
        with ctx.engine.begin() as conn:
            gone = batch(conn, size)
        total += gone
        if gone < size:
            break
    return total


def _delete_ids(conn: Connection, model, chosen) -> int:
    ids = conn.execute(chosen.with_for_update()).scalars().all()
    if not ids:
        return 0
    return conn.execute(delete(model).where(model.id.in_(ids)).execution_options(synchronize_session=False)).rowcount


def _runs_batch(conn: Connection, cutoff: datetime, size: int) -> int:
    ids = conn.execute(select(JobRun.id).where(_old_run(cutoff)).order_by(JobRun.id).limit(size)
                       .with_for_update()).scalars().all()
    if not ids:
        return 0
    _fold(conn, ids)
    conn.execute(delete(RunLogLine).where(RunLogLine.run_id.in_(ids)).execution_options(synchronize_session=False))
    return conn.execute(delete(JobRun).where(JobRun.id.in_(ids)).execution_options(synchronize_session=False)).rowcount


def _fold(conn: Connection, ids: list[int]) -> None:
    """Add what the runs ``ids`` counted to the totals (a few rows: one per job, status and kind)."""
    d = JobRun.duration_s
    timed = d.is_not(None)
    groups = conn.execute(
        select(JobRun.job_id, JobRun.status, JobRun.trigger_kind, func.count(),
               func.sum(case((JobRun.failed_for_good.is_(True), 1), else_=0)),
               func.sum(case((timed, 1), else_=0)), func.coalesce(func.sum(d), 0.0),
               *(func.sum(case((timed & (d <= bound), 1), else_=0)) for bound in DURATION_BUCKETS))
        .where(JobRun.id.in_(ids)).group_by(JobRun.job_id, JobRun.status, JobRun.trigger_kind)).all()
    t = JobRunTotal.__table__
    for job_id, status, kind, runs, final, timed_runs, total, *below in groups:
        key = (t.c.job_id == job_id) & (t.c.status == status) & (t.c.trigger_kind == kind)
        adds = {"runs": int(runs), "failed_for_good": int(final or 0), "duration_count": int(timed_runs or 0),
                "duration_sum": float(total or 0.0), **{f"bucket_{i}": int(below[i] or 0) for i in _BUCKETS}}
        if not conn.execute(update(t).where(key).values({c: t.c[c] + v for c, v in adds.items()})).rowcount:
            conn.execute(insert(t).values(job_id=job_id, status=status, trigger_kind=kind, **adds))
    _fold_warnings(conn, ids)


def _fold_warnings(conn: Connection, ids: list[int]) -> None:
    """The warnings the warning check's successful runs among ``ids`` sent, by level."""
    sent: dict[int, int] = {}
    for (counts,) in conn.execute(select(JobRun.counts).where(
            JobRun.id.in_(ids), JobRun.job_id == JobId.CHECK_TASK_WARNINGS, JobRun.status == RunStatus.SUCCESS)):
        for key, value in (counts or {}).items():
            if key.startswith("level_") and key[6:].isdigit() and isinstance(value, int):
                sent[int(key[6:])] = sent.get(int(key[6:]), 0) + value
    w = WarningsSentTotal
    for level, n in sent.items():
        if not conn.execute(update(w).where(w.level == level).values(sent=w.sent + n)).rowcount:
            conn.execute(insert(w).values(level=level, sent=n))
