"""The embedded scheduler through the service layer, on SQLite and PostgreSQL.

Each case starts a real APScheduler (``Service.start_scheduler``) on the test database and polls
the run ledger with a deadline; every scheduler started here is stopped in the fixture's teardown.
"""

from __future__ import annotations

import getpass
import time
from datetime import datetime, timedelta, timezone

import pytest
from sqlalchemy import select

from console.db.models import JobRun
from console.scheduler.runner import AlreadyRunning
from console.service import Service
from console.settings import JOB_IDS, Settings
from tests.conftest import schedule_table


def settings_for(jobs: dict | None = None, *, only: str | None = None, misfire: int = 3600) -> Settings:
    """Settings with ``jobs`` overrides; with ``only``, every other job is disabled."""
    jobs = dict(jobs or {})
    if only:
        for job_id in JOB_IDS:
            if job_id != only:
                jobs.setdefault(job_id, {"enabled": False})
    return Settings.model_validate({"jobs": jobs, "scheduler": {"job_defaults": {"misfire_grace_time": misfire}}})


def far_cron() -> str:
    """A daily cron about 12 hours away, so it cannot fire during a test."""
    hour = (datetime.now(Settings().tz).hour + 12) % 24
    return f"0 {hour} * * *"


@pytest.fixture
def services(db):
    """``make(settings)`` gives a Service on the test database; all are stopped at teardown."""
    made: list[Service] = []

    def make(settings: Settings) -> Service:
        service = Service(settings, db.engine)
        made.append(service)
        return service

    yield make
    for service in reversed(made):
        service.stop_scheduler()


def runs(engine, job_id: str | None = None) -> list:
    query = select(JobRun).order_by(JobRun.id)
    if job_id:
        query = query.where(JobRun.job_id == job_id)
    with engine.connect() as conn:
        return conn.execute(query).all()


def wait_for_run(engine, job_id: str, status: str, timeout: float = 10.0):
    deadline = time.monotonic() + timeout
    while True:
        found = [r for r in runs(engine, job_id) if r.status == status]
        if found:
            return found[0]
        assert time.monotonic() < deadline, f"no {status} run of {job_id} within {timeout} s: {runs(engine)}"
        time.sleep(0.1)


def by_id(service: Service) -> dict:
    return {job.id: job for job in service.jobs()}


def test_a_job_fires_by_its_trigger_and_is_recorded_as_scheduled(db, services):
    service = services(settings_for({"update_time_progress": {"trigger": {"every": 1}}}, only="update_time_progress"))
    service.start_scheduler()
    run = wait_for_run(db.engine, "update_time_progress", "success")
    service.stop_scheduler()
    assert (run.trigger_kind, run.actor, run.attempt) == ("scheduled", "scheduler", 1)
    assert run.finished_at >= run.started_at and run.counts is not None
    assert all(r.status != "running" for r in runs(db.engine))
    assert {r.job_id for r in runs(db.engine)} == {"update_time_progress"}


def test_restart_with_the_same_settings_keeps_pause_state_and_next_run_times(db, services):
    settings = settings_for()
    first = services(settings)
    first.start_scheduler()
    first.pause_job("reset_periodic_tasks")
    before = by_id(first)
    first.stop_scheduler()
    # Plant a later (still valid) firing, so a kept next run time differs from a recomputed one.
    planted = before["update_time_progress"].next_run_time + timedelta(hours=2)
    store = schedule_table(settings, db.engine)
    store.set_next_run("update_time_progress", planted)

    second = services(settings)
    second.start_scheduler()
    after = by_id(second)
    assert after["reset_periodic_tasks"].paused and after["reset_periodic_tasks"].next_run_time is None
    assert after["reset_periodic_tasks"].state == "paused"
    assert after["update_time_progress"].next_run_time == planted
    for job_id in ("check_task_warnings", "cleanup_old_data"):
        assert not after[job_id].paused
        assert after[job_id].next_run_time == before[job_id].next_run_time


