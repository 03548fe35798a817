"""One scheduler process among several on a database: stand by, lead, hand over.

Every ``taskconsole run`` and every console is a node. The node holding the leader lock
(``LeaderLock``) runs the APScheduler instance and carries out queued commands; the others stand
by and try for the lock every ``HEARTBEAT_S`` seconds, so one of them leads within a few seconds
of the leader's end (at once after kill -9, within about 11 s after a host or network loss,
thanks to the leader session's TCP keepalives).

A new leader first cleans up after the old one: runs left ``running`` are marked abandoned and,
if still within the misfire grace time, run once more; commands the old leader took and never
finished are closed. Missed firings are APScheduler's: the job store keeps each job's next run
time, so on start it coalesces them into one run within the grace time, or records them missed.

The scheduler-wide pause is stored (``console.scheduler.pause``): a new leader starts paused when
it holds, and the leader re-reads it at every beat, so a pause outlives the process that made it.
"""

from __future__ import annotations

import logging
import os
import threading
import uuid
from datetime import datetime, timedelta
from typing import Callable

from dataclasses import dataclass

from sqlalchemy import delete, func, insert, select, update

from console.db.engine import describe_error, read_only
from console.db.models import LeaderTerm, SchedulerNode
from console.domain.deliveries import DeliveryEvent
from console.domain.runs import Action, Outcome, SchedulerState, TriggerKind
from console.scheduler.command_queue import Command, CommandQueue
from console.scheduler.fence import SchemaFence
from console.scheduler.ledger import HOST, audit, utcnow
from console.scheduler.live import LiveScheduler
from console.scheduler.locks import JobLocks, LeaderLock
from console.scheduler.pause import stored_pause
from console.scheduler.runner import ABANDONED, AlreadyRunning, JobRunner, RunNotStarted

log = logging.getLogger("console.scheduler")
HEARTBEAT_S = 2.0
# A node row not refreshed for this long belongs to a process that is gone.
STALE_AFTER = timedelta(seconds=15)


