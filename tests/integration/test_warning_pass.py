"""The leader's frequent pass for thresholds crossed since its last look (``warnings.check_every``,
issue #27): it warns what crossed, as the hourly check would and never twice with it, records a
run of check_task_warnings (trigger kind precise) only when it sent something, and goes on from
the instant it last looked, in this process or the next leader."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

from sqlalchemy import insert, select

from console.db.models import JobRun, WarningPass
from console.domain.runs import TriggerKind
from console.scheduler.runner import JobRunner
from console.scheduler.warning_pass import last_pass, look, next_pass_at
from tests.conftest import NOW
from tests.integration.helpers import ledger, notifications, run_job


def _runner(db, settings, now):
    return JobRunner(settings, db.engine, clock=lambda: now)


def _window(crossing_at: datetime, at: float = 0.8, hours: float = 10):
    """A window whose ``at`` share is reached at ``crossing_at``."""
    length = timedelta(hours=hours)
    start = crossing_at - length * at
    return {"expected_start_time": start, "expected_end_time": start + length}


def _runs(db):
    with db.engine.connect() as conn:
        return conn.execute(select(JobRun.job_id, JobRun.trigger_kind, JobRun.status, JobRun.counts)
                            .order_by(JobRun.id)).all()


def test_a_pass_warns_the_tasks_that_crossed_since_the_last_look_and_no_others(db, rows, settings):
    handler = rows.user()
    looked = NOW - timedelta(minutes=1)
    look(_runner(db, settings, looked))  # the last look, a minute ago
    crossed = rows.task(progress=10, current_handler_id=handler, **_window(NOW - timedelta(seconds=20)))
    crossed_90 = rows.task(progress=10, current_handler_id=handler, **_window(NOW - timedelta(seconds=5), at=0.9))
    deadline = rows.task(progress=10, current_handler_id=handler, expected_start_time=NOW + timedelta(days=1),
                         expected_end_time=NOW - timedelta(seconds=30))  # inverted, its deadline just passed
    long_ago = rows.task(progress=10, current_handler_id=handler, **_window(NOW - timedelta(hours=2), hours=100))
    ahead = rows.task(progress=10, current_handler_id=handler, **_window(NOW + timedelta(seconds=20)))
    ahead_of_work = rows.task(progress=85, current_handler_id=handler, **_window(NOW - timedelta(seconds=10)))
    result = look(_runner(db, settings, NOW))
    assert (result.since, result.sent) == (looked, 3)
    assert sorted((r.task_id, r.level) for r in ledger(db.engine)) == [(crossed, 20), (crossed_90, 10), (deadline, 5)]
    assert len(notifications(db.engine)) == 3
    assert {long_ago, ahead, ahead_of_work}.isdisjoint(r.task_id for r in ledger(db.engine))
    # The hourly check sweeps the one that crossed before the last look, and sends none twice.
    counts = run_job("check_task_warnings", db.engine, settings, NOW)
    assert counts["notified"] == 1 and counts["level_20"] == 1
    assert len(notifications(db.engine)) == 4


def test_only_a_pass_that_sent_something_is_a_run_in_the_ledger(db, rows, settings):
    handler = rows.user()
    first = look(_runner(db, settings, NOW - timedelta(minutes=1)))
    assert first.run_id is None and _runs(db) == []
    rows.task(progress=10, current_handler_id=handler, **_window(NOW - timedelta(seconds=30)))
    second = look(_runner(db, settings, NOW))
    [run] = _runs(db)
    assert run.job_id == "check_task_warnings" and run.trigger_kind == TriggerKind.PRECISE == "precise"
    assert run.status == "success" and run.counts["notified"] == 1 and run.counts["level_20"] == 1
    assert second.run_id is not None and [r.run_id for r in ledger(db.engine)] == [second.run_id]
    third = look(_runner(db, settings, NOW + timedelta(minutes=1)))
    assert third.sent == 0 and len(_runs(db)) == 1
    with db.engine.connect() as conn:
        stored = last_pass(conn)
        assert conn.execute(select(WarningPass.id)).scalars().all() == [1]
    assert (stored.looked_at, stored.since, stored.sent, stored.run_id) == (
        NOW + timedelta(minutes=1), NOW, 0, None)


def test_the_next_look_goes_on_from_the_stored_instant_whoever_leads(db, rows, settings):
    handler = rows.user()
    look(_runner(db, settings, NOW - timedelta(minutes=30)))  # a leader that then went away
    missed = rows.task(progress=10, current_handler_id=handler, **_window(NOW - timedelta(minutes=20)))
    result = look(JobRunner(settings, db.engine, clock=lambda: NOW))  # another process, another runner
    assert result.since == NOW - timedelta(minutes=30)
    assert [r.task_id for r in ledger(db.engine)] == [missed]


def test_the_first_look_ever_goes_on_from_the_last_hourly_sweep(db, rows, settings):
    handler = rows.user()
    swept_at = NOW - timedelta(minutes=40)
    with db.engine.begin() as conn:  # the hourly run, as the runner records it
        conn.execute(insert(JobRun).values(job_id="check_task_warnings", trigger_kind="scheduled", status="success",
                                           attempt=1, started_at=swept_at, finished_at=swept_at))
    since_sweep = rows.task(progress=10, current_handler_id=handler, **_window(NOW - timedelta(minutes=30)))
    result = look(_runner(db, settings, NOW))
    assert result.sent == 1 and [r.task_id for r in ledger(db.engine)] == [since_sweep]
    assert result.since == swept_at


def test_a_failed_pass_writes_nothing_and_the_next_looks_from_the_same_instant(db, rows, settings, monkeypatch):
    handler = rows.user()
    look(_runner(db, settings, NOW - timedelta(minutes=1)))
    crossed = rows.task(progress=10, current_handler_id=handler, **_window(NOW - timedelta(seconds=30)))
    import console.scheduler.warning_pass as wp

    def refuse(*args, **kwargs):
        raise RuntimeError("the database went away")

    monkeypatch.setattr(wp, "write_warnings", refuse)
    try:
        look(_runner(db, settings, NOW))
    except RuntimeError:
        pass
    monkeypatch.undo()
    assert ledger(db.engine) == [] and _runs(db) == []
    result = look(_runner(db, settings, NOW + timedelta(minutes=1)))
    assert result.since == NOW - timedelta(minutes=1) and [r.task_id for r in ledger(db.engine)] == [crossed]


def test_passes_fall_on_each_multiple_of_check_every():
    at = datetime(2026, 12, 6, 9, 30, 17, tzinfo=timezone.utc)
    assert next_pass_at(at, timedelta(minutes=1)) == datetime(2026, 12, 6, 9, 31, tzinfo=timezone.utc)
    assert next_pass_at(at.replace(second=0), timedelta(minutes=1)) == datetime(2026, 12, 6, 9, 31, tzinfo=timezone.utc)
    assert next_pass_at(at, timedelta(seconds=5)) == datetime(2026, 12, 6, 9, 30, 20, tzinfo=timezone.utc)


# -- the task system's own database --------------------------------------------------------------

from zoneinfo import ZoneInfo  # noqa: E402

from console.db import schema, tuning  # noqa: E402
from console.db.task_tables import forget_live_tables, tables_for  # noqa: E402
from console.settings import load_settings  # noqa: E402
from tests.integration.task_schemas import SEED_DDL, SEED_SETTINGS, fresh  # noqa: E402,F401


def test_on_the_seed_schema_a_pass_reads_naive_shanghai_times_and_chinese_words(fresh):  # noqa: F811
    """Naive Asia/Shanghai timestamps, 处理中, integer progress, db tune's indexes (PostgreSQL): a
    task crossing 80 % 20 s ago (Shanghai wall clock) is warned; one 8 hours off (the same wall
    clock read as UTC) is not."""
    fresh.create(SEED_DDL)
    settings = load_settings(fresh.config(SEED_SETTINGS), env={"TASKCONSOLE_DATABASE_URL": fresh.url})
    schema.upgrade(fresh.engine, settings)
    forget_live_tables()
    if fresh.backend == "postgresql":
        tuning.apply(fresh.engine, tables_for(fresh.engine, settings), levels=settings.warnings.levels)

    def local(at: datetime) -> str:
        return at.astimezone(ZoneInfo("Asia/Shanghai")).replace(tzinfo=None).isoformat(sep=" ")

    fresh.run("INSERT INTO users (id, username) VALUES (2, '张伟')")
    for task_id, crossing in ((1, NOW - timedelta(seconds=20)), (2, NOW - timedelta(hours=8, seconds=20))):
        w = _window(crossing)
        fresh.run("INSERT INTO tasks (id, title, status, progress, expected_start_time, expected_end_time, "
                  "current_handler_id) VALUES (:id, '发票核对', '处理中', 10, :s, :e, 2)",
                  dict(id=task_id, s=local(w["expected_start_time"]), e=local(w["expected_end_time"])))
    runner = JobRunner(settings, fresh.engine, clock=lambda: NOW - timedelta(minutes=1))
    look(runner)
    result = look(JobRunner(settings, fresh.engine, clock=lambda: NOW))
    assert result.sent == 1
    assert [(r.task_id, r.level) for r in ledger(fresh.engine)] == [(1, 20)]
    forget_live_tables()


def test_a_pass_whose_job_store_read_fails_is_logged_and_the_next_one_runs(db, rows, settings, monkeypatch, caplog):
    from console.service import Service

    handler = rows.user()
    rows.processing(time_pct=96, progress=10, handler=handler)
    service = Service(settings, db.engine, slow_stats_s=float("inf"))
    service.start_scheduler(kind="run")
    try:
        live = service.live

        def refuse(job_id):
            raise RuntimeError("the database went away")

        monkeypatch.setattr(live.store, "get", refuse)
        live._look()  # the pass thread's step: it must not raise, or the thread ends for good
        assert "the warning pass failed" in caplog.text and "went away" in caplog.text
        monkeypatch.undo()
        live._look()
        with db.engine.connect() as conn:
            assert last_pass(conn) is not None
    finally:
        service.stop_scheduler()
