"""run_history.keep: cleanup_old_data deletes taskconsole's own old history (runs with their log
lines, audited actions, finished commands) in batches, counts it, and the metrics' counters do
not fall: what the deleted runs counted is folded into totals in the same transaction."""

from __future__ import annotations

from datetime import timedelta

from sqlalchemy import func, insert, select

from console.db.models import AuditEntry, JobRun, RunLogLine, SchedulerCommand
from console.service import Service
from console.settings import Settings
from tests.conftest import NOW
from tests.integration.helpers import preview_job, run_job

OLD, RECENT = NOW - timedelta(days=100), NOW - timedelta(days=10)


def _run(conn, job_id, status, at, *, duration=1.0, counts=None, final=None) -> int:
    return conn.execute(insert(JobRun).values(
        job_id=job_id, trigger_kind="scheduled", status=status, attempt=1, started_at=at,
        finished_at=None if status == "running" else at, duration_s=None if status == "running" else duration,
        counts=counts or {}, actor="scheduler", host="h", pid=1, failed_for_good=final).returning(JobRun.id)).scalar_one()


def _count(engine, model, *where) -> int:
    with engine.connect() as conn:
        return conn.execute(select(func.count()).select_from(model).where(*where)).scalar_one()


def test_old_history_goes_in_batches_and_no_counter_falls(db):
    settings = Settings.model_validate({"cleanup": {"batch_size": 2}, "run_history": {"keep": "P90D"}})
    with db.engine.begin() as conn:
        old = [_run(conn, "check_task_warnings", "success", OLD, duration=0.05, counts={"level_20": 3, "level_5": 1}),
               _run(conn, "check_task_warnings", "success", OLD, duration=20.0, counts={"level_20": 2}),
               _run(conn, "update_time_progress", "failed", OLD, final=True),
               _run(conn, "update_time_progress", "missed", OLD)]
        stuck = _run(conn, "cleanup_old_data", "running", OLD)  # a run still marked running stays
        recent = _run(conn, "check_task_warnings", "success", RECENT, counts={"level_20": 4})
        for run_id in old + [recent]:
            conn.execute(insert(RunLogLine).values(run_id=run_id, job_id="x", at=OLD, level="INFO", logger="l",
                                                   message="m", host="h", pid=1))
        for at in (OLD, RECENT):
            conn.execute(insert(AuditEntry).values(at=at, actor="a", host="h", action="run", job_id="x",
                                                   outcome="done"))
            conn.execute(insert(SchedulerCommand).values(action="run", job_id="x", actor="a", host="h", created_at=at,
                                                         done_at=at, outcome="done"))
        conn.execute(insert(SchedulerCommand).values(action="run", job_id="x", actor="a", host="h", created_at=OLD))
    service = Service(settings, db.engine)
    before = service.metrics_reader().read()
    assert preview_job("cleanup_old_data", db.engine, settings, NOW).counts["would_delete_runs"] == 4
    counts = run_job("cleanup_old_data", db.engine, settings, NOW)
    assert (counts["deleted_runs"], counts["deleted_audit"], counts["deleted_commands"]) == (4, 1, 1)
    with db.engine.connect() as conn:
        left = set(conn.execute(select(JobRun.id)).scalars())
    assert left == {stuck, recent}
    assert _count(db.engine, RunLogLine) == 1  # the recent run's line
    assert _count(db.engine, AuditEntry) == 1
    assert _count(db.engine, SchedulerCommand) == 2  # the recent one, and the one never done
    after = service.metrics_reader().read()
    assert after.runs == before.runs
    assert after.failed_for_good == before.failed_for_good and after.failed_for_good["update_time_progress"] == 1
    assert after.warnings_sent == before.warnings_sent == {20: 9, 10: 0, 5: 1}
    assert after.durations == before.durations
    assert after.durations["check_task_warnings"].count == 3
    # Again: nothing more to delete, nothing counted twice.
    assert run_job("cleanup_old_data", db.engine, settings, NOW)["deleted_runs"] == 0
    assert service.metrics_reader().read().runs == before.runs


def test_run_history_keep_refuses_less_than_a_day():
    import pytest
    from pydantic import ValidationError

    with pytest.raises(ValidationError, match="run_history"):
        Settings.model_validate({"run_history": {"keep": "PT1H"}})
