"""The scheduler that runs in this process: start, stop gracefully, pause and resume.

Start-up order matters: APScheduler starts paused, the job store is synced with settings through
it (keeping pause state and next run times), and only then does it resume, so no round reads
the rows before they match settings. Scheduler events about runs that never
executed (missed, or skipped because the previous run was still going) are written to the run
ledger here; runs that execute are recorded by the runner itself.

The scheduler-wide pause is stored in the database (``console.scheduler.pause``): the scheduler
starts paused while it holds, and ``obey_pause`` follows it when another process changes it.
"""

from __future__ import annotations

import logging
import threading
import time
from datetime import datetime, timezone

from apscheduler.events import EVENT_JOB_MAX_INSTANCES, EVENT_JOB_MISSED, JobEvent
from apscheduler.schedulers import SchedulerNotRunningError
from apscheduler.schedulers.base import STATE_PAUSED, STATE_RUNNING, STATE_STOPPED

from console.db.engine import describe_error
from console.domain.runs import JobId, SchedulerState, TriggerKind
from console.db.task_tables import tables_for
from console.jobs.rule_resets import pending_on
from console.notify.sender import DeliverySender
from console.scheduler.pause import store_pause, stored_pause
from console.scheduler.runner import AlreadyRunning, JobRunner, RunNotStarted
from console.scheduler.schedule_table import ScheduleTable
from console.scheduler.warning_pass import look, next_pass_at
from console.scheduler.schedulers import firing_scheduler

log = logging.getLogger("console.scheduler")

# Another process (the command line) may pause or resume jobs in the store; waking up this
# often bounds how long the running scheduler takes to notice.
WAKE_EVERY_S = 5.0


