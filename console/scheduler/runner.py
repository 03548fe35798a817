"""Executing a job: lock, ledger, retries, failure alert, events.

Every path that runs a job comes through ``JobRunner.execute``: the scheduler's firings (via
``scheduled_run``, the function stored in APScheduler's job store), the command line and the
console. So a job never overlaps itself, whoever started it, and every execution is recorded.

Recorded too: a run that could not begin (its lock or its ledger row could not be taken; it
raises ``RunNotStarted``), a retry a graceful stop cancelled ("stopped", no failure alert), and a
run the operator interrupted with Ctrl-C ("interrupted", see ``console.scheduler.interrupt``).
"""

from __future__ import annotations

import logging
import threading
import time
import traceback as tb
from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import Any, Callable

from sqlalchemy import Engine

from console.domain.runs import RunStatus, TriggerKind
from console.db.engine import describe_error
from console.jobs import JOBS, JobContext, JobSpec
from console.jobs.base import RowsRefused
from console.db.task_tables import tables_for
from console.domain.deliveries import DeliveryEvent
from console.notify.notifications import alert_admins
from console.notify.outbox import queue_job_event
from console.notify.direct import DirectAlerts
from console.scheduler.bus import EventBus
from console.scheduler.run_logs import RunLogSink
from console.scheduler.ledger import HOST, RunLedger, os_user, utcnow
from console.scheduler.locks import JobLocks
from console.settings import Settings, url_secrets

log = logging.getLogger("console.scheduler")


class UnknownJob(KeyError):
    def __str__(self) -> str:
        return f"unknown job id {self.args[0]!r}; known: {', '.join(JOBS)}"


class AlreadyRunning(Exception):
    """The job is running somewhere already; the message says since when and who started it."""


class RunNotStarted(Exception):
    """The run could not begin (taking its lock or writing its ledger row failed).

    It is recorded in the run ledger as ``failed`` with the reason when the database allows;
    ``run_id`` is that record's id, or None if it could not be written either."""

    def __init__(self, job_id: str, reason: str, run_id: int | None):
        super().__init__(f"{job_id} could not start: {reason}")
        self.job_id, self.reason, self.run_id = job_id, reason, run_id


# The errors a run closed by the process rather than by its job is recorded with.
STOPPED = "stopped"  # a graceful stop (SIGTERM, the console quitting) cancelled the retry
INTERRUPTED = "interrupted"  # Ctrl-C on the command line
ABANDONED = "its process ended before the run finished"


@dataclass
class RunResult:
    job_id: str
    run_id: int
    status: str  # success | failed
    duration_s: float
    counts: dict[str, int] = field(default_factory=dict)
    error: str | None = None
    attempts: int = 1


