"""``Service``: what an operator can see and do, whichever face they use.

The faces (console, command line, HTTP API) reach the scheduler, the jobs and the database only
through it. What they see is here; what they do (run, pause, resume, whoever leads) is in
``console.service.operations``. Times leave the service in UTC: each face converts them for
display once. The scheduler-wide pause is stored in the database (``scheduler_pause``) and
obeyed by whichever process leads, now or later.
"""

from __future__ import annotations

import logging
import os
from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import Callable

from sqlalchemy import Engine, text

from console.db import schema
from console.db.engine import describe_error, make_engine, read_only
from console.domain.runs import Action, JobId, JobState, Outcome, RunStatus, SchedulerState
from console.db.mapping_check import check_mapping
from console.db.task_tables import TaskTables, tables_for
from console.jobs import JOBS, JobContext
from console.jobs.base import Preview
from console.scheduler.bus import EventBus
from console.scheduler.ledger import RunRecord, os_user, utcnow
from console.scheduler.command_queue import CommandQueue
from console.scheduler.live import LiveScheduler
from console.scheduler.node import Node, NodeInfo, cluster, leader_changes
from console.scheduler.pause import store_pause, stored_pause
from console.scheduler.runner import JobRunner, UnknownJob
from console.scheduler.schedule_table import ScheduleTable
from console.scheduler.schedulers import table_scheduler
from console.scheduler.triggers import build_trigger, describe, signature
from console.scheduler.warning_pass import PassResult, last_pass
from console.service import task_rules
from console.service.dashboard import WarningStats
from console.scheduler.run_logs import LogLine, last_line_id, log_tail, run_log
from console.service.history import AuditLine, SentNote, audit_lines, count_sent_notes, sent_notes
from console.service.near import NearTasks, near_tasks
from console.service.forecast import Forecast
from console.service.metrics import MetricsReader, MetricsSources
from console.service.operations import Operations
from console.service.readings import SLOW_STATS_S, UNTUNED_STATS_EVERY_S, Readings
from console.service.deliveries import Deliveries
from console.service.tokens import Tokens
from console.settings import Settings

log = logging.getLogger("console.service")
DIRECT_DRAIN_S = 3.0
DELIVER_UNLED_S = 15.0  # a command-line run's alerts, with no leader to send them


@dataclass(frozen=True)
class Dashboard:
    """Everything the console's main screen shows, read in one go off the UI thread."""

    now: datetime
    scheduler_state: str
    database: str  # ok | down
    redis: str  # ok | down | off
    jobs: list["JobInfo"] = field(default_factory=list)
    warnings: WarningStats | None = None
    near: NearTasks = field(default_factory=NearTasks)
    error: str | None = None
    leader: NodeInfo | None = None  # the process leading the scheduler, wherever it runs
    # Tasks whose status task_system.values does not name: no job touches them (counted once a minute).
    unclassified: int = 0
    # How often the warning counts are read, where not at every refresh (a read of many tasks).
    warnings_every_s: float | None = None
    # Whether db tune's index for the counts is missing (the console suggests it).
    warnings_untuned: bool = False
    # Set by the console: the rows shown are from before a refresh that failed at this time.
    stale_since: datetime | None = None
    # Why the schema fence holds this process back (None: it does not).
    fenced: str | None = None
    # Warnings falling due in the next 24 hours (read at most once a minute: console.service.forecast).
    forecast: Forecast | None = None


PAUSED_BY_JOB, PAUSED_BY_SCHEDULER = "job", "scheduler"
# Said beside a job whose stored trigger is not its settings' (JobInfo.schedule_differs).
SCHEDULE_DIFFERS = "schedule differs from settings: re-synced when a leader starts"


@dataclass(frozen=True)
class JobInfo:
    id: str
    name: str
    trigger: str
    enabled: bool
    paused: bool
    next_run_time: datetime | None  # UTC
    state: JobState
    last_run: RunRecord | None
    # Who holds it: None, "job" (paused or disabled itself) or "scheduler" (the whole scheduler is).
    paused_by: str | None = None
    # check_task_warnings only: the leader's last look for thresholds crossed (warnings.check_every).
    last_pass: PassResult | None = None
    # The job store's trigger (what fires, and what ``trigger`` says) is not the settings' (whose
    # words are ``settings_trigger``): the store is re-synced when a leader starts with these settings.
    schedule_differs: bool = False
    settings_trigger: str = ""


