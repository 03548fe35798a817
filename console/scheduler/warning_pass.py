"""The leader's frequent look for warning thresholds crossed since its last look.

The design document's warning check runs on the hour, so a warning could arrive 59 minutes after
its threshold. Every ``warnings.check_every`` (default one minute) the leader asks only for the
tasks whose threshold instant (or deadline) lies between its last look and now: through ``db
tune``'s index on each level's instant, a range scan of the few tasks that crossed. What it finds
is warned exactly as the hourly check warns (``console.jobs.warnings.write_warnings``: the same
ledger, the same unique key, so the two never send a level twice, even at the same moment). The
hourly run still sweeps everything: a moved deadline, a task created already past a threshold.

A pass is one transaction: its run of check_task_warnings (trigger kind ``precise``), the
warnings and notifications, and ``warning_pass`` (when it looked, from when, what it sent). A pass
that sent nothing leaves no run in the ledger (a run a minute of nothing would bury the runs that
matter) but still moves ``warning_pass`` on. The next pass, in this process or in the next leader
after a hand-over, looks from the stored instant, at most ``MAX_LOOKBACK`` back: a threshold
crossed while no process led is warned at the first look.
"""

from __future__ import annotations

import logging
import os
import time
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import Connection, delete, insert, select, update

from console.db.models import JobRun, WarningPass
from console.db.single_row import ROW_ID, put_row
from console.db.task_tables import tables_for
from console.domain.runs import JobId, RunStatus, TriggerKind
from console.jobs.base import JobContext
from console.jobs.warnings import any_crossed, keep_visible, write_warnings
from console.scheduler.ledger import HOST

log = logging.getLogger("console.scheduler")

JOB = str(JobId.CHECK_TASK_WARNINGS)
# A process that has not looked for longer (none led for a day) leaves the rest to the hourly sweep.
MAX_LOOKBACK = timedelta(hours=24)


@dataclass(frozen=True)
class PassResult:
    looked_at: datetime
    since: datetime
    sent: int
    run_id: int | None  # the run recorded, None when nothing was sent
    duration_s: float


def last_pass(conn: Connection) -> PassResult | None:
    row = conn.execute(select(WarningPass).where(WarningPass.id == ROW_ID)).first()
    if row is None:
        return None
    return PassResult(row.looked_at, row.since, row.sent, row.run_id, row.duration_s)


def next_pass_at(now: datetime, every: timedelta) -> datetime:
    """The next multiple of ``every`` counted from the epoch (with every: PT1M, on each minute)."""
    step = every.total_seconds()
    stamp = now.timestamp()
    return datetime.fromtimestamp((stamp // step + 1) * step, now.tzinfo)


def look(runner, now: datetime | None = None) -> PassResult:
    """One pass (``runner``: the process's JobRunner, for its engine, settings, clock, run logs and
    event bus). Raises what the database raises; nothing is then written, and the next pass looks
    from the same instant."""
    engine, settings = runner.engine, runner.settings
    now = now or runner.clock()
    began = time.perf_counter()
    tables = tables_for(engine, settings)
    with engine.begin() as conn:
        before = last_pass(conn)
        if before is not None:
            since = before.looked_at
        else:  # the first look ever: from the last check that swept everything
            since = conn.execute(select(JobRun.started_at).where(
                JobRun.job_id == JOB, JobRun.status == RunStatus.SUCCESS).order_by(JobRun.id.desc()).limit(1)
            ).scalar() or now - (settings.warnings.check_every or MAX_LOOKBACK)
        since = max(min(since, now), now - MAX_LOOKBACK)
        ctx = JobContext(engine=engine, settings=settings, now=now, run_id=-1, tables=tables,
                         log=logging.getLogger("console.jobs"))
        sent, run_id = 0, None
        if any_crossed(conn, ctx, since):  # most passes stop here: nothing crossed
            ctx.run_id = run_id = conn.execute(insert(JobRun).values(
                job_id=JOB, trigger_kind=TriggerKind.PRECISE, status=RunStatus.RUNNING, attempt=1, started_at=now,
                actor="scheduler", host=HOST, pid=os.getpid()).returning(JobRun.id)).scalar_one()
            counts = write_warnings(conn, ctx, crossed_since=since)
            sent = counts.pop("sent")
            if sent:
                conn.execute(update(JobRun).where(JobRun.id == run_id).values(
                    status=RunStatus.SUCCESS, finished_at=runner.clock(),
                    duration_s=time.perf_counter() - began, counts=counts))
            else:  # crossed, but warned already (by the hourly check) or ahead in its work
                conn.execute(delete(JobRun).where(JobRun.id == run_id))
                run_id = None
        duration = time.perf_counter() - began
        values = dict(looked_at=now, since=since, sent=sent, run_id=run_id, duration_s=duration,
                      host=HOST[:255], pid=os.getpid())
        put_row(conn, WarningPass, values)
    result = PassResult(now, since, sent, run_id, duration)
    if run_id is not None:
        keep_visible(ctx)
        with runner.run_logs.capturing(run_id, JOB):
            log.info("job %s: %d warning(s) whose threshold passed since %s sent at once (%s) in %.3f s",
                     JOB, counts["notified"], since.isoformat(timespec="seconds"),
                     ", ".join(f"{k}={v}" for k, v in counts.items()), duration)
        runner.bus.publish({"event": "run_finished", "job_id": JOB, "run_id": run_id, "status": RunStatus.SUCCESS})
    return result
