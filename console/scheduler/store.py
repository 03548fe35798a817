"""The APScheduler job store table, read and changed without a running scheduler.

The command line pauses, resumes and lists jobs while the scheduler may run in another process;
APScheduler 3 keeps no job in memory when it uses a SQLAlchemy store (it reads the table at
each wake-up), so changing the rows is how another process is told.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime
from typing import Callable

from apscheduler.executors.base import run_job
from apscheduler.executors.pool import ThreadPoolExecutor
from apscheduler.job import Job
from apscheduler.jobstores.base import JobLookupError
from apscheduler.schedulers.background import BackgroundScheduler
from apscheduler.schedulers.base import STATE_STOPPED
from sqlalchemy import Engine

from console.jobs import JOBS
from console.scheduler import runner as runner_module
from console.scheduler.ledger import utcnow
from console.scheduler.safe_jobstore import RefusedJobState, SafeJobStore
from console.scheduler.triggers import build_trigger, signature
from console.settings import Settings

log = logging.getLogger("console.scheduler")
FUNC = "console.scheduler.runner:scheduled_run"
TABLE = "apscheduler_jobs"


@dataclass(frozen=True)
class StoredJob:
    id: str
    next_run_time: datetime | None
    trigger_signature: str

    @property
    def paused(self) -> bool:
        return self.next_run_time is None


class _FiringExecutor(ThreadPoolExecutor):
    """APScheduler's thread pool, telling the called function which firing it serves.

    APScheduler 3 calls the job function with its stored arguments only; the firing time goes
    through ``runner.firing`` (thread-local) so each run is recorded with ``scheduled_for``, which
    is what shows that every firing ran once.
    """

    def _do_submit_job(self, job, run_times):
        def run_each(job, alias, times, logger_name):
            events = []
            for run_time in times:
                runner_module.firing.at = run_time
                try:
                    events.extend(run_job(job, alias, [run_time], logger_name))
                finally:
                    runner_module.firing.at = None
            return events

        def callback(f):
            exc = f.exception()
            if exc:
                self._run_job_error(job.id, exc, exc.__traceback__)
            else:
                self._run_job_success(job.id, f.result())

        self._pool.submit(run_each, job, job._jobstore_alias, run_times, self._logger.name).add_done_callback(callback)


_RETRY_ROUND_S = 1.0


class _StopAwareScheduler(BackgroundScheduler):
    """APScheduler 3 may process due jobs once more after ``shutdown()`` has begun (its loop, or a
    round waiting for the job-store lock while shutdown waits for a running job; apscheduler #285,
    #985). Such a firing would go to the executor already shut down: neither run nor recorded,
    and its next run time moved past it. Refusing the round leaves it due for the next start.
    The same goes for a round while this process is not sure it still leads."""

    # Set by the leader election: while it returns False (the leader lock's session was lost and
    # is being taken back) no round is processed, so no firing is consumed without running; the
    # store keeps them due for whoever leads next (this process again, or a standby).
    may_process: Callable[[], bool] | None = None

    def _process_jobs(self):
        if self.state == STATE_STOPPED:
            return None
        if self.may_process is not None and not self.may_process():
            return _RETRY_ROUND_S
        with self._jobstores_lock:  # re-entrant: the base class takes it again
            if self.state == STATE_STOPPED:
                return None
            return super()._process_jobs()


def new_scheduler(settings: Settings, engine: Engine) -> BackgroundScheduler:
    """A BackgroundScheduler configured from settings (not started)."""
    defaults = settings.scheduler.job_defaults
    return _StopAwareScheduler(
        jobstores={"default": SafeJobStore(engine=engine, tablename=TABLE, functions={FUNC})},
        executors={"default": _FiringExecutor(settings.scheduler.executor_threads)},
        job_defaults={
            "coalesce": defaults.coalesce,
            "max_instances": defaults.max_instances,
            "misfire_grace_time": defaults.misfire_grace_time,
        },
        timezone=settings.tz,
    )


class JobStore:
    """Rows of the job store: sync them with settings, list, pause, resume."""

    def __init__(self, settings: Settings, engine: Engine, clock: Callable[[], datetime] = utcnow):
        self.settings = settings
        self.clock = clock
        self._scheduler = new_scheduler(settings, engine)
        self._store = SafeJobStore(engine=engine, tablename=TABLE, functions={FUNC})
        self._store.start(self._scheduler, "default")

    def _job(self, job_id: str, next_run_time: datetime | None) -> Job:
        job_settings = self.settings.jobs[job_id]
        defaults = self.settings.scheduler.job_defaults
        return Job(
            self._scheduler,
            id=job_id,
            func=FUNC,
            args=(job_id,),
            kwargs={},
            name=JOBS[job_id].name,
            trigger=build_trigger(job_settings.trigger, self.settings.tz),
            executor="default",
            misfire_grace_time=defaults.misfire_grace_time,
            coalesce=defaults.coalesce,
            max_instances=defaults.max_instances,
            next_run_time=next_run_time,
        )

    def sync(self) -> list[str]:
        """Make the table match settings; keep pause state and next run of unchanged triggers."""
        changes: list[str] = []
        now = self.clock().astimezone(self.settings.tz)
        stored = {job.id: job for job in self._store.get_all_jobs()}
        for job_id, job_settings in self.settings.jobs.items():
            if job_id in self._store.refused:
                continue  # a row that would not load is kept as it is for an operator (safe_jobstore)
            current = stored.pop(job_id, None)
            if not job_settings.enabled:
                if current is not None:
                    self._store.remove_job(job_id)
                    changes.append(f"{job_id}: disabled, removed from the schedule")
                continue
            fresh = self._job(job_id, None)
            if current is None:
                fresh._modify(next_run_time=fresh.trigger.get_next_fire_time(None, now))
                self._store.add_job(fresh)
                changes.append(f"{job_id}: scheduled")
                continue
            same_trigger = signature(current.trigger) == signature(fresh.trigger)
            same_job = (current.func_ref == FUNC and current.args == (job_id,)
                        and current.misfire_grace_time == fresh.misfire_grace_time
                        and current.coalesce == fresh.coalesce and current.max_instances == fresh.max_instances)
            if same_trigger and same_job:
                continue
            if current.next_run_time is None:
                next_run = None  # paused stays paused
            elif same_trigger:
                next_run = current.next_run_time
            else:
                next_run = fresh.trigger.get_next_fire_time(None, now)
            fresh._modify(next_run_time=next_run)
            self._store.update_job(fresh)
            changes.append(f"{job_id}: {'trigger changed' if not same_trigger else 'settings changed'}")
        for job_id in stored:
            self._store.remove_job(job_id)
            changes.append(f"{job_id}: unknown job removed from the schedule")
        for change in changes:
            log.info("schedule: %s", change)
        return changes

    @property
    def refused(self) -> dict[str, str]:
        """Rows the last read would not load (job id -> why): kept, not run."""
        return dict(self._store.refused)

    def get(self, job_id: str) -> StoredJob | None:
        try:
            job = self._store.lookup_job(job_id)
        except RefusedJobState:
            return None  # not run; the store logged it and status reports it
        if job is None:
            return None
        return StoredJob(job.id, job.next_run_time, signature(job.trigger))

    def all(self) -> dict[str, StoredJob]:
        return {job.id: StoredJob(job.id, job.next_run_time, signature(job.trigger)) for job in self._store.get_all_jobs()}

    def pause(self, job_id: str) -> None:
        job = self._lookup(job_id)
        job._modify(next_run_time=None)
        self._store.update_job(job)

    def resume(self, job_id: str) -> datetime | None:
        job = self._lookup(job_id)
        now = self.clock().astimezone(self.settings.tz)
        job._modify(next_run_time=job.trigger.get_next_fire_time(None, now))
        self._store.update_job(job)
        return job.next_run_time

    def _lookup(self, job_id: str) -> Job:
        job = self._store.lookup_job(job_id)
        if job is None:
            raise JobLookupError(job_id)
        return job
