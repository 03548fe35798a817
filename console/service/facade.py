"""``Service``: what an operator can see and do, whichever face they use.

With a live scheduler (``taskconsole run`` or the console) pause and resume go through it; from
the command line they change the job store's rows, which a running scheduler reads at its next
wake-up. The scheduler-wide pause is stored in the database (``scheduler_pause``) and obeyed by
whichever process leads, now or later. Every manual action is written to the audit with the
operator's name, including a run that could not start or was interrupted.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass, field
from datetime import datetime
from typing import Callable

from sqlalchemy import Engine

from console.db import schema
from console.db.engine import describe_error, make_engine
from console.db.mapping_check import check_mapping
from console.db.task_tables import TaskTables, tables_for
from console.jobs import JOBS, JobContext
from console.jobs.base import Preview
from console.scheduler.bus import EventBus
from console.scheduler.ledger import RunRecord, audit, os_user, utcnow
from console.scheduler.command_queue import Command, CommandQueue
from console.scheduler.interrupt import run_in_foreground
from console.scheduler.live import LiveScheduler
from console.scheduler.node import Node, NodeInfo, cluster
from console.scheduler.pause import PauseState, store_pause, stored_pause
from console.scheduler.runner import INTERRUPTED, AlreadyRunning, JobRunner, RunNotStarted, RunResult, UnknownJob
from console.scheduler.schedule_table import ScheduleTable
from console.scheduler.schedulers import table_scheduler
from console.scheduler.triggers import build_trigger, describe
from console.service import recurrence
from console.service.dashboard import (TaskDetail, WarningStats, count_unclassified, task_detail, warning_stats,
                                       watching)
from console.service.near import NearTask, near_tasks
from console.settings import Settings

log = logging.getLogger("console.service")
UNCLASSIFIED_EVERY_S = 60.0
UNTUNED_STATS_EVERY_S = 30.0


@dataclass(frozen=True)
class Dashboard:
    """Everything the console's main screen shows, read in one go off the UI thread."""

    now: datetime
    scheduler_state: str
    database: str  # ok | down
    redis: str  # ok | down | off
    jobs: list["JobInfo"] = field(default_factory=list)
    warnings: WarningStats | None = None
    near: list[NearTask] = field(default_factory=list)
    error: str | None = None
    leader: NodeInfo | None = None  # the process leading the scheduler, wherever it runs
    # Tasks whose status task_system.values does not name: no job touches them (counted once a minute).
    unclassified: int = 0
    # How often the warning counts are read, where not at every refresh (no db tune: from tasks).
    warnings_every_s: float | None = None


@dataclass(frozen=True)
class JobInfo:
    id: str
    name: str
    trigger: str
    enabled: bool
    paused: bool
    next_run_time: datetime | None
    state: str  # scheduled | paused (the job, or the whole scheduler) | running | disabled | refused
    last_run: RunRecord | None


