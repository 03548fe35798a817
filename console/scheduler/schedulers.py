"""The two APScheduler schedulers taskconsole builds, over the same job store table.

- ``firing_scheduler``: the leader's ``BackgroundScheduler``, which fires the jobs through
  ``FiringExecutor`` and takes due jobs from ``LeadingJobStore``.
- ``table_scheduler``: a scheduler that never fires (``TableScheduler``), started paused, so that a
  process that does not lead (the command line, an attached console) reads and changes the job
  store's rows through APScheduler's public job API (``get_jobs``, ``add_job``, ``modify_job``,
  ``pause_job``, ``remove_job``) rather than building ``Job`` objects by hand.

APScheduler 3 keeps no job in memory with a SQLAlchemy store (it reads the table at each round),
so a row changed by one process is what the leader fires next.
"""

from __future__ import annotations

from typing import Any, Callable

from apscheduler.schedulers.background import BackgroundScheduler
from apscheduler.schedulers.base import BaseScheduler
from sqlalchemy import Engine

from console.scheduler.firing_executor import FiringExecutor
from console.scheduler.leading_jobstore import LeadingJobStore
from console.scheduler.safe_jobstore import SafeJobStore
from console.settings import Settings

FUNC = "console.scheduler.runner:scheduled_run"  # the function every row of ours names
TABLE = "apscheduler_jobs"


def job_defaults(settings: Settings) -> dict[str, Any]:
    defaults = settings.scheduler.job_defaults
    return {"coalesce": defaults.coalesce, "max_instances": defaults.max_instances,
            "misfire_grace_time": defaults.misfire_grace_time}


def firing_scheduler(settings: Settings, engine: Engine, runner: Any,
                     may_fire: Callable[[], bool]) -> tuple[BackgroundScheduler, LeadingJobStore]:
    """The leader's scheduler (not started) and its job store; due jobs are handed out only
    while ``may_fire()``."""
    store = LeadingJobStore(engine=engine, tablename=TABLE, functions={FUNC}, may_hand_out=may_fire)
    scheduler = BackgroundScheduler(
        jobstores={"default": store},
        executors={"default": FiringExecutor(settings.scheduler.executor_threads, runner)},
        job_defaults=job_defaults(settings),
        timezone=settings.tz,
    )
    return scheduler, store


class TableScheduler(BaseScheduler):
    """A scheduler that processes no round: of ``BaseScheduler``'s abstract methods (the ones a
    scheduler for a new event loop implements) ``wakeup`` does nothing and ``shutdown`` is the
    base class's; it is only ever started paused."""

    def wakeup(self) -> None:
        pass

    def shutdown(self, wait: bool = True) -> None:
        super().shutdown(wait)


def table_scheduler(settings: Settings, engine: Engine) -> tuple[TableScheduler, SafeJobStore]:
    """A started, paused scheduler over the job store table, and the store."""
    store = SafeJobStore(engine=engine, tablename=TABLE, functions={FUNC})
    scheduler = TableScheduler(jobstores={"default": store}, job_defaults=job_defaults(settings),
                               timezone=settings.tz)
    scheduler.start(paused=True)
    return scheduler, store