class Node:
    def __init__(self, runner: JobRunner, kind: str, *, on_change: Callable[[str], None] | None = None,
                 start_paused: bool = False):
        self.runner = runner
        self.engine = runner.engine
        self.settings = runner.settings
        self.kind = kind
        self.id = f"{HOST}:{os.getpid()}:{uuid.uuid4().hex[:6]}"
        self.leader_since: datetime | None = None
        self.live: LiveScheduler | None = None
        self.commands = CommandQueue(self.engine)
        self._lock = LeaderLock(self.engine)
        self.fence = SchemaFence(self.engine)
        self._on_change = on_change or (lambda role: None)
        self._start_paused = start_paused
        self._stop = threading.Event()
        self._wake = threading.Event()
        self._thread: threading.Thread | None = None
        self._workers: list[threading.Thread] = []
        self._started_at = utcnow()
        self._registered = False
        self._started = False  # role changes are reported to on_change only after start()
        runner.may_fire = self.leads

    # -- life --------------------------------------------------------------------------------
    def start(self) -> None:
        """Joins the election at once (so the caller knows its role), then keeps at it."""
        self._tick()
        self._started = True
        self._thread = threading.Thread(target=self._loop, name="scheduler-node", daemon=True)
        self._thread.start()

    def wake(self) -> None:
        """Look at the command queue now (Redis told us a command is waiting)."""
        self._wake.set()

    def stop(self) -> None:
        """Graceful: the scheduler stops (running jobs finish), the lock and the row go."""
        self._stop.set()
        self._wake.set()
        if self._thread is not None and self._thread is not threading.current_thread():
            self._thread.join()
        self._step_down("stopping")
        for worker in self._workers:
            worker.join()
        self._lock.close()
        try:
            with self.engine.begin() as conn:
                conn.execute(delete(SchedulerNode).where(SchedulerNode.id == self.id))
        except Exception:  # noqa: BLE001 - the row goes stale and status stops showing it
            pass

    @property
    def role(self) -> str:
        """``leader`` while this process runs the scheduler, else ``standby``."""
        return "leader" if self.live is not None else "standby"

    @property
    def stopped(self) -> bool:
        return self._stop.is_set()

    @property
    def fenced(self) -> str | None:
        """Why the schema fence holds this node back (None: it does not)."""
        return self.fence.reason

    def leads(self) -> bool:
        """Whether a firing may run here now: leading, holding the lock, and (read again before each
        firing) on the schema revision this release knows."""
        if self.role != "leader" or not self._lock.alive():
            return False
        try:
            return self.fence.check() is None
        except Exception:  # noqa: BLE001 - a database that cannot be read runs nothing either
            return False

    def _loop(self) -> None:
        while not self._stop.is_set():
            self._wake.wait(HEARTBEAT_S)
            self._wake.clear()
            if not self._stop.is_set():
                self._tick()

    def _tick(self) -> None:
        try:
            if self.fence.check() is not None:
                # Nothing is written by a release that does not know the schema: no commands, no
                # election, no heartbeat row; a leader lets go (its running jobs finish).
                if self.role == "leader":
                    self._step_down("fenced")
                    self._lock.release()
                return
            if self.role == "leader" and not self._lock.alive():
                # The lock's session is gone (a database restart, a network cut). Until the lock is
                # ours again scheduled firings are not run here (``leads()`` is False), but the
                # scheduler keeps going: a restart costs seconds, not a hand-over.
                self._lock.release()
                log.error("lost the leader lock with its database session; taking it back")
                if self._lock.try_acquire():
                    log.info("leader lock taken back")
                else:
                    log.warning("another process leads now; standing by")
                    self._step_down("standby")
            if self.role == "leader" and self._lock.held:
                self._serve_commands()
                live = self.live
                if live is not None:
                    live.obey_pause()  # paused or resumed from another process meanwhile
            if self.role != "leader" and self._lock.try_acquire():
                self._elected()
            self._heartbeat()
        except Exception as exc:  # noqa: BLE001 - the database may be down; try again next beat
            log.warning("scheduler node: %s", describe_error(exc, self.engine.url))

    def _heartbeat(self) -> None:
        now = utcnow()
        live = self.live
        values = dict(role=self.role, state=live.state if live is not None else SchedulerState.STANDBY, heartbeat_at=now,
                      leader_since=self.leader_since)
        with self.engine.begin() as conn:
            if self._registered:
                found = conn.execute(update(SchedulerNode).where(SchedulerNode.id == self.id).values(**values)).rowcount
                if found:
                    return
            conn.execute(insert(SchedulerNode).values(id=self.id, host=HOST, pid=os.getpid(), kind=self.kind,
                                                      started_at=self._started_at, **values))
            # Rows of processes gone for a day are noise in `status`.
            conn.execute(delete(SchedulerNode).where(SchedulerNode.heartbeat_at < now - timedelta(days=1)))
            self._registered = True

    # -- leading -----------------------------------------------------------------------------
    def _elected(self) -> None:
        log.info("this process (%s, %s) won the leader lock", self.kind, self.id)
        self.runner.stopping.clear()  # it may have led, stepped down and now leads again
        live = LiveScheduler(self.runner)
        try:
            self._take_over()
            # The pause an earlier leader (or the command line) stored holds for this one too.
            live.start(paused=self._start_paused or stored_pause(self.engine).paused)
        except BaseException:
            # Half elected is worse than not: holding the lock with no scheduler would keep every
            # standby out. Let go, and try again at the next beat.
            live.stop()
            self._lock.release()
            raise
        self.leader_since = utcnow()
        self.live = live
        self._record_term()
        log.info("this process (%s, %s) now leads the scheduler", self.kind, self.id)
        if self._started:
            self._on_change("leader")

    def _record_term(self) -> None:
        """One row per leadership taken: ``taskconsole_leader_changes_total`` counts them."""
        try:
            with self.engine.begin() as conn:
                conn.execute(insert(LeaderTerm).values(node_id=self.id, host=HOST, pid=os.getpid(),
                                                       began_at=self.leader_since))
        except Exception as exc:  # noqa: BLE001 - a count for the metrics never costs the lead
            log.warning("scheduler node: leader term not recorded: %s", describe_error(exc, self.engine.url))

    def _step_down(self, why: str) -> None:
        live, self.live = self.live, None
        self.leader_since = None
        if live is not None:
            live.stop()
        if live is not None and why != "stopping" and self._started:
            self._on_change("standby")

    def _take_over(self) -> None:
        """What the previous leader left: runs still marked running, commands half done."""
        with self.engine.begin() as conn:
            # Holding the lock proves any other row saying "leader" belongs to a process now gone.
            conn.execute(delete(SchedulerNode).where(SchedulerNode.role == "leader", SchedulerNode.id != self.id))
        closed = self.commands.close_orphans(self.id)
        if closed:
            log.warning("%d command(s) taken by the previous leader closed as abandoned", closed)
        grace = timedelta(seconds=self.settings.scheduler.job_defaults.misfire_grace_time)
        locks = JobLocks(self.engine)
        for job_id in self.settings.jobs:
            lock = locks.try_acquire(f"job:{job_id}")
            if lock is None:
                continue  # running now somewhere (a command-line run): not abandoned
            try:
                stale = self.runner.ledger.running(job_id)
                if stale is None:
                    continue
                self.runner.ledger.abandon_running(job_id, ABANDONED)
            finally:
                lock.release()
            log.warning("%s: run %d left running by a process that ended; marked abandoned", job_id, stale.id)
            self.runner.job_event(DeliveryEvent.JOB_FAILURE, job_id, detail=ABANDONED, run_id=stale.id,
                                  fields={"event": "job_abandoned", "run_id": stale.id})
            due = stale.scheduled_for or stale.started_at
            if stale.trigger_kind in (TriggerKind.SCHEDULED, TriggerKind.RETRY) and utcnow() - due <= grace:
                log.info("%s: running it once more (within its misfire grace time)", job_id)
                self._in_background(job_id, lambda j=job_id, d=stale.scheduled_for: self._rerun(j, d))

    def _rerun(self, job_id: str, scheduled_for: datetime | None) -> None:
        try:
            paused = stored_pause(self.engine).paused
        except Exception:  # noqa: BLE001 - the database is away: the run records its own failure
            paused = False
        if paused:
            # A firing cut short is a firing: while the whole scheduler is paused, none runs.
            log.warning("%s: not run again: the scheduler is paused", job_id)
            return
        try:
            self.runner.execute(job_id, TriggerKind.RETRY, actor="scheduler", scheduled_for=scheduled_for)
        except (AlreadyRunning, RunNotStarted):
            pass  # recorded

    def _in_background(self, name: str, work: Callable[[], None]) -> None:
        self._workers = [w for w in self._workers if w.is_alive()]
        worker = threading.Thread(target=work, name=f"command-{name}", daemon=True)
        self._workers.append(worker)
        worker.start()

    # -- commands ----------------------------------------------------------------------------
    def _serve_commands(self) -> None:
        for command in self.commands.claim(self.id):
            if command.action == Action.RUN:
                self._in_background(command.job_id or Action.RUN, lambda c=command: self._run_command(c))
            else:
                self._carry_out(command)

    def _close(self, command: Command, outcome: str, detail: str | None, action: str) -> None:
        """Outcome on the command's row and in the audit; each claimed command gets it, whatever
        happened to the one before (the row write waits out a database restart)."""
        try:
            self.commands.finish(command.id, outcome, detail)
            audit(self.engine, command.actor, action, command.job_id or "*", outcome,
                  f"from {command.host} through the leader {self.id}" + (f": {detail}" if detail else ""))
        except Exception as exc:  # noqa: BLE001 - logged; the next leader closes it as abandoned
            log.error("command %d: outcome %s could not be recorded: %s", command.id, outcome,
                      describe_error(exc, self.engine.url))
        log.info("command %d (%s %s from %s@%s): %s", command.id, command.action, command.job_id or "",
                 command.actor, command.host, outcome)

    def _carry_out(self, command: Command) -> None:
        live = self.live
        try:
            if live is None:
                raise RuntimeError("no scheduler runs here")
            if command.action in (Action.PAUSE, Action.RESUME) and command.job_id not in self.settings.jobs:
                raise KeyError(f"unknown job id {command.job_id!r}")
            if command.action == Action.PAUSE:
                live.pause_job(command.job_id)
            elif command.action == Action.RESUME:
                live.resume_job(command.job_id)
            elif command.action == Action.PAUSE_ALL:
                live.pause_all(command.actor)
            elif command.action == Action.RESUME_ALL:
                live.resume_all(command.actor)
            outcome, detail = Outcome.DONE, None
        except Exception as exc:  # noqa: BLE001 - the outcome goes back to whoever asked
            outcome, detail = Outcome.FAILED, str(exc)
        self._close(command, outcome, detail, command.action.replace("_all", ""))

    def _run_command(self, command: Command) -> None:
        started: list[int] = []

        def say_started(run_id: int) -> None:
            # Whoever asked waits for this (or for a refusal): "任务已触发" only for a run that began.
            started.append(run_id)
            self.commands.started(command.id, run_id)

        try:
            result = self.runner.execute(command.job_id or "", TriggerKind.MANUAL, actor=command.actor, retries=0,
                                         on_start=say_started)
            # Words, not a dict's repr: whoever asked reads the counts from the run's ledger row.
            outcome, detail = result.status, f"run {result.run_id}: {result.error or result.status}"
        except AlreadyRunning as exc:
            outcome, detail = Outcome.ALREADY_RUNNING, str(exc)
        except RunNotStarted as exc:
            outcome, detail = Outcome.NOT_STARTED, exc.reason
        except Exception as exc:  # noqa: BLE001
            if started:
                outcome, detail = Outcome.FAILED, f"run {started[0]}: {exc}"
            else:
                outcome, detail = Outcome.NOT_STARTED, str(exc)
        self._close(command, outcome, detail, Action.RUN)



