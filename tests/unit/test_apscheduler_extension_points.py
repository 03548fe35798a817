"""Pins the APScheduler 3.11 behaviour taskconsole's extension points rely on.

taskconsole uses APScheduler through its public API, and overrides only its extension points
(README, "Layout"): the executor's ``_do_submit_job`` (console/scheduler/firing_executor.py), the
job store's ``get_due_jobs``/``get_next_run_time`` (leading_jobstore.py) and state loading
(safe_jobstore.py, pinned in tests/hostile/test_job_store.py), and a ``BaseScheduler`` that
never fires (schedulers.py). Each test here fails if a release changes what one of them needs.
"""

from __future__ import annotations

import threading
import time
from datetime import datetime, timedelta, timezone

from apscheduler.events import EVENT_JOB_MISSED
from apscheduler.jobstores.memory import MemoryJobStore
from apscheduler.schedulers.background import BackgroundScheduler
from sqlalchemy import create_engine

from console.scheduler.firing_executor import FiringExecutor
from console.scheduler.leading_jobstore import LeadingJobStore
from console.scheduler.schedulers import FUNC, TABLE, TableScheduler

UTC = timezone.utc


class Calls(list):
    """Stands in for the runner: what each firing was called with."""

    def __init__(self):
        super().__init__()
        self.event = threading.Event()


def record(job_id: str, *, runner: Calls | None = None, scheduled_for: datetime | None = None) -> None:
    # Defaults, as scheduled_run has: APScheduler refuses a job whose keyword-only arguments it lacks.
    runner.append((job_id, scheduled_for))
    runner.event.set()


def _wait(predicate, timeout: float = 5.0) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.02)


def test_each_firing_reaches_the_function_with_its_own_time_and_missed_ones_do_not():
    calls = Calls()
    missed = []
    scheduler = BackgroundScheduler(executors={"default": FiringExecutor(2, calls)},
                                    jobstores={"default": MemoryJobStore()}, timezone=UTC)
    scheduler.add_listener(lambda e: missed.append(e.scheduled_run_time), EVENT_JOB_MISSED)
    first = datetime.now(UTC).replace(microsecond=0) - timedelta(seconds=35)
    scheduler.start(paused=True)
    try:
        # Four firings due at once (coalesce off): -35 s and -25 s are past the 20 s grace.
        scheduler.add_job(record, "interval", seconds=10, args=("job",), id="job", coalesce=False,
                          misfire_grace_time=20, next_run_time=first)
        scheduler.resume()
        _wait(lambda: len(calls) == 2 and len(missed) == 2)
    finally:
        scheduler.shutdown(wait=True)
    assert calls == [("job", first + timedelta(seconds=20)), ("job", first + timedelta(seconds=30))]
    assert sorted(missed) == [first, first + timedelta(seconds=10)]


def test_a_paused_scheduler_processes_no_round_and_resuming_fires_what_is_due():
    calls = Calls()
    scheduler = BackgroundScheduler(executors={"default": FiringExecutor(1, calls)}, timezone=UTC)
    due = datetime.now(UTC) - timedelta(seconds=1)
    scheduler.start(paused=True)
    try:
        scheduler.add_job(record, "interval", hours=1, args=("job",), id="job", next_run_time=due,
                          misfire_grace_time=30)
        scheduler.wakeup()
        assert not calls.event.wait(1.0)
        scheduler.resume()
        assert calls.event.wait(5.0)
    finally:
        scheduler.shutdown(wait=True)
    assert calls == [("job", due)]


class FakeRunner(Calls):
    may_fire = None

    def execute(self, job_id, kind, *, actor, scheduled_for):
        self.append((job_id, scheduled_for))
        self.event.set()


def test_a_closed_leading_store_hands_out_nothing_keeps_the_firing_due_and_asks_again_each_second(tmp_path):
    engine = create_engine(f"sqlite:///{tmp_path / 'jobs.db'}")
    runner = FakeRunner()
    gate = threading.Event()
    asked = []

    def may_hand_out() -> bool:
        asked.append(time.monotonic())
        return gate.is_set()

    store = LeadingJobStore(engine=engine, tablename=TABLE, functions={FUNC}, may_hand_out=may_hand_out)
    scheduler = BackgroundScheduler(executors={"default": FiringExecutor(1, runner)},
                                    jobstores={"default": store}, timezone=UTC)
    due = datetime.now(UTC).replace(microsecond=0) - timedelta(seconds=2)
    scheduler.start(paused=True)
    try:
        scheduler.add_job(FUNC, "interval", hours=1, args=("job",), id="job", next_run_time=due,
                          misfire_grace_time=60)
        scheduler.resume()
        time.sleep(2.5)
        assert runner == [] and scheduler.get_job("job").next_run_time == due  # not consumed
        assert 2 <= len(asked) <= 6, asked  # a round about each second, not a busy loop
        gate.set()
        assert runner.event.wait(5.0)
    finally:
        scheduler.shutdown(wait=True)
        engine.dispose()
    assert runner == [("job", due)]


def test_a_table_scheduler_reads_and_writes_the_store_and_never_asks_for_due_jobs():
    asked = []

    class Counting(MemoryJobStore):
        def get_due_jobs(self, now):
            asked.append(now)
            return super().get_due_jobs(now)

    scheduler = TableScheduler(jobstores={"default": Counting()}, timezone=UTC)
    scheduler.start(paused=True)
    due = datetime.now(UTC) - timedelta(minutes=1)
    scheduler.add_job(record, "interval", hours=1, args=("job",), id="job", next_run_time=due)
    scheduler.pause_job("job")
    assert scheduler.get_job("job").next_run_time is None
    scheduler.modify_job("job", next_run_time=due)
    scheduler.wakeup()
    time.sleep(0.2)
    assert [job.next_run_time for job in scheduler.get_jobs()] == [due]
    assert asked == []


def test_the_installed_apscheduler_is_the_minor_version_pinned_here_and_in_pyproject():
    from importlib.metadata import version
    from pathlib import Path

    assert version("apscheduler").startswith("3.11.")
    assert '"apscheduler~=3.11.0"' in (Path(__file__).parents[2] / "pyproject.toml").read_text()
