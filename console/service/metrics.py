"""What ``/metrics`` exports, read from the database so that every node answers the same.

``MetricsReader.read()`` gives a ``MetricsSnapshot`` of plain numbers; the HTTP face turns it into
Prometheus text. Every series exists for every job id, status, trigger kind and warning level
from the first read (0 where nothing happened), so an alert rule never meets a missing series.
A snapshot is reused for at most ``MAX_AGE_S``; one thread reads while the others wait for it.

Counters and histograms only ever grow for the life of a series: the runs and the duration
histogram count finished runs of the run ledger over all time (a run still ``running`` is in the
``job_running`` gauge, not in a counter, since it changes status later); the warnings sent come
from the warning check's own counts (``level_<n>`` of each successful run), since cleanup deletes
the warning ledger's rows of deleted tasks and a count of those would fall. What runs deleted by
the run history's retention counted is kept in totals tables and added (console.scheduler.ledger).

The reader knows the run ledger (``RunLedger``) and a few plain callables (``MetricsSources``) the
service hands it; it knows nothing else of the service.
"""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Callable

from console.domain.runs import JobId, JobState, RunStatus, TriggerKind
from console.db.models import DURATION_BUCKETS
from console.scheduler.ledger import RunLedger

MAX_AGE_S = 5.0
WARNING_JOB = JobId.CHECK_TASK_WARNINGS.value
# The statuses a finished run ends in: the run counter's labels (RUNNING is the job_running gauge).
FINISHED = tuple(s for s in RunStatus if s != RunStatus.RUNNING)


@dataclass(frozen=True)
class Histogram:
    buckets: list[tuple[float, int]]  # (upper bound, cumulative count), +Inf last
    count: int
    sum: float


@dataclass(frozen=True)
class MetricsSnapshot:
    read_at: datetime
    runs: dict[tuple[str, str, str], int]  # (job_id, status, trigger_kind) -> finished runs
    last_success: dict[str, float]  # job_id -> epoch seconds (0: never)
    next_run: dict[str, float]  # job_id -> epoch seconds (0: none scheduled)
    paused: dict[str, int]
    running: dict[str, int]
    durations: dict[str, Histogram]
    warnings_sent: dict[int, int]  # level -> warnings sent, ever
    in_level: dict[int, int]  # level -> processing tasks in that level now, with a handler or not
    pending: dict[int, int]  # level -> in that level, with a handler, not yet warned of it in their cycle
    scheduler_paused: int
    leader: tuple[str, int] | None  # (host, pid)
    nodes: dict[str, int] = field(default_factory=dict)  # role -> processes
    leader_changes: int = 0  # processes that took the lead, ever
    leader_since: float = 0.0  # epoch seconds the current leader took the lead (0: none leads)
    failed_for_good: dict[str, int] = field(default_factory=dict)  # job_id -> runs no retry followed
    schema_fenced: int = 0  # 1 while the schema fence holds this node back
    no_handler: dict[int, int] = field(default_factory=dict)  # level -> of in_level, those nobody is warned of
    deliveries: dict[tuple[str, str], int] = field(default_factory=dict)  # (channel, sent|failed) -> ever
    delivery_backlog: dict[str, int] = field(default_factory=dict)  # channel -> pending or sending now


@dataclass(frozen=True)
class MetricsSources:
    """What the metrics read besides the run ledger, as plain callables (the service's)."""

    job_ids: Callable[[], list[str]]
    levels: Callable[[], list[int]]
    jobs: Callable[[], list[Any]]  # each with id, next_run_time, paused, state
    warning_stats: Callable[[], Any]  # .levels: each with level, in_level, pending, no_handler
    cluster: Callable[[], tuple[Any, list[Any]]]  # (leader with host, pid, leader_since; the others)
    scheduler_paused: Callable[[], bool]
    leader_changes: Callable[[], int]
    schema_fenced: Callable[[], bool]
    clock: Callable[[], datetime]
    # ({(channel, state): deliveries that ended so, ever}, {channel: backlog now}) (issue #28)
    deliveries: Callable[[], tuple[dict[tuple[str, str], int], dict[str, int]]] = lambda: ({}, {})


def _histogram(below: list[int], count: int, total: float) -> Histogram:
    return Histogram(buckets=list(zip(DURATION_BUCKETS, below)) + [(float("inf"), count)], count=count, sum=total)


class MetricsReader:
    def __init__(self, ledger: RunLedger, sources: MetricsSources, *, clock: Callable[[], float] = time.monotonic):
        self._ledger, self._sources = ledger, sources
        self._clock = clock  # the snapshot's age is read on it (a test passes its own)
        self._lock = threading.Lock()
        self._cached: tuple[float, MetricsSnapshot] | None = None

    def read(self) -> MetricsSnapshot:
        with self._lock:
            now = self._clock()
            if self._cached is None or now - self._cached[0] >= MAX_AGE_S:
                self._cached = (now, self._read())
            return self._cached[1]

    def _read(self) -> MetricsSnapshot:
        src, ledger = self._sources, self._ledger
        if src.schema_fenced():
            # A schema this release does not know (a rollback, an upgrade under it): its tables may
            # not be there. Only the fence is said; the counters' series pause rather than fall.
            return MetricsSnapshot(read_at=src.clock(), runs={}, last_success={}, next_run={}, paused={}, running={},
                                   durations={}, warnings_sent={}, in_level={}, pending={}, scheduler_paused=0,
                                   leader=None, schema_fenced=1)
        job_ids = list(src.job_ids())
        levels = list(src.levels())
        runs = {(j, s.value, k.value): 0 for j in job_ids for s in FINISHED for k in TriggerKind}
        for key, n in ledger.finished_counts().items():
            if key in runs:  # rows of a job id (or word) no longer known stay out of the labels
                runs[key] = n
        successes = ledger.last_successes()
        last_success = {j: successes[j].timestamp() if j in successes else 0.0 for j in job_ids}
        found = ledger.duration_buckets()
        empty = ([0] * len(DURATION_BUCKETS), 0, 0.0)
        durations = {j: _histogram(*found.get(j, empty)) for j in job_ids}
        final = ledger.failed_for_good()
        sent = ledger.warnings_sent(WARNING_JOB, levels)
        jobs = src.jobs()
        stats = src.warning_stats()
        leader, others = src.cluster()
        delivered, backlog = src.deliveries()
        return MetricsSnapshot(
            read_at=src.clock(),
            runs=runs,
            last_success=last_success,
            next_run={j.id: j.next_run_time.timestamp() if j.next_run_time else 0.0 for j in jobs},
            paused={j.id: int(j.paused or j.state == JobState.PAUSED) for j in jobs},
            running={j.id: int(j.state == JobState.RUNNING) for j in jobs},
            durations=durations,
            warnings_sent=sent,
            in_level={lv: next((s.in_level for s in stats.levels if s.level == lv), 0) for lv in levels},
            pending={lv: next((s.pending for s in stats.levels if s.level == lv), 0) for lv in levels},
            no_handler={lv: next((s.no_handler for s in stats.levels if s.level == lv), 0) for lv in levels},
            scheduler_paused=int(src.scheduler_paused()),
            leader=(leader.host, leader.pid) if leader else None,
            nodes={"leader": 1 if leader else 0, "standby": len(others)},
            leader_changes=src.leader_changes(),
            leader_since=leader.leader_since.timestamp() if leader and leader.leader_since else 0.0,
            failed_for_good={j: final.get(j, 0) for j in job_ids},
            deliveries=delivered,
            delivery_backlog=backlog,
        )
