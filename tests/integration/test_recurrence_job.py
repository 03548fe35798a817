"""reset_periodic_tasks with per-task rules, on SQLite and PostgreSQL."""

from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

from console.settings import Settings
from tests.conftest import NOW
from tests.integration.helpers import notifications, preview_job, run_job, task
from tests.integration.test_concurrency import together

SHANGHAI = ZoneInfo("Asia/Shanghai")
DAILY_9 = "FREQ=DAILY;BYHOUR=9;BYMINUTE=0"
RESET = "reset_periodic_tasks"


def at(*args) -> datetime:
    return datetime(*args, tzinfo=SHANGHAI)


def finished_cycle(rows, handler, *, start, hours=8, done_after=6, recurrence=None, status="completed", **values):
    return rows.task(category="periodic", status=status, progress=100.0, expected_start_time=start,
                     expected_end_time=start + timedelta(hours=hours), actual_start_time=start,
                     actual_end_time=start + timedelta(hours=done_after), current_handler_id=handler,
                     recurrence=recurrence, **values)


def test_daily_9am_rule_resets_at_9am_keeping_its_8_hour_window(db, rows, settings):
    handler = rows.user()
    task_id = finished_cycle(rows, handler, start=at(2026, 11, 27, 9), recurrence=DAILY_9)
    before = run_job(RESET, db.engine, settings, at(2026, 11, 28, 8, 59))
    assert before["reset"] == 0 and before["planned"] == 1
    assert task(db.engine, task_id).next_reset_at == at(2026, 11, 28, 9)
    after = run_job(RESET, db.engine, settings, at(2026, 11, 28, 9, 2))
    t = task(db.engine, task_id)
    assert after["reset"] == after["rule_reset"] == 1 and after["notified"] == 1
    assert (t.status, t.expected_start_time, t.expected_end_time) == ("new", at(2026, 11, 28, 9), at(2026, 11, 28, 17))
    assert t.next_reset_at is None and t.actual_end_time is None
    [note] = notifications(db.engine)
    assert note.task_id == task_id and note.type == "任务重置"


def test_p1d_resets_a_day_after_completion(db, rows, settings):
    task_id = finished_cycle(rows, rows.user(), start=at(2026, 11, 27, 10), recurrence="P1D")  # done 16:00
    assert run_job(RESET, db.engine, settings, at(2026, 11, 28, 15, 59))["reset"] == 0
    assert run_job(RESET, db.engine, settings, at(2026, 11, 28, 16, 0))["reset"] == 1
    t = task(db.engine, task_id)
    assert (t.expected_start_time, t.expected_end_time) == (at(2026, 11, 28, 16), at(2026, 11, 29, 16))


def test_missed_occurrences_leave_no_backlog(db, rows, settings):
    task_id = finished_cycle(rows, rows.user(), start=at(2026, 11, 1, 9), recurrence=DAILY_9)
    counts = run_job(RESET, db.engine, settings, at(2026, 11, 28, 14))
    assert counts["reset"] == 1
    assert task(db.engine, task_id).expected_start_time == at(2026, 11, 28, 9)
    assert run_job(RESET, db.engine, settings, at(2026, 11, 28, 14, 5))["reset"] == 0


def test_a_garbage_rule_is_skipped_counted_and_flagged(db, rows, settings):
    handler = rows.user()
    bad = finished_cycle(rows, handler, start=at(2026, 11, 1, 9), recurrence="every other tuesday-ish")
    good = finished_cycle(rows, handler, start=at(2026, 11, 1, 9), recurrence=DAILY_9)
    counts = run_job(RESET, db.engine, settings, at(2026, 11, 28, 14))
    assert counts["skipped_invalid_rule"] == 1 and counts["reset"] == 1
    assert task(db.engine, bad).status == "completed"
    assert "neither an ISO-8601 duration" in task(db.engine, bad).recurrence_error
    assert task(db.engine, good).status == "new"
    again = run_job(RESET, db.engine, settings, at(2026, 11, 28, 15))
    assert again["skipped_invalid_rule"] == 1 and again["planned"] == 0  # counted each run, parsed once