class LiveScheduler:
    def __init__(self, runner: JobRunner):
        self.runner = runner
        self.settings = runner.settings
        # No firing is handed out once a stop has begun, nor while leadership is in doubt.
        self.scheduler, job_store = firing_scheduler(
            runner.settings, runner.engine, runner,
            may_fire=lambda: not runner.stopping.is_set() and self._may_fire())
        self.store = ScheduleTable(runner.settings, self.scheduler, job_store, runner.clock)
        self.scheduler.add_listener(self._on_event, EVENT_JOB_MISSED | EVENT_JOB_MAX_INSTANCES)
        self._waker: threading.Thread | None = None
        self._looker: threading.Thread | None = None
        self._stop = threading.Event()
        # Read-then-apply of the stored pause, one at a time: a heartbeat's stale read must not
        # undo an operator's pause applied in between.
        self._pause_guard = threading.Lock()
        # The outbox's sender (issue #28): runs only while this process leads, on its own thread.
        self.sender = DeliverySender(runner.settings, runner.engine, clock=runner.clock,
                                     may_send=lambda: not self._stop.is_set() and self._may_fire())

    def start(self, *, paused: bool = False) -> None:
        """Start firing; ``paused`` (the stored scheduler-wide pause, read by the caller) starts it
        paused, so that not one firing slips through between the start and the pause."""
        self.runner.stopping.clear()  # a process that led before, stood by and leads again
        self.scheduler.start(paused=True)
        self.store.sync()
        if not paused:
            self.scheduler.resume()
        self._waker = threading.Thread(target=self._wake_loop, name="scheduler-waker", daemon=True)
        self._waker.start()
        self.sender.start()
        if self.settings.warnings.check_every is not None:
            self._looker = threading.Thread(target=self._look_loop, name="warning-pass", daemon=True)
            self._looker.start()
        log.info("scheduler started (%s)", SchedulerState.PAUSED if paused else SchedulerState.RUNNING)

    def _wake_loop(self) -> None:
        next_rule_check = 0.0
        while not self._stop.wait(WAKE_EVERY_S):
            if self.scheduler.state != STATE_RUNNING:
                continue
            self.scheduler.wakeup()
            if time.monotonic() >= next_rule_check:
                next_rule_check = time.monotonic() + self.settings.periodic.rule_check_interval.total_seconds()
                self._run_due_rules()

    def _look_loop(self) -> None:
        """A pass for thresholds crossed (console.scheduler.warning_pass) on each multiple of
        ``warnings.check_every``, while this process leads and the warning check may run."""
        every = self.settings.warnings.check_every
        assert every is not None
        while True:
            now = datetime.now(timezone.utc)
            if self._stop.wait((next_pass_at(now, every) - now).total_seconds()):
                return
            self._look()

    def _look(self) -> None:
        job_id = JobId.CHECK_TASK_WARNINGS
        try:  # whatever fails here (the job store's read too), the thread lives on to the next pass
            if self.scheduler.state != STATE_RUNNING or not self._may_fire() or self.runner.stopping.is_set():
                return
            if not self.settings.jobs[job_id].enabled:
                return
            stored = self.store.get(job_id)
            if stored is None or stored.paused:
                return
            look(self.runner)
        except Exception as exc:  # noqa: BLE001 - the next pass looks from the same instant
            log.error("the warning pass failed (the next one looks again from the same instant): %s",
                      describe_error(exc, self.runner.engine.url))
            return
        if self.runner.after_pass is not None:
            try:
                self.runner.after_pass()
            except Exception as exc:  # noqa: BLE001 - readers count for themselves meanwhile
                log.warning("the warning counts after the pass could not be kept: %s",
                            describe_error(exc, self.runner.engine.url))

    def _may_fire(self) -> bool:
        return self.runner.may_fire is None or self.runner.may_fire()

    def _run_due_rules(self) -> None:
        """Runs the reset job now if a task's own rule fell due (the daily trigger is for the rest).

        Polling an indexed instant (``task_state.next_reset_at``) rather than adding a date trigger per
        occurrence keeps the job store to the four jobs and survives rules edited from outside.
        """
        job_id = JobId.RESET_PERIODIC_TASKS
        if not self._may_fire():
            return  # not sure this process still leads: the leader checks
        stored = self.store.get(job_id)
        if stored is None or stored.paused:
            return
        try:
            if not pending_on(self.runner.engine, tables_for(self.runner.engine, self.runner.settings),
                              self.runner.clock()):
                return
            log.info("a task's own recurrence rule fell due; running %s", job_id)
            self.runner.execute(job_id, TriggerKind.SCHEDULED, actor="scheduler")
        except (AlreadyRunning, RunNotStarted):
            pass  # recorded and logged by the runner
        except Exception:  # noqa: BLE001 - the next check tries again
            log.exception("checking recurrence rules failed")

    def stop(self) -> None:
        """Graceful: no new firings, long jobs stop between batches, running ones finish."""
        self._stop.set()
        self.runner.stopping.set()  # the job store hands out no more due jobs
        self.sender.stop()  # a unit in flight is marked; one claimed and not sent is claimed again later
        running = sorted(self.runner.active)
        if running:
            log.info("stopping: waiting for %s to finish", ", ".join(running))
        if self.scheduler.state != STATE_STOPPED:
            self.scheduler.pause()  # and no round begins
            self.scheduler.shutdown(wait=True)
        for thread in (self._waker, self._looker):
            if thread is not None and thread is not threading.current_thread():
                # It may be running the reset job for a due rule, or a warning pass: let it finish.
                thread.join()
        log.info("scheduler stopped")

    @property
    def state(self) -> str:
        return {STATE_RUNNING: SchedulerState.RUNNING, STATE_PAUSED: SchedulerState.PAUSED,
                STATE_STOPPED: SchedulerState.STOPPED}[self.scheduler.state]

    def pause_all(self, actor: str) -> None:
        """Pause the whole scheduler: stored first, so that the next leader obeys it too."""
        store_pause(self.runner.engine, True, actor)
        self.obey_pause()

    def resume_all(self, actor: str) -> None:
        store_pause(self.runner.engine, False, actor)
        self.obey_pause()

    def obey_pause(self) -> bool:
        """Pause or resume APScheduler to match the stored scheduler-wide pause; returns it.

        Called by the leader at each heartbeat, so a pause or resume from another process (the
        command line, another console) takes effect here within seconds."""
        with self._pause_guard:
            stored = stored_pause(self.runner.engine)
            try:
                if stored.paused and self.scheduler.state == STATE_RUNNING:
                    self.scheduler.pause()
                    log.warning("scheduler paused (by %s on %s)", stored.actor, stored.host)
                elif not stored.paused and self.scheduler.state == STATE_PAUSED:
                    self.scheduler.resume()
                    log.warning("scheduler resumed (by %s on %s)", stored.actor, stored.host)
            except SchedulerNotRunningError:
                pass  # stopping meanwhile: nothing to obey any more
            return stored.paused

    def pause_job(self, job_id: str) -> None:
        self.store.pause(job_id)

    def resume_job(self, job_id: str) -> datetime | None:
        # The firing clock is the wall clock, whatever clock the runner records runs with.
        return self.store.resume(job_id, now=datetime.now(timezone.utc))

    def _on_event(self, event: JobEvent) -> None:
        # Called on a scheduler thread; only writes to the ledger.
        try:
            if event.code == EVENT_JOB_MISSED:
                self.runner.record_missed(event.job_id, event.scheduled_run_time)
            elif event.code == EVENT_JOB_MAX_INSTANCES:
                times = getattr(event, "scheduled_run_times", None) or [None]
                self.runner.record_skipped(event.job_id, times[0])
        except Exception:  # noqa: BLE001 - a listener must not break the scheduler
            log.exception("could not record scheduler event for %s", event.job_id)