class JobRunner:
    def __init__(self, settings: Settings, engine: Engine, *, bus: EventBus | None = None,
                 jobs: dict[str, JobSpec] | None = None, clock: Callable[[], datetime] = utcnow):
        self.settings = settings
        self.engine = engine
        self.jobs = jobs if jobs is not None else JOBS
        self.ledger = RunLedger(engine)
        self.run_logs = RunLogSink(engine, settings)
        # Job alerts the outbox could not take (its database failed) go straight to the rooms.
        self.direct = DirectAlerts(settings)
        self.locks = JobLocks(engine)
        self.bus = bus or EventBus(None)
        self.clock = clock
        # Set on graceful stop: retries are not waited for, long jobs stop between batches.
        self.stopping = threading.Event()
        # Set with ``stopping`` when the operator interrupts a run in the foreground (Ctrl-C).
        self.interrupted = threading.Event()
        # Jobs executing in this process now (the console asks before quitting while any is).
        self.active: set[str] = set()
        # Set by the leader election: scheduled firings run only while this returns True.
        self.may_fire: Callable[[], bool] | None = None
        # Called on the leader after each warning pass (the service counts the warning levels then).
        self.after_pass: Callable[[], None] | None = None

    def spec(self, job_id: str) -> JobSpec:
        try:
            return self.jobs[job_id]
        except KeyError:
            raise UnknownJob(job_id) from None

    def execute(self, job_id: str, trigger_kind: str = TriggerKind.MANUAL, *, actor: str | None = None,
                retries: int | None = None, scheduled_for: datetime | None = None,
                on_start: Callable[[int], None] | None = None) -> RunResult:
        """Run ``job_id`` now unless it is running anywhere; raises AlreadyRunning if it is, and
        RunNotStarted (after recording it) if the run cannot begin. ``on_start(run_id)`` is called
        once the run has begun (its ledger row written), before the job does anything."""
        spec = self.spec(job_id)
        actor = actor or (os_user() if trigger_kind == TriggerKind.MANUAL else "scheduler")
        try:
            lock = self.locks.try_acquire(f"job:{job_id}")
        except Exception as exc:  # noqa: BLE001 - a database or lock-file error: recorded, then raised
            raise self._not_started(job_id, trigger_kind, actor, scheduled_for, exc) from None
        if lock is None:
            message = self._already_running_message(job_id)
            self.ledger.record(job_id, trigger_kind, RunStatus.SKIPPED, actor=actor, error=message, scheduled_for=scheduled_for)
            log.warning("%s: %s", job_id, message)
            raise AlreadyRunning(message)
        self.active.add(job_id)
        try:
            try:
                # We hold the lock, so any run still marked running has lost its process.
                stale = self.ledger.abandon_running(job_id, ABANDONED)
            except Exception as exc:  # noqa: BLE001
                raise self._not_started(job_id, trigger_kind, actor, scheduled_for, exc) from None
            if stale:
                log.warning("%s: %d run(s) left running by a dead process marked abandoned", job_id, stale)
                self.job_event(DeliveryEvent.JOB_FAILURE, job_id, detail=ABANDONED, run_id=None,
                               fields={"event": "job_abandoned", "runs": stale})
            job_settings = self.settings.jobs[job_id]
            retries = job_settings.retries if retries is None else retries
            kind = trigger_kind
            attempt = 1
            while True:
                try:
                    result = self._attempt(spec, kind, attempt, actor, scheduled_for,
                                           on_start if attempt == 1 else None)
                except RunNotStarted:
                    if attempt == 1:
                        raise
                    break  # a retry that could not begin (recorded): the run has failed for good
                if self.interrupted.is_set():
                    return result  # closed "interrupted": no retry, no alert
                if result.status == RunStatus.SUCCESS or attempt > retries:
                    break
                if not self._halted():
                    log.warning("%s: attempt %d failed, retrying in %.0f s (retry %d of %d)", job_id, attempt,
                                job_settings.retry_delay, attempt, retries,
                                extra={"job_id": job_id, "run_id": result.run_id})
                    try:
                        self.stopping.wait(job_settings.retry_delay)
                    except KeyboardInterrupt:  # Ctrl-C while this thread waits for the retry
                        self.interrupted.set()
                        self._close_halted(result, attempt + 1, actor, scheduled_for)
                        raise
                if self._halted():
                    # The process is stopping (or the operator interrupted it) before the retry:
                    # the run did not fail for good, so admins are not alerted.
                    return self._close_halted(result, attempt + 1, actor, scheduled_for)
                attempt += 1
                kind = TriggerKind.RETRY
            if result.status == RunStatus.FAILED:
                self._alert(job_id, result.run_id, result.error or "unknown error",
                            {"event": "job_failed", "run_id": result.run_id, "trigger_kind": str(trigger_kind),
                             "attempts": result.attempts})
            return result
        finally:
            self.active.discard(job_id)
            lock.release()

    def _halted(self) -> bool:
        return self.stopping.is_set() or self.interrupted.is_set()

    def _close_halted(self, failed: RunResult, attempt: int, actor: str, scheduled_for: datetime | None) -> RunResult:
        """The retry that will not happen (after ``failed``), recorded ``failed`` as "stopped" or
        "interrupted"."""
        job_id = failed.job_id
        error = INTERRUPTED if self.interrupted.is_set() else STOPPED
        log.warning("%s: %s before retry %d; not retried, admins not alerted", job_id, error, attempt - 1)
        try:
            run_id = self.ledger.record(job_id, TriggerKind.RETRY, RunStatus.FAILED, actor=actor, error=error,
                                        scheduled_for=scheduled_for, attempt=attempt)
        except Exception as exc:  # noqa: BLE001 - the failed attempt is on record; the stop goes on
            log.error("%s: the %s retry could not be recorded: %s", job_id, error, describe_error(exc, self.engine.url))
            run_id = failed.run_id
        self.bus.publish({"event": "run_finished", "job_id": job_id, "run_id": run_id, "status": RunStatus.FAILED})
        return RunResult(job_id, run_id, RunStatus.FAILED, 0.0, error=error, attempts=attempt - 1)

    def _not_started(self, job_id: str, kind: str, actor: str, scheduled_for: datetime | None,
                     exc: BaseException, attempt: int = 1) -> RunNotStarted:
        """Record a run that could not begin, if the database lets us; the exception to raise."""
        reason = describe_error(exc, self.engine.url)
        log.error("%s could not start: %s", job_id, reason)
        run_id = None
        try:
            run_id = self.ledger.record(job_id, kind, RunStatus.FAILED, actor=actor, error=f"could not start: {reason}",
                                        scheduled_for=scheduled_for, attempt=attempt)
        except Exception as again:  # noqa: BLE001 - the database that refused the start may refuse this too
            log.error("%s: nor could that be recorded: %s", job_id, describe_error(again, self.engine.url))
        return RunNotStarted(job_id, reason, run_id)

    def interrupt(self) -> None:
        """Ctrl-C: the run in progress here stops as soon as it can and is recorded "interrupted".

        Long jobs stop between batches; statements running now are cancelled by the caller
        (``console.scheduler.interrupt``), as this thread may be the one blocked in them."""
        self.interrupted.set()
        self.stopping.set()

    def _attempt(self, spec: JobSpec, kind: str, attempt: int, actor: str,
                 scheduled_for: datetime | None, on_start: Callable[[int], None] | None = None) -> RunResult:
        try:
            run_id, _ = self.ledger.start(spec.id, kind, actor=actor, attempt=attempt, scheduled_for=scheduled_for)
        except Exception as exc:  # noqa: BLE001 - e.g. SQLite's "database is locked"
            raise self._not_started(spec.id, kind, actor, scheduled_for, exc, attempt) from None
        if on_start is not None:
            try:
                on_start(run_id)
            except Exception as exc:  # noqa: BLE001 - who asked is told less; the run goes on
                log.error("%s: run %d began but could not say so: %s", spec.id, run_id,
                          describe_error(exc, self.engine.url))
        self.bus.publish({"event": "run_started", "job_id": spec.id, "run_id": run_id, "trigger_kind": kind})
        # Every line logged on this thread until the run ends is the run's log (job_run_logs).
        with self.run_logs.capturing(run_id, spec.id):
            return self._run(spec, kind, attempt, run_id)

    def _run(self, spec: JobSpec, kind: str, attempt: int, run_id: int) -> RunResult:
        log.info("job %s started (%s, attempt %d, run %d)", spec.id, kind, attempt, run_id)
        began = time.perf_counter()
        ctx = JobContext(engine=self.engine, settings=self.settings, now=self.clock(), run_id=run_id,
                         log=logging.getLogger("console.jobs"), should_stop=self.stopping.is_set)
        try:
            counts = spec.run(ctx)
        except RowsRefused as exc:
            # What was written stays counted; the run is failed so that it is retried and alerted.
            duration = time.perf_counter() - began
            error = INTERRUPTED if self.interrupted.is_set() else describe_error(exc, self.engine.url)
            self.ledger.finish(run_id, RunStatus.FAILED, duration_s=duration, counts=exc.counts, error=error)
            log.error("job %s failed after %.2f s: %s (%s)", spec.id, duration, error, _counts_text(exc.counts))
            self.bus.publish({"event": "run_finished", "job_id": spec.id, "run_id": run_id, "status": RunStatus.FAILED})
            return RunResult(spec.id, run_id, RunStatus.FAILED, duration, counts=exc.counts, error=error, attempts=attempt)
        except KeyboardInterrupt:
            # Ctrl-C reached this thread inside the job: its transaction has rolled back on the way
            # out; the run is closed before the process exits rather than left ``running``.
            self.interrupted.set()
            duration = time.perf_counter() - began
            self.ledger.finish(run_id, RunStatus.FAILED, duration_s=duration, error=INTERRUPTED)
            log.error("job %s interrupted after %.2f s", spec.id, duration)
            self.bus.publish({"event": "run_finished", "job_id": spec.id, "run_id": run_id, "status": RunStatus.FAILED})
            raise
        except Exception as exc:  # noqa: BLE001 - any failure of a job is recorded, never raised
            duration = time.perf_counter() - began
            trace = _scrub(tb.format_exc(), self.engine)
            # Interrupted: the failure is the cancelled statement, not something to look into.
            error = INTERRUPTED if self.interrupted.is_set() else describe_error(exc, self.engine.url)
            self.ledger.finish(run_id, RunStatus.FAILED, duration_s=duration, error=error, traceback=trace)
            log.error("job %s failed after %.2f s: %s", spec.id, duration, error)
            self.bus.publish({"event": "run_finished", "job_id": spec.id, "run_id": run_id, "status": RunStatus.FAILED})
            return RunResult(spec.id, run_id, RunStatus.FAILED, duration, error=error, attempts=attempt)
        duration = time.perf_counter() - began
        if self.interrupted.is_set():
            # Jobs stop between batches when asked: what they did is counted, the rest was not done.
            self.ledger.finish(run_id, RunStatus.FAILED, duration_s=duration, counts=counts, error=INTERRUPTED)
            log.error("job %s interrupted after %.2f s: %s", spec.id, duration, _counts_text(counts))
            self.bus.publish({"event": "run_finished", "job_id": spec.id, "run_id": run_id, "status": RunStatus.FAILED})
            return RunResult(spec.id, run_id, RunStatus.FAILED, duration, counts=counts, error=INTERRUPTED, attempts=attempt)
        self.ledger.finish(run_id, RunStatus.SUCCESS, duration_s=duration, counts=counts)
        log.info("job %s finished in %.2f s: %s", spec.id, duration, _counts_text(counts))
        self.bus.publish({"event": "run_finished", "job_id": spec.id, "run_id": run_id, "status": RunStatus.SUCCESS})
        return RunResult(spec.id, run_id, RunStatus.SUCCESS, duration, counts=counts, attempts=attempt)

    def _alert(self, job_id: str, run_id: int, error: str, fields: dict[str, Any]) -> None:
        context = {"job_id": job_id, "run_id": run_id}
        now = self.clock()
        fields = self._fields(job_id, now, fields, error=error)
        try:
            # Marked first: taskconsole_job_failed_for_good_total counts it even if no admin can be told.
            self.ledger.mark_failed_for_good(run_id)
        except Exception as exc:  # noqa: BLE001 - the alert below matters more than the mark
            log.warning("job %s: run %s not marked failed for good: %s", job_id, run_id,
                        describe_error(exc, self.engine.url), extra=context)
        try:
            tables = tables_for(self.engine, self.settings)
            with self.engine.begin() as conn:
                sent = alert_admins(conn, tables, self.settings.notifications.job_failure, job_id=job_id,
                                    error=error, now=self.clock())
                queue_job_event(conn, tables, self.settings, DeliveryEvent.JOB_FAILURE, job_id=job_id,
                                detail=error, run_id=run_id, now=now, fields=fields)
            log.error("job %s failed for good; %d admin(s) alerted", job_id, sent, extra=context)
        except Exception as exc:  # noqa: BLE001 - the database may be what failed
            log.error("job %s failed and admins could not be alerted: %s", job_id,
                      describe_error(exc, self.engine.url), extra=context)
            self.direct.send(DeliveryEvent.JOB_FAILURE, job_id, detail=error, run_id=run_id, now=now, fields=fields)

    def _fields(self, job_id: str, now: datetime, fields: dict[str, Any], **more: Any) -> dict[str, Any]:
        """The failure webhook's body (``fields`` channels): what it has always posted."""
        return {"event": fields["event"], "job_id": job_id, "at": now.astimezone(timezone.utc).isoformat(),
                "host": HOST, **{k: v for k, v in fields.items() if k != "event"}, **more}

    def job_event(self, event: DeliveryEvent, job_id: str, *, detail: str, run_id: int | None,
                  fields: dict[str, Any]) -> None:
        """Queue a job's missed firing or abandoned run for the channels, in its own transaction;
        sent straight to the rooms if the database cannot take it."""
        if not self.settings.delivery_channels:
            return
        now = self.clock()
        fields = self._fields(job_id, now, fields, **({"error": detail} if event == DeliveryEvent.JOB_FAILURE
                                                       else {}))
        try:
            with self.engine.begin() as conn:
                queue_job_event(conn, tables_for(self.engine, self.settings), self.settings, event, job_id=job_id,
                                run_id=run_id, now=now, detail=detail, fields=fields)
        except Exception as exc:  # noqa: BLE001 - the database may be what failed; the alert still goes
            log.error("job %s: the %s could not be queued for the channels: %s", job_id, event,
                      describe_error(exc, self.engine.url))
            self.direct.send(event, job_id, detail=detail, run_id=run_id, now=now, fields=fields)

    def _already_running_message(self, job_id: str) -> str:
        running = self.ledger.running(job_id)
        if running is None:
            return f"{job_id} is already running"
        since = running.started_at.astimezone(self.settings.tz).strftime("%Y-%m-%d %H:%M:%S")
        return (f"{job_id} is already running (run {running.id}, {running.trigger_kind} by "
                f"{running.actor} on {running.host}, since {since})")

    def record_missed(self, job_id: str, scheduled_for: datetime) -> None:
        self.ledger.record(job_id, TriggerKind.SCHEDULED, RunStatus.MISSED, actor="scheduler", scheduled_for=scheduled_for,
                           error="missed its firing by more than the misfire grace time")
        log.warning("job %s missed its run scheduled for %s", job_id, scheduled_for.isoformat())
        at = scheduled_for.astimezone(timezone.utc).isoformat()
        self.job_event(DeliveryEvent.JOB_MISSED, job_id, detail=at, run_id=None,
                       fields={"event": "job_missed", "scheduled_for": at})

    def record_skipped(self, job_id: str, scheduled_for: datetime | None) -> None:
        self.ledger.record(job_id, TriggerKind.SCHEDULED, RunStatus.SKIPPED, actor="scheduler", scheduled_for=scheduled_for,
                           error="the previous run was still in progress")
        log.warning("job %s skipped: the previous run was still in progress", job_id)


def _counts_text(counts: dict[str, Any]) -> str:
    return ", ".join(f"{k}={v}" for k, v in counts.items()) or "no counts"


def _scrub(text: str, engine: Engine) -> str:
    for secret in url_secrets(engine.url):  # the password, ?password= and kin, as written and decoded
        text = text.replace(secret, "***")
    return text


def scheduled_run(job_id: str, *, runner: JobRunner | None = None, scheduled_for: datetime | None = None) -> None:
    """What each row of the job store names as its function: one firing of ``job_id``.

    ``FiringExecutor`` (console.scheduler.firing_executor) calls it with this process's runner and
    the firing it serves; called any other way there is nothing to run it with."""
    if runner is None:
        raise RuntimeError("a firing reaches the job runner through taskconsole's FiringExecutor only")
    if runner.may_fire is not None and not runner.may_fire():
        # Leadership was lost since this firing was due: the new leader serves it.
        log.warning("%s: firing for %s not run here: this process no longer leads", job_id, scheduled_for)
        return
    try:
        runner.execute(job_id, TriggerKind.SCHEDULED, actor="scheduler", scheduled_for=scheduled_for)
    except (AlreadyRunning, RunNotStarted):
        pass  # recorded (skipped, or failed with the reason) and logged