def test_restart_with_a_changed_trigger_reschedules_but_keeps_pause(db, services):
    first = services(settings_for())
    first.start_scheduler()
    first.pause_job("cleanup_old_data")
    before = by_id(first)
    first.stop_scheduler()

    changed = settings_for({"check_task_warnings": {"trigger": {"cron": "30 * * * *"}},
                            "cleanup_old_data": {"trigger": {"cron": "0 4 * * sat"}}})
    second = services(changed)
    second.start_scheduler()
    now = datetime.now(timezone.utc)
    after = by_id(second)
    warnings = after["check_task_warnings"]
    assert warnings.trigger == "hourly at :30" and not warnings.paused
    assert warnings.next_run_time != before["check_task_warnings"].next_run_time
    assert warnings.next_run_time.minute == 30 and now < warnings.next_run_time <= now + timedelta(hours=1)
    cleanup = after["cleanup_old_data"]
    assert cleanup.trigger == "Saturdays 04:00"
    assert cleanup.paused and cleanup.next_run_time is None
    assert after["reset_periodic_tasks"].next_run_time == before["reset_periodic_tasks"].next_run_time


def test_a_manual_run_does_not_shift_the_next_run_time(db, services):
    service = services(settings_for({"update_time_progress": {"trigger": {"cron": far_cron()}}}))
    service.start_scheduler()
    before = by_id(service)["update_time_progress"].next_run_time
    stored_before = service.store.get("update_time_progress").next_run_time
    result = service.run_job("update_time_progress")
    assert result.status == "success"
    assert by_id(service)["update_time_progress"].next_run_time == before
    assert service.store.get("update_time_progress").next_run_time == stored_before
    assert [(r.trigger_kind, r.status, r.actor) for r in runs(db.engine)] == [
        ("manual", "success", getpass.getuser())]


def test_a_firing_missed_beyond_the_grace_time_is_recorded_as_missed(db, services):
    settings = settings_for({"reset_periodic_tasks": {"trigger": {"cron": far_cron()}}},
                            only="reset_periodic_tasks", misfire=1)
    # The schedule as a previous scheduler left it, with a firing two minutes overdue.
    store = schedule_table(settings, db.engine)
    store.sync()
    overdue = datetime.now(timezone.utc).replace(microsecond=0) - timedelta(minutes=2)
    store.set_next_run("reset_periodic_tasks", overdue)

    service = services(settings)
    service.start_scheduler()
    missed = wait_for_run(db.engine, "reset_periodic_tasks", "missed")
    assert (missed.trigger_kind, missed.actor) == ("scheduled", "scheduler")
    assert missed.scheduled_for == overdue
    assert missed.error
    assert [r.status for r in runs(db.engine)] == ["missed"]  # the late firing did not execute
    # The scheduler moves the job on to its next firing (it writes the store just after dispatching).
    deadline = time.monotonic() + 5
    while (next_run := by_id(service)["reset_periodic_tasks"].next_run_time) == overdue:
        assert time.monotonic() < deadline, "next run time still the missed one"
        time.sleep(0.1)
    assert next_run is not None and next_run > datetime.now(timezone.utc)


def test_running_job_refuses_a_manual_run_and_records_it_skipped(db, services):
    service = services(settings_for())
    lock = service.runner.locks.try_acquire("job:update_time_progress")
    assert lock is not None
    try:
        with pytest.raises(AlreadyRunning, match="update_time_progress is already running"):
            service.run_job("update_time_progress")
    finally:
        lock.release()
    skipped = runs(db.engine)
    assert [(r.job_id, r.trigger_kind, r.status, r.actor) for r in skipped] == [
        ("update_time_progress", "manual", "skipped", getpass.getuser())]
    assert skipped[0].error
    assert service.run_job("update_time_progress").status == "success"  # the lock is free again