@dataclass(frozen=True)
class NodeInfo:
    id: str
    host: str
    pid: int
    kind: str
    role: str
    state: str
    started_at: datetime
    heartbeat_at: datetime
    leader_since: datetime | None


def cluster(engine, now: datetime | None = None) -> tuple[NodeInfo | None, list[NodeInfo]]:
    """The leader (the newest to be elected among live rows) and the other live processes."""
    now = now or utcnow()
    with read_only(engine).connect() as conn:
        rows = conn.execute(select(SchedulerNode).where(SchedulerNode.heartbeat_at >= now - STALE_AFTER)
                            .order_by(SchedulerNode.started_at)).all()
    nodes = [NodeInfo(id=r.id, host=r.host, pid=r.pid, kind=r.kind, role=r.role, state=r.state,
                      started_at=r.started_at, heartbeat_at=r.heartbeat_at, leader_since=r.leader_since)
             for r in rows]
    leaders = sorted((n for n in nodes if n.role == "leader" and n.leader_since),
                     key=lambda n: n.leader_since, reverse=True)
    leader = leaders[0] if leaders else None
    # A row still saying "leader" beside a newer leader is the old one's, not yet stale: it is gone.
    return leader, [n for n in nodes if n.role == "standby"]


def leader_changes(engine) -> int:
    """Times a process took the lead, ever (leader_terms)."""
    with read_only(engine).connect() as conn:
        return int(conn.execute(select(func.count()).select_from(LeaderTerm)).scalar_one())
