"""The runner: every execution recorded, retries, failure alerts, no overlap, abandoned runs."""

import getpass
import socket
from dataclasses import replace

import pytest
from sqlalchemy import select

from console.db.models import JobRun
from console.jobs import JOBS
from console.scheduler.runner import AlreadyRunning, JobRunner
from console.settings import Settings
from tests.conftest import NOW
from tests.integration.helpers import notifications


def fast_retry_settings(retries: int = 2) -> Settings:
    return Settings.model_validate({"jobs": {jid: {"retries": retries, "retry_delay": 0} for jid in JOBS}})


def runs(engine) -> list:
    with engine.connect() as conn:
        return conn.execute(select(JobRun).order_by(JobRun.id)).all()


def failing_jobs(times: int):
    """The real job table with the warning job failing ``times`` times, then working."""
    calls = {"n": 0}
    real = JOBS["check_task_warnings"]

    def run(ctx):
        calls["n"] += 1
        if calls["n"] <= times:
            raise RuntimeError(f"boom {calls['n']}")
        return real.run(ctx)

    return {**JOBS, "check_task_warnings": replace(real, run=run)}, calls


def test_a_manual_run_is_recorded_with_counts_actor_and_host(db, rows, settings):
    rows.processing(time_pct=96, progress=10, handler=rows.user())
    runner = JobRunner(settings, db.engine, clock=lambda: NOW)
    result = runner.execute("check_task_warnings", "manual")
    [run] = runs(db.engine)
    assert result.status == run.status == "success"
    assert run.trigger_kind == "manual" and run.actor == getpass.getuser() and run.host == socket.gethostname()
    assert run.counts["notified"] == 1 and result.counts == run.counts
    assert run.finished_at >= run.started_at and run.duration_s == pytest.approx(result.duration_s)


def test_retries_are_recorded_and_a_final_failure_alerts_every_admin(db, rows, caplog):
    admins = {rows.user("root", admin=True), rows.user("ops", admin=True)}
    rows.user("not an admin")
    jobs, calls = failing_jobs(times=99)
    runner = JobRunner(fast_retry_settings(2), db.engine, jobs=jobs, clock=lambda: NOW)
    result = runner.execute("check_task_warnings", "scheduled")
    assert result.status == "failed" and result.attempts == 3 and calls["n"] == 3
    assert [(r.trigger_kind, r.status, r.attempt) for r in runs(db.engine)] == [
        ("scheduled", "failed", 1), ("retry", "failed", 2), ("retry", "failed", 3)]
    assert all(r.error == "boom %d" % r.attempt and "RuntimeError" in r.traceback for r in runs(db.engine))
    alerts = notifications(db.engine, "系统错误")
    assert {a.user_id for a in alerts} == admins and len(alerts) == 2
    assert all(a.title == "定时任务执行失败" and "check_task_warnings" in a.content for a in alerts)
    # Only the last attempt failed for good (the metric and its alert rule count it), and the
    # lines said between and after the attempts name the job and the run they are about.
    assert [r.failed_for_good for r in runs(db.engine)] == [None, None, True]
    about = [(r.getMessage(), getattr(r, "job_id", None), getattr(r, "run_id", None)) for r in caplog.records
             if "retrying" in r.getMessage() or "failed for good" in r.getMessage()]
    ids = [r.id for r in runs(db.engine)]
    assert [(job, run) for _, job, run in about] == [("check_task_warnings", ids[0]), ("check_task_warnings", ids[1]),
                                                     ("check_task_warnings", ids[2])], about


def test_a_retry_that_succeeds_sends_no_alert(db, rows):
    rows.user("root", admin=True)
    jobs, _ = failing_jobs(times=1)
    runner = JobRunner(fast_retry_settings(3), db.engine, jobs=jobs, clock=lambda: NOW)
    result = runner.execute("check_task_warnings", "scheduled")
    assert result.status == "success" and result.attempts == 2
    assert [(r.trigger_kind, r.status) for r in runs(db.engine)] == [("scheduled", "failed"), ("retry", "success")]
    assert notifications(db.engine, "系统错误") == []
    assert not any(r.failed_for_good for r in runs(db.engine))


def test_explicit_zero_retries_fails_at_once(db, rows):
    rows.user("root", admin=True)
    jobs, calls = failing_jobs(times=99)
    runner = JobRunner(fast_retry_settings(3), db.engine, jobs=jobs, clock=lambda: NOW)
    assert runner.execute("check_task_warnings", "manual", retries=0).status == "failed"
    assert calls["n"] == 1 and len(notifications(db.engine, "系统错误")) == 1


def test_a_job_never_overlaps_itself(db, settings):
    runner = JobRunner(settings, db.engine, clock=lambda: NOW)
    other = JobRunner(settings, db.engine, clock=lambda: NOW)  # another process, as far as locks go
    held = other.locks.try_acquire("job:update_time_progress")
    assert held is not None
    try:
        with pytest.raises(AlreadyRunning, match="update_time_progress is already running"):
            runner.execute("update_time_progress", "manual")
    finally:
        held.release()
    [skipped] = runs(db.engine)
    assert skipped.status == "skipped" and "already running" in skipped.error
    assert runner.execute("update_time_progress", "manual").status == "success"


def test_runs_left_running_by_a_dead_process_are_marked_abandoned(db, settings):
    runner = JobRunner(settings, db.engine, clock=lambda: NOW)
    dead_run, _ = runner.ledger.start("update_time_progress", "scheduled", actor="scheduler")
    runner.execute("update_time_progress", "manual")
    statuses = {r.id: r.status for r in runs(db.engine)}
    assert statuses[dead_run] == "abandoned"
    assert list(statuses.values()).count("success") == 1


def test_a_failing_run_never_leaves_a_running_row(db, rows):
    jobs, _ = failing_jobs(times=99)
    runner = JobRunner(fast_retry_settings(0), db.engine, jobs=jobs, clock=lambda: NOW)
    runner.execute("check_task_warnings", "manual")
    with db.engine.connect() as conn:
        assert conn.execute(select(JobRun).where(JobRun.status == "running")).first() is None


def test_the_lock_is_free_again_after_a_failure(db, rows):
    jobs, _ = failing_jobs(times=1)
    runner = JobRunner(fast_retry_settings(0), db.engine, jobs=jobs, clock=lambda: NOW)
    assert runner.execute("check_task_warnings", "manual").status == "failed"
    assert runner.execute("check_task_warnings", "manual").status == "success"
