"""The jobs' rows in APScheduler's job store: kept in step with settings, listed, paused, resumed.

Every change goes through a scheduler's public job API: the leader's own scheduler when this
process leads, else a ``TableScheduler`` that never fires (``console.scheduler.schedulers``). The
command line pauses, resumes and lists jobs while the leader may run in another process; it reads
the table at each round, so changing the rows is how that process is told.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime
from typing import Callable

from apscheduler.jobstores.base import JobLookupError
from apscheduler.schedulers.base import BaseScheduler

from console.jobs import JOBS
from console.scheduler.ledger import utcnow
from console.scheduler.safe_jobstore import SafeJobStore
from console.scheduler.schedulers import FUNC, job_defaults
from console.scheduler.triggers import build_trigger, describe_trigger, signature
from console.settings import Settings

log = logging.getLogger("console.scheduler")


@dataclass(frozen=True)
class StoredJob:
    id: str
    next_run_time: datetime | None
    trigger_signature: str
    trigger_words: str = ""  # the stored trigger in words (triggers.describe_trigger)

    @property
    def paused(self) -> bool:
        return self.next_run_time is None


def _stored(job) -> StoredJob:
    return StoredJob(job.id, job.next_run_time, signature(job.trigger), describe_trigger(job.trigger))


class ScheduleTable:
    """The job store's rows through ``scheduler`` (started; paused or running) and its ``store``."""

    def __init__(self, settings: Settings, scheduler: BaseScheduler, store: SafeJobStore,
                 clock: Callable[[], datetime] = utcnow):
        self.settings = settings
        self.clock = clock
        self._scheduler = scheduler
        self._store = store

    def _now(self) -> datetime:
        return self.clock().astimezone(self.settings.tz)

    def _write(self, job_id: str, next_run_time: datetime | None) -> None:
        """Add the job as settings define it, or replace its row, with ``next_run_time``."""
        self._scheduler.add_job(
            FUNC, trigger=build_trigger(self.settings.jobs[job_id].trigger, self.settings.tz), args=(job_id,),
            id=job_id, name=JOBS[job_id].name, executor="default", next_run_time=next_run_time,
            replace_existing=True, **job_defaults(self.settings),
        )

    def sync(self) -> list[str]:
        """Make the table match settings; keep pause state and next run of unchanged triggers."""
        changes: list[str] = []
        now = self._now()
        stored = {job.id: job for job in self._scheduler.get_jobs()}
        for job_id, job_settings in self.settings.jobs.items():
            if job_id in self._store.refused:
                continue  # a row that would not load is kept as it is for an operator (safe_jobstore)
            current = stored.pop(job_id, None)
            if not job_settings.enabled:
                if current is not None:
                    self._scheduler.remove_job(job_id)
                    changes.append(f"{job_id}: disabled, removed from the schedule")
                continue
            trigger = build_trigger(job_settings.trigger, self.settings.tz)
            if current is None:
                self._write(job_id, trigger.get_next_fire_time(None, now))
                changes.append(f"{job_id}: scheduled")
                continue
            same_trigger = signature(current.trigger) == signature(trigger)
            wanted = job_defaults(self.settings)
            same_job = (current.func_ref == FUNC and current.args == (job_id,)
                        and all(getattr(current, key) == value for key, value in wanted.items()))
            if same_trigger and same_job:
                continue
            if current.next_run_time is None:
                next_run = None  # paused stays paused
            elif same_trigger:
                next_run = current.next_run_time
            else:
                next_run = trigger.get_next_fire_time(None, now)
            self._write(job_id, next_run)
            changes.append(f"{job_id}: {'trigger changed' if not same_trigger else 'settings changed'}")
        for job_id in stored:
            self._scheduler.remove_job(job_id)
            changes.append(f"{job_id}: unknown job removed from the schedule")
        for change in changes:
            log.info("schedule: %s", change)
        return changes

    @property
    def refused(self) -> dict[str, str]:
        """Rows the last read would not load (job id -> why): kept, not run."""
        return dict(self._store.refused)

    def get(self, job_id: str) -> StoredJob | None:
        job = self._scheduler.get_job(job_id)  # None for a refused row too: not run, and reported
        return None if job is None else _stored(job)

    def all(self) -> dict[str, StoredJob]:
        return {job.id: _stored(job) for job in self._scheduler.get_jobs()}

    def pause(self, job_id: str) -> None:
        self._scheduler.pause_job(job_id)

    def resume(self, job_id: str, now: datetime | None = None) -> datetime | None:
        """Next firing after ``now`` (default: the clock); a paused job's missed firings are not run."""
        job = self._scheduler.get_job(job_id)
        if job is None:
            raise JobLookupError(job_id)
        next_run = job.trigger.get_next_fire_time(None, (now or self.clock()).astimezone(self.settings.tz))
        self._scheduler.modify_job(job_id, next_run_time=next_run)
        return next_run

    def set_next_run(self, job_id: str, when: datetime | None) -> None:
        """Move one job's next firing (operators' repairs, and tests planting a schedule)."""
        self._scheduler.modify_job(job_id, next_run_time=when)
