"""What ``/metrics`` exports, read from the database so that every node answers the same.

``MetricsReader.read()`` gives a ``MetricsSnapshot`` of plain numbers; the HTTP face turns it into
Prometheus text. Every series exists for every job id, status, trigger kind and warning level
from the first read (0 where nothing happened), so an alert rule never meets a missing series.
A snapshot is reused for at most ``MAX_AGE_S``; one thread reads while the others wait for it.

Counters come from ledgers that only grow: ``job_runs`` (no job deletes its rows) gives the runs,
and the warning check's own counts (``level_<n>`` of each successful run) give the warnings sent,
since cleanup deletes the warning ledger's rows of deleted tasks and a count of those would fall.
Those counts are summed once and then only the runs after the last one summed are added.
"""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass, field
from datetime import datetime
from typing import TYPE_CHECKING, Callable

from sqlalchemy import func, select

from console.db.engine import read_only
from console.db.models import JobRun
from console.domain.runs import JobId, JobState, RunStatus, TriggerKind

if TYPE_CHECKING:
    from console.service.facade import Service

MAX_AGE_S = 5.0
# The duration histogram covers each job's most recent finished runs.
RECENT_RUNS = 200
DURATION_BUCKETS = (0.1, 0.5, 1, 5, 15, 30, 60, 120, 300, 600, 1800, 3600)
WARNING_JOB = JobId.CHECK_TASK_WARNINGS.value


@dataclass(frozen=True)
class Histogram:
    buckets: list[tuple[float, int]]  # (upper bound, cumulative count), +Inf last
    count: int
    sum: float


@dataclass(frozen=True)
class MetricsSnapshot:
    read_at: datetime
    runs: dict[tuple[str, str, str], int]  # (job_id, status, trigger_kind) -> runs
    last_success: dict[str, float]  # job_id -> epoch seconds (0: never)
    next_run: dict[str, float]  # job_id -> epoch seconds (0: none scheduled)
    paused: dict[str, int]
    running: dict[str, int]
    durations: dict[str, Histogram]
    warnings_sent: dict[int, int]  # level -> warnings sent, ever
    in_level: dict[int, int]  # level -> processing tasks in that level now
    pending: dict[int, int]  # level -> in that level and not yet warned of it in their cycle
    scheduler_paused: int
    leader: tuple[str, int] | None  # (host, pid)
    nodes: dict[str, int] = field(default_factory=dict)  # role -> processes


def _histogram(durations: list[float]) -> Histogram:
    buckets = [(bound, sum(1 for d in durations if d <= bound)) for bound in DURATION_BUCKETS]
    buckets.append((float("inf"), len(durations)))
    return Histogram(buckets=buckets, count=len(durations), sum=float(sum(durations)))


class MetricsReader:
    def __init__(self, service: "Service", *, clock: Callable[[], float] = time.monotonic):
        self._service = service
        self._clock = clock  # the snapshot's age is read on it (a test passes its own)
        self._lock = threading.Lock()
        self._cached: tuple[float, MetricsSnapshot] | None = None
        # The warnings sent by the check's runs up to and including run id _summed_to.
        self._summed_to = 0
        self._sent: dict[int, int] = {}

    def read(self) -> MetricsSnapshot:
        with self._lock:
            now = self._clock()
            if self._cached is None or now - self._cached[0] >= MAX_AGE_S:
                self._cached = (now, self._read())
            return self._cached[1]

    def _read(self) -> MetricsSnapshot:
        service = self._service
        job_ids = list(service.job_names())
        levels = [lv.level for lv in service.settings.warnings.levels]
        engine = read_only(service.engine)
        with engine.connect() as conn:
            runs = {(j, s.value, k.value): 0 for j in job_ids for s in RunStatus for k in TriggerKind}
            for job_id, status, kind, n in conn.execute(
                select(JobRun.job_id, JobRun.status, JobRun.trigger_kind, func.count())
                .group_by(JobRun.job_id, JobRun.status, JobRun.trigger_kind)
            ):
                if job_id in job_ids:  # rows of a job id no longer known stay out of the labels
                    runs[(job_id, status, kind)] = int(n)
            last_success = {j: 0.0 for j in job_ids}
            for job_id, finished in conn.execute(
                select(JobRun.job_id, func.max(JobRun.finished_at))
                .where(JobRun.status == RunStatus.SUCCESS).group_by(JobRun.job_id)
            ):
                if job_id in last_success and finished is not None:
                    last_success[job_id] = finished.timestamp()
            durations = {}
            for job_id in job_ids:
                recent = conn.execute(
                    select(JobRun.duration_s).where(JobRun.job_id == job_id, JobRun.duration_s.is_not(None))
                    .order_by(JobRun.id.desc()).limit(RECENT_RUNS)
                ).scalars().all()
                durations[job_id] = _histogram([float(d) for d in recent])
            sent = self._warnings_sent(conn, levels)
        jobs = service.jobs()
        stats = service.warning_stats()
        leader, others = service.cluster()
        return MetricsSnapshot(
            read_at=service.clock(),
            runs=runs,
            last_success=last_success,
            next_run={j.id: j.next_run_time.timestamp() if j.next_run_time else 0.0 for j in jobs},
            paused={j.id: int(j.paused or j.state == JobState.PAUSED) for j in jobs},
            running={j.id: int(j.state == JobState.RUNNING) for j in jobs},
            durations=durations,
            warnings_sent=sent,
            in_level={lv: next((s.in_level for s in stats.levels if s.level == lv), 0) for lv in levels},
            pending={lv: next((s.pending for s in stats.levels if s.level == lv), 0) for lv in levels},
            scheduler_paused=int(service.scheduler_pause().paused),
            leader=(leader.host, leader.pid) if leader else None,
            nodes={"leader": 1 if leader else 0, "standby": len(others)},
        )

    def _warnings_sent(self, conn, levels: list[int]) -> dict[int, int]:
        """The warnings each level has had, from the check's successful runs. Runs up to the first
        one still running are summed for good; that one and those after it are read again next time."""
        rows = conn.execute(
            select(JobRun.id, JobRun.status, JobRun.counts)
            .where(JobRun.job_id == WARNING_JOB, JobRun.id > self._summed_to).order_by(JobRun.id)
        ).all()
        final = dict(self._sent)
        settled = True
        for run_id, status, counts in rows:
            if status == RunStatus.RUNNING:
                settled = False
                continue
            if status == RunStatus.SUCCESS and isinstance(counts, dict):
                for key, value in counts.items():
                    if key.startswith("level_") and key[6:].isdigit() and isinstance(value, int):
                        final[int(key[6:])] = final.get(int(key[6:]), 0) + value
            if settled:
                self._summed_to = run_id
                self._sent = dict(final)
        return {lv: final.get(lv, 0) for lv in levels}