class Service(Readings, Operations):
    def __init__(self, settings: Settings, engine: Engine, *, bus: EventBus | None = None,
                 clock: Callable[[], datetime] = utcnow, run_wait_s: float = 3.0, slow_stats_s: float = SLOW_STATS_S):
        self.settings = settings
        self.engine = engine
        self.run_wait_s = run_wait_s  # how long request_run waits for a leader to take the run
        # A warning-count read slower than this is repeated at most every UNTUNED_STATS_EVERY_S (a
        # test that draws the screen passes its own: a loaded machine must not change the picture).
        self.slow_stats_s = slow_stats_s
        self.bus = bus or EventBus(settings.redis.url)
        self.clock = clock
        self.runner = JobRunner(settings, engine, bus=self.bus, clock=clock)
        self.node: Node | None = None
        self._store: ScheduleTable | None = None
        self.commands = CommandQueue(engine)
        self.tokens = Tokens(engine, settings)
        self.deliveries = Deliveries(engine, settings)
        self.metrics = self.metrics_reader()
        self.init_readings()

    def metrics_reader(self, **options) -> MetricsReader:
        """A reader of what /metrics exports (``self.metrics`` is this process's); ``options``:
        MetricsReader's (its clock)."""
        return MetricsReader(self.runner.ledger, MetricsSources(
            job_ids=lambda: list(self.job_names()),
            levels=lambda: [lv.level for lv in self.settings.warnings.levels],
            jobs=self.jobs, warning_stats=self.warning_stats, cluster=self.cluster,
            scheduler_paused=lambda: self.scheduler_pause().paused,
            leader_changes=lambda: leader_changes(self.engine),
            schema_fenced=lambda: self.schema_fence() is not None, clock=self.clock,
            deliveries=self.deliveries.counts), **options)

    # -- the scheduler in this process -------------------------------------------------------
    def start_scheduler(self, *, paused: bool = False, kind: str = "console",
                        on_change: Callable[[str], None] | None = None) -> Node:
        """Join the scheduler election: lead at once if nobody else does, else stand by.

        ``on_change`` is called (on the node's thread) with ``leader`` or ``standby`` whenever this
        process's role changes after the start.
        """
        if paused:
            # Stored like any other scheduler-wide pause: whoever leads obeys it.
            store_pause(self.engine, True, os_user())
        # After each warning pass, the leader counts the levels and the forecast once for every reader.
        self.runner.after_pass = self.refresh_outlook
        node = Node(self.runner, kind, on_change=on_change, start_paused=paused)
        # A command queued by an attached console wakes the leader at once when Redis carries it.
        self.bus.add_listener(lambda event: node.wake() if event.get("event") == "command" else None)
        self.bus.receive_remote()
        node.start()
        # Published only once started: until then pause and resume go to the store's rows.
        self.node = node
        self._store = None
        return node

    def stop_scheduler(self) -> None:
        if self.node is not None:
            self.node.stop()
        self.runner.run_logs.close()
        # Alerts sent straight (the outbox's database failed) get a moment to leave.
        self.runner.direct.drain(DIRECT_DRAIN_S)
        self.bus.close()

    @property
    def live(self) -> LiveScheduler | None:
        return self.node.live if self.node is not None else None

    @property
    def leading(self) -> bool:
        """This process runs the scheduler now."""
        return self.live is not None

    @property
    def tables(self) -> TaskTables:
        """The task system's tables under the settings' mapping (read from the live schema once)."""
        return tables_for(self.engine, self.settings)

    def database_label(self) -> str:
        """The database watched, for the console's header: backend, host:port/name, or the
        SQLite file's name. Never the user or password."""
        url = self.engine.url
        if url.get_backend_name() == "sqlite":
            return f"sqlite {os.path.basename(url.database or '') or ':memory:'}"
        host = url.host or "localhost"
        port = f":{url.port}" if url.port else ""
        return f"{url.get_backend_name()} {host}{port}/{url.database or ''}"

    @property
    def attached(self) -> bool:
        """This process takes part but another one leads: actions go to the leader as commands."""
        return self.node is not None and self.node.live is None and not self.node.stopped

    @property
    def store(self) -> ScheduleTable:
        if self._store is None:
            if self.live:
                self._store = self.live.store
            else:
                self._store = ScheduleTable(self.settings, *table_scheduler(self.settings, self.engine), self.clock)
        return self._store

    # -- jobs -----------------------------------------------------------------------------------
    def check_job(self, job_id: str) -> None:
        if job_id not in JOBS:
            raise UnknownJob(job_id)

    def jobs(self) -> list[JobInfo]:
        stored = self.store.all()
        refused = self.store.refused  # rows the job store would not load: their jobs never fire
        # The whole scheduler paused: every job that would fire shows it.
        all_paused = stored_pause(self.engine).paused
        last = self.runner.ledger.last_runs(list(JOBS))
        with read_only(self.engine).connect() as conn:
            looked = last_pass(conn)
        now = self.clock().astimezone(self.settings.tz)
        infos = []
        for job_id, spec in JOBS.items():
            job_settings = self.settings.jobs[job_id]
            row = stored.get(job_id)
            if not job_settings.enabled or job_id in refused:
                next_run, paused = None, True
            elif row is None:
                # Not in the store yet (no scheduler has started): what the first start will set.
                next_run = build_trigger(job_settings.trigger, self.settings.tz).get_next_fire_time(None, now)
                paused = False
            else:
                next_run, paused = row.next_run_time, row.paused
            wanted = describe(job_settings.trigger)
            differs = (row is not None and job_id not in refused and job_settings.enabled
                       and row.trigger_signature != signature(build_trigger(job_settings.trigger, self.settings.tz)))
            last_run = last.get(job_id)
            if last_run is not None and last_run.status == RunStatus.RUNNING:
                state = JobState.RUNNING
            elif not job_settings.enabled:
                state = JobState.DISABLED
            elif job_id in refused:
                state = JobState.REFUSED
            else:
                state = JobState.PAUSED if paused or all_paused else JobState.SCHEDULED
            infos.append(JobInfo(
                # What fires is the stored trigger: its words go with its next run time.
                id=job_id, name=spec.name, trigger=row.trigger_words if differs else wanted, enabled=job_settings.enabled,
                paused=paused, next_run_time=next_run.astimezone(timezone.utc) if next_run else None,
                state=state, last_run=last_run,
                paused_by=PAUSED_BY_JOB if paused else PAUSED_BY_SCHEDULER if all_paused else None,
                last_pass=looked if job_id == JobId.CHECK_TASK_WARNINGS else None,
                schedule_differs=differs, settings_trigger=wanted,
            ))
        return infos

    def job_names(self) -> dict[str, str]:
        """Each job's id and its few words (what it does), in the settings' order."""
        return {job_id: spec.short for job_id, spec in self.runner.jobs.items()}

    def add_run_listener(self, listener: Callable[[dict], None]) -> None:
        """``listener(event)`` for each run started or finished, here or (through Redis) anywhere,
        and each role change; called on the thread that saw it."""
        self.bus.add_listener(listener)

    def remove_run_listener(self, listener: Callable[[dict], None]) -> None:
        self.bus.remove_listener(listener)

    def deliver_while_unled(self, timeout_s: float = DELIVER_UNLED_S) -> int | None:
        """After a command-line run: with channels and no process leading, send what the outbox
        holds from here (the run's alerts), for up to ``timeout_s``; how many deliveries still wait
        for a leader, or None when a leader sends them."""
        if not self.settings.delivery_channels or self.node is not None or self.cluster()[0] is not None:
            return None
        return self.deliveries.send_now(timeout_s)

    def cluster(self) -> tuple[NodeInfo | None, list[NodeInfo]]:
        """The leading process and the others standing by (from their heartbeats)."""
        return cluster(self.engine, self.clock())

    def run_record(self, run_id: int) -> RunRecord | None:
        """One run of the ledger, by id."""
        return self.runner.ledger.get(run_id)

    def history(self, job_id: str | None = None, limit: int = 50) -> list[RunRecord]:
        if job_id:
            self.check_job(job_id)
        return self.runner.ledger.history(job_id, limit)

    def preview(self, job_id: str) -> Preview:
        self.check_job(job_id)
        ctx = JobContext(engine=self.engine, settings=self.settings, now=self.clock(), run_id=-1)
        return JOBS[job_id].preview(ctx)

    def schema_fence(self) -> str | None:
        """Why this release may not run jobs on the database now (None: it may): the node's fence
        where this process takes part in the scheduler, else read now."""
        if self.node is not None:
            return self.node.fenced
        return schema.mismatch(schema.current_revision(self.engine))

    def scheduler_health(self) -> str:
        """The scheduler as /healthz says it: this process's state where it takes part in the
        scheduler; else (``serve``, an embedding app's worker) whether another process leads."""
        if self.node is not None or self.live is not None:
            return self.scheduler_state
        leader, _ = self.cluster()
        return "led elsewhere" if leader is not None else "no leader"

    @property
    def scheduler_state(self) -> str:
        """``running`` or ``paused`` (this process leads), ``attached`` (it takes part, another
        process leads), ``standby`` (no scheduler here), ``fenced`` (the schema fence holds it) or
        ``stopped``."""
        if self.live is not None:
            return self.live.state
        if self.node is None:
            return SchedulerState.STANDBY
        if self.node.stopped:
            return SchedulerState.STOPPED
        return SchedulerState.FENCED if self.node.fenced else SchedulerState.ATTACHED

    # -- tasks ----------------------------------------------------------------------------------
    def run_log(self, run_id: int) -> list[LogLine]:
        """Every kept log line of one run (job_run_logs)."""
        return run_log(self.engine, run_id)

    def log_tail(self, after_id: int | None, *, others_only: bool = True, limit: int = 500) -> list[LogLine]:
        """Run log lines newer than ``after_id``; with ``others_only``, those of other processes
        (this one's own reach its console live, through logging)."""
        return log_tail(self.engine, after_id, others_only=others_only, limit=limit)

    def audit(self, limit: int = 500) -> list[AuditLine]:
        """Manual actions, newest first: who did what to which job, from where, how it ended."""
        return audit_lines(self.engine, limit)

    def notification_types(self) -> list[str]:
        """The types the jobs write (settings.notifications), in their order."""
        n = self.settings.notifications
        return list(dict.fromkeys(tpl.type for tpl in (n.reset, n.warning, n.job_failure)))

    def sent_notifications(self, *, kind: str | None = None, task_id: int | None = None,
                           limit: int = 500) -> list[SentNote]:
        """Notifications in the task system's table, newest first, of one type and task where given."""
        return sent_notes(self.engine, self.tables, kind=kind, task_id=task_id, limit=limit)

    def count_sent_notifications(self, *, kind: str | None = None, task_id: int | None = None) -> int:
        """How many there are in all (counted up to 100,000; more reads as 100,001)."""
        return count_sent_notes(self.engine, self.tables, kind=kind, task_id=task_id)

    def last_log_line_id(self) -> int:
        """The newest job_run_logs line id (0 when there is none)."""
        return last_line_id(self.engine)

    def dashboard(self, near_limit: int = 50, near_show: int | str | None = None) -> Dashboard:
        """The main screen's data; a database outage gives an empty snapshot saying so."""
        now = self.clock()
        redis = self.redis_health()
        try:
            stats, fresh = self._panel_warning_stats()
            # Counts read a while ago may call a level empty that no longer is: not a hint then.
            in_level = {lv.level: lv.in_level for lv in stats.levels} if fresh else None
            near = near_tasks(self.engine, self.tables, now, self.settings.warnings.levels, near_limit, in_level,
                              show=near_show)
            leader, _ = self.cluster()
            return Dashboard(
                now=now, scheduler_state=self.scheduler_state, database="ok", redis=redis, jobs=self.jobs(),
                warnings=stats, near=near, leader=leader, unclassified=self.unclassified_tasks(),
                warnings_every_s=UNTUNED_STATS_EVERY_S if self._sparing() else None,
                warnings_untuned=not self._indexed, fenced=self.schema_fence(), forecast=self._forecast.get(),
            )
        except Exception as exc:  # noqa: BLE001 - shown on screen, the console keeps going
            return Dashboard(now=now, scheduler_state=self.scheduler_state, database="down", redis=redis,
                             error=describe_error(exc, self.settings.database.url))

    def set_recurrence(self, task_id: int, rule: str | None, *, actor: str | None = None) -> str:
        words = task_rules.set_recurrence(self.engine, self.settings, task_id, rule)
        self._audit(actor or os_user(), Action.SET_RECURRENCE, f"task {task_id}", Outcome.DONE, rule or "default")
        return words

    def next_windows(self, task_id: int, count: int = 5) -> list[tuple[datetime, datetime]]:
        return task_rules.windows(self.engine, self.settings, task_id, count, self.clock())

    def rule_info(self, task_id: int) -> task_rules.RuleInfo | None:
        return task_rules.rule_info(self.engine, self.settings, task_id, self.clock())

    # -- health ---------------------------------------------------------------------------------
    def redis_health(self) -> str:
        return self.bus.health()

    def database_health(self) -> str | None:
        """None while the database answers; else one line saying why not (no password in it)."""
        try:
            with read_only(self.engine).connect() as conn:
                conn.execute(text("SELECT 1"))
            return None
        except Exception as exc:  # noqa: BLE001 - health reports, never raises
            return describe_error(exc, self.settings.database.url)

def open_service(settings: Settings, *, check_schema: bool = True, extra_connections: int = 0) -> Service:
    """Engine, schema check and service for ``settings``; raises DatabaseError or SchemaError.
    ``extra_connections``: one per HTTP API thread, where this process serves it."""
    # A connection per job thread, two for the console's panels, and the progress rewrite's extra
    # ranges (its job thread waits while they run, holding none).
    pool = settings.scheduler.executor_threads + 2 + settings.time_progress.parallel - 1 + extra_connections
    engine = make_engine(settings.database.url, pool_size=pool)
    if check_schema:
        schema.check(engine)
        check_fits(engine, settings)
    return Service(settings, engine)


def check_fits(engine: Engine, settings: Settings) -> None:
    """Refuse, naming the first problem, a task_system mapping the live tables do not fit: every
    job would fail on it (``db check`` names them all)."""
    problems = check_mapping(engine, settings, structure_only=True).problems
    if problems:
        raise schema.SchemaError(f"the task_system mapping does not fit the database: {problems[0]} "
                                 "(`taskconsole db check` lists every problem)")


__all__ = ["Dashboard", "JobInfo", "Service", "check_fits", "open_service"]