class Service:
    def __init__(self, settings: Settings, engine: Engine, *, bus: EventBus | None = None,
                 clock: Callable[[], datetime] = utcnow):
        self.settings = settings
        self.engine = engine
        self.bus = bus or EventBus(settings.redis.url)
        self.clock = clock
        self.runner = JobRunner(settings, engine, bus=self.bus, clock=clock)
        self.node: Node | None = None
        self._store: ScheduleTable | None = None
        self._unclassified: tuple[float, int] | None = None  # (monotonic time read, count)
        self._stats: tuple[float, WarningStats] | None = None  # the main screen's warning counts, when read
        self._watching = True
        self.commands = CommandQueue(engine)

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
        self.bus.close()

    @property
    def live(self) -> LiveScheduler | None:
        return self.node.live if self.node is not None else None

    @property
    def tables(self) -> TaskTables:
        """The task system's tables under the settings' mapping (read from the live schema once)."""
        return tables_for(self.engine, self.settings)

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
            last_run = last.get(job_id)
            if last_run is not None and last_run.status == "running":
                state = "running"
            elif not job_settings.enabled:
                state = "disabled"
            elif job_id in refused:
                state = "refused"
            else:
                state = "paused" if paused or all_paused else "scheduled"
            infos.append(JobInfo(
                id=job_id, name=spec.name, trigger=describe(job_settings.trigger), enabled=job_settings.enabled,
                paused=paused, next_run_time=next_run.astimezone(self.settings.tz) if next_run else None,
                state=state, last_run=last_run,
            ))
        return infos

    def run_job(self, job_id: str, *, actor: str | None = None) -> RunResult:
        """Run now, as a manual run; never overlaps a running instance (raises AlreadyRunning)."""
        self.check_job(job_id)
        actor = actor or os_user()
        try:
            result = self.runner.execute(job_id, "manual", actor=actor, retries=0)
        except AlreadyRunning as exc:
            self._audit(actor, "run", job_id, "already_running", str(exc))
            raise
        except RunNotStarted as exc:
            where = f"run {exc.run_id}: " if exc.run_id is not None else ""
            self._audit_best_effort(actor, "run", job_id, "not_started", f"{where}{exc.reason}")
            raise
        self._audit(actor, "run", job_id, result.status, f"run {result.run_id}: {result.error or result.counts}")
        return result

    def run_job_in_foreground(self, job_id: str, *, actor: str | None = None) -> RunResult:
        """``run_job`` for the command line: Ctrl-C (KeyboardInterrupt) stops the run at once, even
        one blocked in the database, closes it as failed ("interrupted"), and is raised again."""
        self.check_job(job_id)
        actor = actor or os_user()

        def close_unfinished() -> None:
            # The run's own thread is stuck: close its record from here, if the database lets us.
            try:
                self.runner.ledger.close_interrupted(job_id, INTERRUPTED)
                self._audit(actor, "run", job_id, "failed", INTERRUPTED)
            except Exception as exc:  # noqa: BLE001 - the next run marks it abandoned then
                log.error("%s: the interrupted run could not be closed: %s", job_id,
                          describe_error(exc, self.engine.url))

        self.runner.interrupted.clear()
        return run_in_foreground(self.runner, lambda: self.run_job(job_id, actor=actor),
                                 close_unfinished=close_unfinished)

    def pause_job(self, job_id: str, *, actor: str | None = None) -> None:
        self.check_job(job_id)
        self._require_enabled(job_id)
        if self.live:
            self.live.pause_job(job_id)
        else:
            self._ensure_stored()
            self.store.pause(job_id)
        self._audit(actor or os_user(), "pause", job_id, "done", None)

    def resume_job(self, job_id: str, *, actor: str | None = None) -> datetime | None:
        self.check_job(job_id)
        self._require_enabled(job_id)
        if self.live:
            next_run = self.live.resume_job(job_id)
        else:
            self._ensure_stored()
            next_run = self.store.resume(job_id)
        self._audit(actor or os_user(), "resume", job_id, "done", None)
        return next_run.astimezone(self.settings.tz) if next_run else None

    def send_command(self, action: str, job_id: str | None = None, *, actor: str | None = None,
                     wait_s: float = 10.0) -> Command:
        """For an attached console: queue ``action`` for the leader and wait up to ``wait_s`` for
        its outcome (the returned command has ``done_at`` None if the leader has not answered)."""
        if job_id is not None:
            self.check_job(job_id)
            if action in ("pause", "resume"):
                self._require_enabled(job_id)
        command_id = self.commands.submit(action, job_id, actor or os_user())
        self.bus.publish({"event": "command", "id": command_id})
        deadline = time.monotonic() + wait_s
        while True:
            command = self.commands.get(command_id)
            if command is None or command.done_at is not None or time.monotonic() >= deadline:
                return command
            time.sleep(0.2)

    def cluster(self) -> tuple[NodeInfo | None, list[NodeInfo]]:
        """The leading process and the others standing by (from their heartbeats)."""
        return cluster(self.engine, self.clock())

    def _require_enabled(self, job_id: str) -> None:
        if not self.settings.jobs[job_id].enabled:
            raise DisabledJob(f"{job_id} is disabled in settings (jobs.{job_id}.enabled); enable it there first")

    def _ensure_stored(self) -> None:
        if any(self.store.get(job_id) is None for job_id, s in self.settings.jobs.items() if s.enabled):
            self.store.sync()

    def history(self, job_id: str | None = None, limit: int = 50) -> list[RunRecord]:
        if job_id:
            self.check_job(job_id)
        return self.runner.ledger.history(job_id, limit)

    def preview(self, job_id: str) -> Preview:
        self.check_job(job_id)
        ctx = JobContext(engine=self.engine, settings=self.settings, now=self.clock(), run_id=-1)
        return JOBS[job_id].preview(ctx)

    @property
    def scheduler_state(self) -> str:
        """``running`` or ``paused`` (this process leads), ``attached`` (it takes part, another
        process leads), ``standby`` (no scheduler here), or ``stopped``."""
        if self.live is not None:
            return self.live.state
        if self.node is None:
            return "standby"
        return "stopped" if self.node.stopped else "attached"

    def pause_scheduler(self, *, actor: str | None = None) -> None:
        """Pause the whole scheduler, stored so that whichever process leads, now or later, obeys."""
        self._set_scheduler_paused(True, actor or os_user())

    def resume_scheduler(self, *, actor: str | None = None) -> None:
        self._set_scheduler_paused(False, actor or os_user())

    def _set_scheduler_paused(self, paused: bool, actor: str) -> None:
        if self.live is not None:
            if paused:
                self.live.pause_all(actor)
            else:
                self.live.resume_all(actor)
        else:
            store_pause(self.engine, paused, actor)
            # The leader reads the stored pause at every beat; Redis, when there, wakes it now.
            self.bus.publish({"event": "command"})
        self._audit(actor, "pause" if paused else "resume", "*", "done", "whole scheduler")

    def scheduler_pause(self) -> PauseState:
        """The stored scheduler-wide pause: whether it holds, since when and by whom."""
        return stored_pause(self.engine)

    def running_here(self) -> set[str]:
        """Jobs executing in this process now."""
        return set(self.runner.active)

    # -- tasks ----------------------------------------------------------------------------------
    def near_tasks(self, limit: int = 20) -> list[NearTask]:
        return near_tasks(self.engine, self.tables, self.clock(), self.settings.warnings.levels, limit)

    def dashboard(self, near_limit: int = 50) -> Dashboard:
        """The main screen's data; a database outage gives an empty snapshot saying so."""
        now = self.clock()
        redis = self.redis_health()
        try:
            stats, fresh = self._panel_warning_stats()
            # Counts read a while ago may call a level empty that no longer is: not a hint then.
            in_level = {lv.level: lv.in_level for lv in stats.levels} if fresh else None
            near = near_tasks(self.engine, self.tables, now, self.settings.warnings.levels, near_limit, in_level,
                              watching=self._watching)
            leader, _ = self.cluster()
            return Dashboard(
                now=now, scheduler_state=self.scheduler_state, database="ok", redis=redis, jobs=self.jobs(),
                warnings=stats, near=near, leader=leader, unclassified=self.unclassified_tasks(),
                warnings_every_s=None if self._watching else UNTUNED_STATS_EVERY_S,
            )
        except Exception as exc:  # noqa: BLE001 - shown on screen, the console keeps going
            return Dashboard(now=now, scheduler_state=self.scheduler_state, database="down", redis=redis,
                             error=describe_error(exc, self.settings.database.url))

    def _panel_warning_stats(self) -> tuple[WarningStats, bool]:
        """The warning counts for the main screen, and whether they were read just now. Without
        db tune's warning-watch triggers they are read from the tasks table (about a second at a
        million tasks), so at most every UNTUNED_STATS_EVERY_S, not at every refresh."""
        now = time.monotonic()
        self._watching = watching(self.engine, self.tables)
        if not self._watching and self._stats is not None and now - self._stats[0] < UNTUNED_STATS_EVERY_S:
            return self._stats[1], False
        stats = warning_stats(self.engine, self.tables, self.clock(), self.settings.warnings.levels,
                              watching=self._watching)
        self._stats = (now, stats)
        return stats, True

    def unclassified_tasks(self) -> int:
        """Tasks whose status the mapping does not name. One count over the tasks (a scan where
        ``db tune`` has not been applied), so read at most once a minute."""
        now = time.monotonic()
        if self._unclassified is None or now - self._unclassified[0] >= UNCLASSIFIED_EVERY_S:
            self._unclassified = (now, count_unclassified(self.engine, self.tables))
        return self._unclassified[1]

    def warning_stats(self) -> WarningStats:
        return warning_stats(self.engine, self.tables, self.clock(), self.settings.warnings.levels)

    def task_detail(self, task_id: int) -> TaskDetail | None:
        return task_detail(self.engine, self.tables, task_id, self.clock(), self.settings.warnings.levels)

    # -- per-task rules -------------------------------------------------------------------------
    def set_recurrence(self, task_id: int, rule: str | None, *, actor: str | None = None) -> str:
        words = recurrence.set_recurrence(self.engine, self.settings, task_id, rule)
        self._audit(actor or os_user(), "set-recurrence", f"task {task_id}", "done", rule or "default")
        return words

    def next_windows(self, task_id: int, count: int = 5) -> list[tuple[datetime, datetime]]:
        return recurrence.windows(self.engine, self.settings, task_id, count, self.clock())

    def rule_info(self, task_id: int) -> recurrence.RuleInfo | None:
        return recurrence.rule_info(self.engine, self.settings, task_id, self.clock())

    # -- health ---------------------------------------------------------------------------------
    def redis_health(self) -> str:
        return self.bus.health()

    def _audit(self, actor: str, action: str, job_id: str, outcome: str, detail: str | None) -> None:
        audit(self.engine, actor, action, job_id, outcome, detail)

    def _audit_best_effort(self, actor: str, action: str, job_id: str, outcome: str, detail: str | None) -> None:
        """For outcomes the database itself caused: written if it lets us, else logged."""
        try:
            self._audit(actor, action, job_id, outcome, detail)
        except Exception as exc:  # noqa: BLE001
            log.error("audit of %s %s (%s) could not be written: %s", action, job_id, outcome,
                      describe_error(exc, self.engine.url))


class DisabledJob(Exception):
    """Pause or resume of a job that settings disable."""


class NoScheduler(Exception):
    """A scheduler-wide action where no scheduler runs."""


def open_service(settings: Settings, *, check_schema: bool = True) -> Service:
    """Engine, schema check and service for ``settings``; raises DatabaseError or SchemaError."""
    # A connection per job thread, two for the console's panels, and the progress rewrite's extra
    # ranges (its job thread waits while they run, holding none).
    pool = settings.scheduler.executor_threads + 2 + settings.time_progress.parallel - 1
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


__all__ = ["AlreadyRunning", "DisabledJob", "NoScheduler", "JobInfo", "PauseState", "RunNotStarted", "Service",
           "UnknownJob", "describe_error", "open_service"]
