"""The run ledger (``job_runs``): one row per execution, however it was started.

Rows are written in short transactions of their own, apart from the job's work, so a run that
fails still leaves its record.
"""

from __future__ import annotations

import getpass
import os
import socket
import time
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import Any

from sqlalchemy import Engine, and_, case, func, insert, select, union_all, update
from sqlalchemy.exc import OperationalError

from console.domain.runs import RunStatus
from console.db.engine import read_only
from console.db.models import DURATION_BUCKETS, AuditEntry, JobRun, JobRunTotal, WarningsSentTotal

HOST = socket.gethostname()
# About half a minute in all: a PostgreSQL restart takes seconds.
FINISH_RETRY_DELAYS_S = (0.5, 1, 2, 4, 8, 15)


def write_through_restart(engine: Engine, statement) -> None:
    """Execute one closing write (a run's or a command's outcome) in its own transaction; if the
    database is away for a moment (a restart), wait for it rather than lose the outcome."""
    for delay in (*FINISH_RETRY_DELAYS_S, None):
        try:
            with engine.begin() as conn:
                conn.execute(statement)
            return
        except OperationalError:
            if delay is None:
                raise
            time.sleep(delay)


def os_user() -> str:
    try:
        return getpass.getuser()
    except Exception:  # noqa: BLE001 - no name for this uid (containers)
        return f"uid:{os.getuid()}"


def utcnow() -> datetime:
    return datetime.now(timezone.utc)


@dataclass(frozen=True)
class RunRecord:
    id: int
    job_id: str
    trigger_kind: str
    status: str
    attempt: int
    scheduled_for: datetime | None
    started_at: datetime
    finished_at: datetime | None
    duration_s: float | None
    counts: dict[str, Any]
    error: str | None
    traceback: str | None
    actor: str | None
    host: str | None
    pid: int | None


def _record(row) -> RunRecord:
    return RunRecord(
        id=row.id, job_id=row.job_id, trigger_kind=row.trigger_kind, status=row.status,
        attempt=row.attempt, scheduled_for=row.scheduled_for, started_at=row.started_at,
        finished_at=row.finished_at, duration_s=row.duration_s, counts=dict(row.counts or {}),
        error=row.error, traceback=row.traceback, actor=row.actor, host=row.host, pid=row.pid,
    )


