"""reset_periodic_tasks on SQLite and PostgreSQL."""

from datetime import timedelta

import pytest

from console.settings import Settings
from tests.conftest import NOW
from tests.integration.helpers import failing_inserts_into, notifications, preview_job, run_job, task

JOB = "reset_periodic_tasks"


def finished(rows, handler, *, days_ago: float, status="completed", category="periodic", **values) -> int:
    end = NOW - timedelta(days=days_ago)
    return rows.task(category=category, status=status, progress=100.0, time_progress=100.0,
                     expected_start_time=end - timedelta(days=7), expected_end_time=end,
                     actual_start_time=end - timedelta(days=6), actual_end_time=end,
                     current_handler_id=handler, **values)


def test_seed_case_completed_8_days_ago_is_reset_with_its_notification(db, rows, settings):
    handler = rows.user()
    task_id = finished(rows, handler, days_ago=8, title="每周巡检")
    counts = run_job(JOB, db.engine, settings, NOW)
    t = task(db.engine, task_id)
    assert counts["reset"] == 1 and counts["notified"] == 1
    assert (t.status, t.progress, t.time_progress) == ("new", 0, 0)
    assert t.actual_start_time is None and t.actual_end_time is None
    assert (t.expected_start_time, t.expected_end_time) == (NOW, NOW + timedelta(days=7))
    [note] = notifications(db.engine)
    assert (note.user_id, note.task_id, note.type, note.title) == (handler, task_id, "任务重置", "周期任务已重置")
    assert note.content == "任务「每周巡检」已重置，请及时处理"


def test_closed_periodic_tasks_are_reset_too(db, rows, settings):
    task_id = finished(rows, rows.user(), days_ago=10, status="closed")
    run_job(JOB, db.engine, settings, NOW)
    assert task(db.engine, task_id).status == "new"


@pytest.mark.parametrize("days_ago, due", [(7, True), (6.99, False), (1, False)])
def test_period_boundary(db, rows, settings, days_ago, due):
    task_id = finished(rows, rows.user(), days_ago=days_ago)
    run_job(JOB, db.engine, settings, NOW)
    assert (task(db.engine, task_id).status == "new") is due


def test_other_tasks_are_left_alone(db, rows, settings):
    handler = rows.user()
    normal = finished(rows, handler, days_ago=30, category="normal")
    processing = finished(rows, handler, days_ago=30, status="processing")
    run_job(JOB, db.engine, settings, NOW)
    assert task(db.engine, normal).status == "completed"
    assert task(db.engine, processing).status == "processing"
    assert notifications(db.engine) == []


def test_a_second_run_resets_nothing_more(db, rows, settings):
    finished(rows, rows.user(), days_ago=8)
    run_job(JOB, db.engine, settings, NOW)
    again = run_job(JOB, db.engine, settings, NOW + timedelta(minutes=1))
    assert (again["reset"], again["notified"]) == (0, 0)
    assert len(notifications(db.engine)) == 1


def test_bad_rows_are_skipped_and_counted_and_unassigned_tasks_are_reset_without_a_notification(db, rows, settings):
    handler = rows.user()
    no_handler = finished(rows, None, days_ago=9)
    no_end = rows.task(category="periodic", status="completed", current_handler_id=handler)
    good = finished(rows, handler, days_ago=9)
    counts = run_job(JOB, db.engine, settings, NOW)
    assert counts["skipped_no_end_time"] == 1 and "skipped_no_handler" not in counts
    assert (counts["reset"], counts["reset_unassigned"], counts["notified"], counts["refused"]) == (2, 1, 1, 0)
    assert task(db.engine, no_handler).status == "new"
    assert task(db.engine, no_end).status == "completed"
    assert task(db.engine, good).status == "new"
    assert [n.task_id for n in notifications(db.engine)] == [good]


def test_the_period_comes_from_settings(db, rows):
    settings = Settings.model_validate({"periodic": {"default_period": "P1D"}})
    task_id = finished(rows, rows.user(), days_ago=1)
    run_job(JOB, db.engine, settings, NOW)
    assert task(db.engine, task_id).expected_end_time == NOW + timedelta(days=1)


def test_reset_and_notification_commit_together(db, rows, settings):
    task_id = finished(rows, rows.user(), days_ago=8)

    with failing_inserts_into(db.engine, "notifications"), pytest.raises(Exception, match="injected failure"):
        run_job(JOB, db.engine, settings, NOW)
    assert task(db.engine, task_id).status == "completed"  # rolled back with the notification
    assert run_job(JOB, db.engine, settings, NOW)["notified"] == 1


def test_preview_writes_nothing(db, rows, settings):
    task_id = finished(rows, rows.user(), days_ago=8)
    preview = preview_job(JOB, db.engine, settings, NOW)
    assert preview.counts["would_reset"] == 1
    assert preview.samples[0]["task_id"] == task_id
    assert task(db.engine, task_id).status == "completed" and notifications(db.engine) == []
