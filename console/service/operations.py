"""What an operator does to jobs and to the scheduler: run now, pause, resume.

``run_now``, ``pause``, ``resume``, ``pause_all`` and ``resume_all`` are one call whoever leads:

- this process leads, or nobody leads: done here;
- another process leads (this one is attached, or takes no part in the election, as the HTTP
  API's ``serve``): queued as a durable command that the leader carries out, and the call waits
  up to ``wait_s`` for the outcome it records.

``request_run`` (the HTTP API's run) always goes through the queue, to whichever process leads,
this one included, and waits only for the leader to begin the run or refuse it: a run is never
carried out in the thread that asked, so a request never waits for a job, and the job's schedule
is never touched.

Each returns an ``ActionResult``, so a face says what happened without asking who did it. Every
action is written to the audit with the operator's name, including a run that could not start.
The direct calls (``run_job``, ``pause_job`` ...) act here whatever leads; the command line uses
them, as it runs jobs in its own foreground.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass
from datetime import datetime, timezone

from console.db.engine import describe_error
from console.domain.runs import Action, Outcome, TriggerKind
from console.scheduler.command_queue import Command, run_id_of
from console.scheduler.interrupt import run_in_foreground
from console.scheduler.ledger import audit, os_user
from console.scheduler.pause import PauseState, store_pause, stored_pause
from console.scheduler.runner import INTERRUPTED, AlreadyRunning, RunNotStarted, RunResult

log = logging.getLogger("console.service")
SCHEDULER = "scheduler"  # the target of pause_all and resume_all


class DisabledJob(Exception):
    """Pause or resume of a job that settings disable."""


@dataclass(frozen=True)
class ActionResult:
    action: Action
    target: str  # the job id, or "scheduler"
    outcome: str  # an Outcome word (a run's: success or failed)
    detail: str | None = None
    by_leader: bool = False  # carried out by the leading process, not this one
    run: RunResult | None = None  # a run carried out here
    next_run_time: datetime | None = None  # UTC, after a resume carried out here
    run_id: int | None = None  # the run a run command began (by the leader)

    @property
    def ok(self) -> bool:
        return self.outcome in (Outcome.DONE, Outcome.SUCCESS, Outcome.STARTED)


def _utc(value: datetime | None) -> datetime | None:
    return value.astimezone(timezone.utc) if value is not None else None


class Operations:
    """Mixed into ``Service``: relies on its settings, engine, runner, bus, commands, store,
    live, attached and check_job."""

    # -- whoever leads ----------------------------------------------------------------------
    def run_now(self, job_id: str, *, actor: str | None = None, wait_s: float = 3.0) -> ActionResult:
        """A manual run. Attached, it waits only to see the leader take it: its events say the rest."""
        if self._leader_elsewhere():
            return self._through_leader(Action.RUN, job_id, actor, wait_s)
        try:
            result = self.run_job(job_id, actor=actor)
        except AlreadyRunning as exc:
            return ActionResult(Action.RUN, job_id, Outcome.ALREADY_RUNNING, str(exc))
        except RunNotStarted as exc:
            return ActionResult(Action.RUN, job_id, Outcome.NOT_STARTED, exc.reason)
        return ActionResult(Action.RUN, job_id, result.status, result.error, run=result)

    def pause(self, job_id: str, *, actor: str | None = None, wait_s: float = 10.0) -> ActionResult:
        if self._leader_elsewhere():
            return self._through_leader(Action.PAUSE, job_id, actor, wait_s)
        self.pause_job(job_id, actor=actor)
        return ActionResult(Action.PAUSE, job_id, Outcome.DONE)

    def resume(self, job_id: str, *, actor: str | None = None, wait_s: float = 10.0) -> ActionResult:
        if self._leader_elsewhere():
            return self._through_leader(Action.RESUME, job_id, actor, wait_s)
        next_run = self.resume_job(job_id, actor=actor)
        return ActionResult(Action.RESUME, job_id, Outcome.DONE, next_run_time=next_run)

    def pause_all(self, *, actor: str | None = None, wait_s: float = 10.0) -> ActionResult:
        if self._leader_elsewhere():
            return self._through_leader(Action.PAUSE_ALL, None, actor, wait_s)
        self.pause_scheduler(actor=actor)
        return ActionResult(Action.PAUSE_ALL, SCHEDULER, Outcome.DONE)

    def resume_all(self, *, actor: str | None = None, wait_s: float = 10.0) -> ActionResult:
        if self._leader_elsewhere():
            return self._through_leader(Action.RESUME_ALL, None, actor, wait_s)
        self.resume_scheduler(actor=actor)
        return ActionResult(Action.RESUME_ALL, SCHEDULER, Outcome.DONE)

    def _leader_elsewhere(self) -> bool:
        """Another process leads: this one is attached to it, or takes no part in the election
        (``serve``) while some process leads."""
        if self.attached:
            return True
        return self.node is None and self.cluster()[0] is not None

    def request_run(self, job_id: str, *, actor: str | None = None, wait_s: float | None = None) -> ActionResult:
        """A manual run through the command queue, carried out by the leader in its own thread.

        Waits up to ``wait_s`` (default: the service's ``run_wait_s``, 3 s) for the leader to say the
        run has begun (``started``, with its ``run_id``) or to refuse it (``already_running``,
        ``not_started``); a run that ended that fast has its status (``success``, ``failed``).
        ``queued`` when no leader said either in time (none leads now: the next one takes it, unless
        it expires first, see console.scheduler.command_queue; or the leader took it and has not
        begun it yet)."""
        self.check_job(job_id)
        command_id = self.commands.submit(Action.RUN, job_id, actor or os_user())
        self.bus.publish({"event": "command", "id": command_id})
        deadline = time.monotonic() + (self.run_wait_s if wait_s is None else wait_s)
        while True:
            command = self.commands.get(command_id)
            if command is not None and (command.done_at is not None or command.outcome == Outcome.STARTED):
                return ActionResult(Action.RUN, job_id, command.outcome or Outcome.FAILED, command.detail,
                                    by_leader=True, run_id=run_id_of(command))
            if time.monotonic() >= deadline:
                detail = (f"taken by {command.taken_by}, not begun yet" if command is not None and command.taken_by
                          else "no leader has taken it yet; the next one does, unless it expires first")
                return ActionResult(Action.RUN, job_id, Outcome.QUEUED, detail, by_leader=True)
            time.sleep(0.05)

    def _through_leader(self, action: Action, job_id: str | None, actor: str | None,
                        wait_s: float) -> ActionResult:
        command = self.send_command(action, job_id, actor=actor, wait_s=wait_s)
        target = job_id or SCHEDULER
        if command is None or command.done_at is None:
            return ActionResult(action, target, Outcome.QUEUED, "sent to the leader, not taken yet", by_leader=True)
        return ActionResult(action, target, command.outcome or Outcome.FAILED, command.detail, by_leader=True)

    # -- here ----------------------------------------------------------------------------------
    def run_job(self, job_id: str, *, actor: str | None = None) -> RunResult:
        """Run now, as a manual run; never overlaps a running instance (raises AlreadyRunning)."""
        self.check_job(job_id)
        actor = actor or os_user()
        try:
            result = self.runner.execute(job_id, TriggerKind.MANUAL, actor=actor, retries=0)
        except AlreadyRunning as exc:
            self._audit(actor, Action.RUN, job_id, Outcome.ALREADY_RUNNING, str(exc))
            raise
        except RunNotStarted as exc:
            where = f"run {exc.run_id}: " if exc.run_id is not None else ""
            self._audit_best_effort(actor, Action.RUN, job_id, Outcome.NOT_STARTED, f"{where}{exc.reason}")
            raise
        self._audit(actor, Action.RUN, job_id, result.status, f"run {result.run_id}: {result.error or result.counts}")
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
                self._audit(actor, Action.RUN, job_id, Outcome.FAILED, INTERRUPTED)
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
        self._audit(actor or os_user(), Action.PAUSE, job_id, Outcome.DONE, None)

    def resume_job(self, job_id: str, *, actor: str | None = None) -> datetime | None:
        """Resumed; its next run time (UTC)."""
        self.check_job(job_id)
        self._require_enabled(job_id)
        if self.live:
            next_run = self.live.resume_job(job_id)
        else:
            self._ensure_stored()
            next_run = self.store.resume(job_id)
        self._audit(actor or os_user(), Action.RESUME, job_id, Outcome.DONE, None)
        return _utc(next_run)

    def send_command(self, action: str, job_id: str | None = None, *, actor: str | None = None,
                     wait_s: float = 10.0) -> Command:
        """Queue ``action`` for the leader and wait up to ``wait_s`` for its outcome (the returned
        command has ``done_at`` None if the leader has not answered)."""
        if job_id is not None:
            self.check_job(job_id)
            if action in (Action.PAUSE, Action.RESUME):
                self._require_enabled(job_id)
        command_id = self.commands.submit(action, job_id, actor or os_user())
        self.bus.publish({"event": "command", "id": command_id})
        deadline = time.monotonic() + wait_s
        while True:
            command = self.commands.get(command_id)
            if command is None or command.done_at is not None or time.monotonic() >= deadline:
                return command
            time.sleep(0.2)

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
        self._audit(actor, Action.PAUSE if paused else Action.RESUME, "*", Outcome.DONE, "whole scheduler")

    def scheduler_pause(self) -> PauseState:
        """The stored scheduler-wide pause: whether it holds, since when and by whom."""
        return stored_pause(self.engine)

    def running_here(self) -> set[str]:
        """Jobs executing in this process now."""
        return set(self.runner.active)

    def _require_enabled(self, job_id: str) -> None:
        if not self.settings.jobs[job_id].enabled:
            raise DisabledJob(f"{job_id} is disabled in settings (jobs.{job_id}.enabled); enable it there first")

    def _ensure_stored(self) -> None:
        if any(self.store.get(job_id) is None for job_id, s in self.settings.jobs.items() if s.enabled):
            self.store.sync()

    def note_request(self, actor: str, action: str, target: str, via: str) -> None:
        """The audit's first line of an action asked for over the HTTP API: who, through which
        token; the outcome follows in a line of its own, written where the action is carried out."""
        self._audit(actor, action, target, Outcome.REQUESTED, via)

    def _audit(self, actor: str, action: str, job_id: str, outcome: str, detail: str | None) -> None:
        audit(self.engine, actor, action, job_id, outcome, detail)

    def _audit_best_effort(self, actor: str, action: str, job_id: str, outcome: str, detail: str | None) -> None:
        """For outcomes the database itself caused: written if it lets us, else logged."""
        try:
            self._audit(actor, action, job_id, outcome, detail)
        except Exception as exc:  # noqa: BLE001
            log.error("audit of %s %s (%s) could not be written: %s", action, job_id, outcome,
                      describe_error(exc, self.engine.url))