class RunLedger:
    def __init__(self, engine: Engine):
        self._engine = engine

    def start(self, job_id: str, trigger_kind: str, *, actor: str, attempt: int = 1,
              scheduled_for: datetime | None = None) -> tuple[int, datetime]:
        started = utcnow()
        with self._engine.begin() as conn:
            run_id = conn.execute(
                insert(JobRun).values(
                    job_id=job_id, trigger_kind=trigger_kind, status=RunStatus.RUNNING, attempt=attempt,
                    scheduled_for=scheduled_for, started_at=started, actor=actor, host=HOST, pid=os.getpid(),
                ).returning(JobRun.id)
            ).scalar_one()
        return run_id, started

    def finish(self, run_id: int, status: str, *, duration_s: float, counts: dict | None = None,
               error: str | None = None, traceback: str | None = None) -> None:
        """Close the run's record; if the database is away (a restart), wait for it a while so the
        run is not left ``running`` while this process lives on."""
        finished = utcnow()
        write_through_restart(self._engine, update(JobRun).where(JobRun.id == run_id).values(
            status=status, finished_at=finished, duration_s=duration_s,
            counts=counts or {}, error=error, traceback=traceback,
        ))

    def record(self, job_id: str, trigger_kind: str, status: str, *, actor: str, error: str | None = None,
               scheduled_for: datetime | None = None, attempt: int = 1) -> int:
        """A run that did not execute: missed, skipped because another was running, or failed
        before it began (it could not start; a retry cancelled by a stop or by Ctrl-C)."""
        now = utcnow()
        with self._engine.begin() as conn:
            return conn.execute(
                insert(JobRun).values(
                    job_id=job_id, trigger_kind=trigger_kind, status=status, attempt=attempt,
                    scheduled_for=scheduled_for, started_at=now, finished_at=now, duration_s=0.0,
                    counts={}, error=error, actor=actor, host=HOST, pid=os.getpid(),
                ).returning(JobRun.id)
            ).scalar_one()

    def mark_failed_for_good(self, run_id: int) -> None:
        """The run failed and no retry follows: the one that alerts (and that the metric counts)."""
        write_through_restart(self._engine, update(JobRun).where(JobRun.id == run_id).values(failed_for_good=True))

    def abandon_running(self, job_id: str, reason: str) -> int:
        """Mark runs of ``job_id`` still ``running`` as abandoned; call only while holding its lock."""
        with self._engine.begin() as conn:
            return conn.execute(
                update(JobRun)
                .where(JobRun.job_id == job_id, JobRun.status == RunStatus.RUNNING)
                .values(status=RunStatus.ABANDONED, finished_at=utcnow(), error=reason)
            ).rowcount

    def close_interrupted(self, job_id: str, error: str) -> int:
        """Close this process's run of ``job_id`` still marked running as ``failed`` with ``error``:
        for when the job's own thread could not close it in time (it is blocked in the database)."""
        with self._engine.begin() as conn:
            return conn.execute(
                update(JobRun)
                .where(JobRun.job_id == job_id, JobRun.status == RunStatus.RUNNING, JobRun.host == HOST,
                       JobRun.pid == os.getpid())
                .values(status=RunStatus.FAILED, finished_at=utcnow(), error=error)
            ).rowcount

    def get(self, run_id: int) -> RunRecord | None:
        with read_only(self._engine).connect() as conn:
            row = conn.execute(select(JobRun).where(JobRun.id == run_id)).first()
        return _record(row) if row else None

    def running(self, job_id: str) -> RunRecord | None:
        with read_only(self._engine).connect() as conn:
            row = conn.execute(
                select(JobRun).where(JobRun.job_id == job_id, JobRun.status == RunStatus.RUNNING)
                .order_by(JobRun.id.desc()).limit(1)
            ).first()
        return _record(row) if row else None

    def history(self, job_id: str | None = None, limit: int = 50) -> list[RunRecord]:
        query = select(JobRun).order_by(JobRun.id.desc()).limit(limit)
        if job_id:
            query = query.where(JobRun.job_id == job_id)
        with read_only(self._engine).connect() as conn:
            return [_record(r) for r in conn.execute(query).all()]

    def last_runs(self, job_ids: list[str]) -> dict[str, RunRecord]:
        """The newest record of each job: one statement, an indexed lookup per job."""
        if not job_ids:
            return {}
        newest = union_all(*(
            select(JobRun.id).where(JobRun.job_id == job_id).order_by(JobRun.id.desc()).limit(1).subquery().select()
            for job_id in job_ids
        )).subquery()
        with read_only(self._engine).connect() as conn:
            rows = conn.execute(select(JobRun).where(JobRun.id.in_(select(newest.c.id)))).all()
        return {row.job_id: _record(row) for row in rows}


    # -- what /metrics reads (console.service.metrics): counts that only grow -------------------------
    # Each is one statement over the live rows and what retention folded into the totals tables:
    # the fold and the delete commit together, so a statement sees a run in one place or the other.
    def finished_counts(self) -> dict[tuple[str, str, str], int]:
        """Finished runs by (job id, status, trigger kind). A run still ``running`` is not counted:
        it moves to its final status later, and a counter must never fall."""
        live = (select(JobRun.job_id, JobRun.status, JobRun.trigger_kind, func.count().label("n"))
                .where(JobRun.status != RunStatus.RUNNING).group_by(JobRun.job_id, JobRun.status, JobRun.trigger_kind))
        t = JobRunTotal
        both = union_all(live, select(t.job_id, t.status, t.trigger_kind, t.runs.label("n"))).subquery()
        with read_only(self._engine).connect() as conn:
            return {(j, s, k): int(n) for j, s, k, n in conn.execute(
                select(both.c.job_id, both.c.status, both.c.trigger_kind, func.sum(both.c.n))
                .group_by(both.c.job_id, both.c.status, both.c.trigger_kind))}

    def failed_for_good(self) -> dict[str, int]:
        """Runs that failed with no retry to follow, by job id."""
        live = (select(JobRun.job_id, func.count().label("n")).where(JobRun.failed_for_good.is_(True))
                .group_by(JobRun.job_id))
        both = union_all(live, select(JobRunTotal.job_id, JobRunTotal.failed_for_good.label("n"))).subquery()
        with read_only(self._engine).connect() as conn:
            return {j: int(n) for j, n in conn.execute(
                select(both.c.job_id, func.sum(both.c.n)).group_by(both.c.job_id))}

    def last_successes(self) -> dict[str, datetime]:
        with read_only(self._engine).connect() as conn:
            return {j: at for j, at in conn.execute(
                select(JobRun.job_id, func.max(JobRun.finished_at))
                .where(JobRun.status == RunStatus.SUCCESS).group_by(JobRun.job_id)) if at is not None}

    def duration_buckets(self) -> dict[str, tuple[list[int], int, float]]:
        """Per job, over every finished run with a duration (DURATION_BUCKETS): (runs at or under
        each bound, runs, sum of durations). Cumulative, so a histogram built on it only grows."""
        d, t = JobRun.duration_s, JobRunTotal.__table__.c
        live = (select(JobRun.job_id, func.count().label("n"), func.sum(d).label("total"),
                       *(func.sum(case((d <= b, 1), else_=0)).label(f"b{i}") for i, b in enumerate(DURATION_BUCKETS)))
                .where(d.is_not(None), JobRun.status != RunStatus.RUNNING).group_by(JobRun.job_id))
        folded = select(t.job_id, t.duration_count.label("n"), t.duration_sum.label("total"),
                        *(t[f"bucket_{i}"].label(f"b{i}") for i in range(len(DURATION_BUCKETS))))
        both = union_all(live, folded).subquery()
        with read_only(self._engine).connect() as conn:
            rows = conn.execute(select(both.c.job_id, func.sum(both.c.n), func.sum(both.c.total),
                                       *(func.sum(both.c[f"b{i}"]) for i in range(len(DURATION_BUCKETS))))
                                .group_by(both.c.job_id)).all()
        return {r[0]: ([int(n or 0) for n in r[3:]], int(r[1] or 0), float(r[2] or 0.0)) for r in rows}

    def warnings_sent(self, job_id: str, levels: list[int]) -> dict[int, int]:
        """Warnings each level has had: the ``level_<n>`` counts of the warning check's successful
        runs (not the warning ledger, whose rows go with their deleted tasks), ever."""
        ok = and_(JobRun.job_id == job_id, JobRun.status == RunStatus.SUCCESS)
        columns = [
            func.coalesce(select(func.sum(JobRun.counts[f"level_{lv}"].as_integer())).where(ok).scalar_subquery(), 0)
            + func.coalesce(select(WarningsSentTotal.sent).where(WarningsSentTotal.level == lv).scalar_subquery(), 0)
            for lv in levels]
        if not columns:
            return {}
        with read_only(self._engine).connect() as conn:
            return {lv: int(n) for lv, n in zip(levels, conn.execute(select(*columns)).one())}

def audit(engine: Engine, actor: str, action: str, job_id: str, outcome: str, detail: str | None) -> None:
    """One line in the audit: who did what to which job, from where, and how it ended."""
    with engine.begin() as conn:
        conn.execute(insert(AuditEntry).values(
            at=utcnow(), actor=actor, host=HOST, action=action, job_id=job_id, outcome=outcome, detail=detail,
        ))