def test_default_and_rule_tasks_reset_side_by_side(db, rows, settings):
    handler = rows.user()
    plain = rows.task(category="periodic", status="completed", actual_end_time=NOW - timedelta(days=8),
                      current_handler_id=handler)
    ruled = finished_cycle(rows, handler, start=at(2026, 11, 27, 9), recurrence=DAILY_9)
    counts = run_job(RESET, db.engine, settings, NOW)  # 16:00 in Shanghai
    assert counts["reset"] == 2 and counts["rule_reset"] == 1 and counts["notified"] == 2
    assert task(db.engine, plain).expected_end_time == NOW + timedelta(days=7)
    assert task(db.engine, ruled).expected_start_time == at(2026, 11, 28, 9)


def test_a_task_finished_again_is_planned_again(db, rows, settings):
    task_id = finished_cycle(rows, rows.user(), start=at(2026, 11, 27, 9), recurrence="P1D")
    run_job(RESET, db.engine, settings, at(2026, 11, 27, 20))
    planned = task(db.engine, task_id).next_reset_at
    with db.engine.begin() as conn:
        from console.db.models import Task
        conn.execute(Task.__table__.update().where(Task.id == task_id).values(
            actual_end_time=at(2026, 11, 27, 22)))
    counts = run_job(RESET, db.engine, settings, at(2026, 11, 27, 23))
    assert counts["planned"] == 1
    assert task(db.engine, task_id).next_reset_at == at(2026, 11, 28, 22) != planned


def test_concurrent_runs_reset_and_notify_each_rule_task_once(db, rows, settings):
    handler = rows.user()
    ids = [finished_cycle(rows, handler, start=at(2026, 11, 27, 9), recurrence=DAILY_9) for _ in range(40)]
    together(lambda i: run_job(RESET, db.engine, settings, at(2026, 11, 28, 9, 1), run_id=7000 + i))
    assert all(task(db.engine, i).status == "new" for i in ids)
    notes = notifications(db.engine)
    assert sorted(n.task_id for n in notes) == sorted(ids)


def test_preview_plans_in_memory_and_writes_nothing(db, rows, settings):
    task_id = finished_cycle(rows, rows.user(), start=at(2026, 11, 27, 9), recurrence=DAILY_9)
    preview = preview_job(RESET, db.engine, settings, at(2026, 11, 28, 9, 1))
    assert preview.counts["would_reset"] == 1
    t = task(db.engine, task_id)
    assert t.next_reset_at is None and t.status == "completed"


def test_rules_follow_the_settings_timezone(db, rows):
    settings = Settings.model_validate({"timezone": "Europe/Berlin"})
    berlin = ZoneInfo("Europe/Berlin")
    start = datetime(2026, 3, 28, 9, tzinfo=berlin)
    task_id = finished_cycle(rows, rows.user(), start=start, recurrence=DAILY_9)
    run_job(RESET, db.engine, settings, datetime(2026, 3, 29, 9, 1, tzinfo=berlin))  # after the spring change
    assert task(db.engine, task_id).expected_start_time == datetime(2026, 3, 29, 9, tzinfo=berlin)


def test_the_running_scheduler_resets_a_due_rule_task_within_seconds(db, rows):
    import time as _time
    from datetime import timezone

    from console.service import Service

    settings = Settings.model_validate({"periodic": {"rule_check_interval": "PT5S"}})
    now = datetime.now(timezone.utc)
    start = now - timedelta(days=1, minutes=1)
    rule = f"FREQ=DAILY;BYHOUR={start.astimezone(SHANGHAI).hour};BYMINUTE={start.astimezone(SHANGHAI).minute}"
    task_id = finished_cycle(rows, rows.user(), start=start, recurrence=rule)  # due a minute ago
    service = Service(settings, db.engine)
    service.start_scheduler()
    try:
        deadline = _time.monotonic() + 30
        while _time.monotonic() < deadline and task(db.engine, task_id).status != "new":
            _time.sleep(0.5)
    finally:
        service.stop_scheduler()
    assert task(db.engine, task_id).status == "new"
    [run] = [r for r in service.history("reset_periodic_tasks") if r.status == "success"]
    assert run.trigger_kind == "scheduled" and run.counts["rule_reset"] == 1


def test_preview_counts_a_garbage_rule_before_any_run(db, rows, settings):
    finished_cycle(rows, rows.user(), start=at(2026, 11, 1, 9), recurrence="whenever")
    preview = preview_job(RESET, db.engine, settings, at(2026, 11, 28, 14))
    assert preview.counts["skipped_invalid_rule"] == 1 and preview.counts["would_reset"] == 0
