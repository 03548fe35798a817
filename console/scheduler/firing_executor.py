"""The thread pool that runs scheduled firings, telling each run which firing it serves.

APScheduler 3 calls a job's function with its stored arguments only, yet the run ledger records
each scheduled run with ``scheduled_for`` (that is what shows every firing ran once), and the
function needs the process's ``JobRunner``. ``FiringExecutor`` overrides ``_do_submit_job`` -
``BaseExecutor``'s abstract method, the one an executor exists to provide - and hands the pool
executor's own the job seen through ``_Firing``: the same job, whose keyword arguments add the
runner and the firing ``run_job`` is at. No global and no thread-local carry them.

What this relies on (pinned by tests/unit/test_apscheduler_extension_points.py): the pool
executor passes the ``run_times`` object it is given to ``run_job``, and ``run_job`` walks it in
order, reading ``job.kwargs`` for each call after taking that call's time from it.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from apscheduler.executors.pool import ThreadPoolExecutor


class _RunTimes(list):
    """The firing times of one submission; ``current`` is the one ``run_job`` has reached."""

    current: datetime | None = None

    def __iter__(self):
        for run_time in super().__iter__():
            self.current = run_time
            yield run_time


class _Firing:
    """A job as ``run_job`` sees it: itself, called with the runner and the firing it serves."""

    def __init__(self, job, runner: Any, run_times: _RunTimes):
        self._job, self._runner, self._run_times = job, runner, run_times

    @property
    def kwargs(self) -> dict[str, Any]:
        return {**self._job.kwargs, "runner": self._runner, "scheduled_for": self._run_times.current}

    def __getattr__(self, name: str) -> Any:
        return getattr(self._job, name)

    def __str__(self) -> str:
        return str(self._job)


class FiringExecutor(ThreadPoolExecutor):
    """APScheduler's thread pool, for jobs whose function takes ``runner`` and ``scheduled_for``."""

    def __init__(self, max_workers: int, runner: Any):
        super().__init__(max_workers)
        self._runner = runner

    def _do_submit_job(self, job, run_times):
        times = _RunTimes(run_times)
        super()._do_submit_job(_Firing(job, self._runner, times), times)
