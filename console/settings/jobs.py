"""The jobs' part of settings.yaml: each job's trigger and failure handling, the scheduler."""

from __future__ import annotations

from datetime import timedelta

from pydantic import Field, model_validator

from console.domain.cron import CronError, normalise_crontab
from console.domain.runs import JobId
from console.settings.base import LONGEST, _Strict, _words

JOB_IDS: tuple[str, ...] = tuple(job.value for job in JobId)  # plain words, as settings keys


class TriggerSettings(_Strict):
    """When a job fires: exactly one of ``cron`` or ``every``."""

    cron: str | None = None
    """A five-field crontab line (minute hour day month weekday); weekday 0 or 7 is Sunday."""
    every: timedelta | None = None
    """A fixed interval, as seconds or an ISO-8601 duration (``PT30M``); aligned to midnight."""

    @model_validator(mode="after")
    def _exactly_one(self) -> "TriggerSettings":
        if (self.cron is None) == (self.every is None):
            raise ValueError("give exactly one of 'cron' or 'every'")
        if self.cron is not None:
            try:
                normalise_crontab(self.cron)
            except CronError as exc:
                raise ValueError(f"invalid cron expression {self.cron!r}: {exc}") from None
        if self.every is not None and self.every.total_seconds() < 1:
            raise ValueError("'every' must be at least one second")
        if self.every is not None and self.every > LONGEST:
            raise ValueError(f"'every' must be at most {_words(LONGEST)}")
        return self


class JobSettings(_Strict):
    """One job's schedule and failure handling."""

    enabled: bool = True
    """A disabled job is not scheduled; it can still be run by hand."""
    trigger: TriggerSettings
    """When the job fires, in the settings' timezone."""
    retries: int = Field(default=3, ge=0, le=100)
    """How many times a failed scheduled run is tried again before admins are alerted."""
    retry_delay: float = Field(default=5.0, ge=0, le=3600)
    """Seconds to wait before each retry."""


def _default_jobs() -> dict[str, JobSettings]:
    return {
        JobId.RESET_PERIODIC_TASKS.value: JobSettings(trigger=TriggerSettings(cron="0 2 * * *")),
        JobId.CHECK_TASK_WARNINGS.value: JobSettings(trigger=TriggerSettings(cron="0 * * * *")),
        JobId.UPDATE_TIME_PROGRESS.value: JobSettings(trigger=TriggerSettings(every=timedelta(minutes=30))),
        JobId.CLEANUP_OLD_DATA.value: JobSettings(trigger=TriggerSettings(cron="0 3 * * sun")),
    }


class JobDefaults(_Strict):
    """APScheduler job defaults."""

    coalesce: bool = True
    """Fold a backlog of missed firings into one run."""
    max_instances: int = Field(default=1, ge=1)
    """Concurrent instances of one job in this process."""
    misfire_grace_time: int = Field(default=3600, ge=1, le=int(LONGEST.total_seconds()))
    """Seconds a late firing may still run; later ones are recorded as missed."""


class SchedulerSettings(_Strict):
    """The embedded APScheduler."""

    executor_threads: int = Field(default=10, ge=1, le=200)
    """Size of the thread pool that runs jobs."""
    job_defaults: JobDefaults = JobDefaults()
