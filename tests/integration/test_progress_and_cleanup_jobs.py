"""update_time_progress and cleanup_old_data on SQLite and PostgreSQL."""

from datetime import timedelta

from sqlalchemy import select

from console.db.models import Notification, Task, WarningSent
from console.settings import Settings
from tests.conftest import NOW
from tests.integration.helpers import count, notifications, preview_job, run_job, task


def test_progress_is_stored_clamped_and_rounded(db, rows, settings):
    handler = rows.user()
    ids = {pct: rows.processing(time_pct=pct, progress=0, handler=handler) for pct in (-20, 0, 33.333, 80, 150)}
    counts = run_job("update_time_progress", db.engine, settings, NOW)
    stored = {pct: task(db.engine, i).time_progress for pct, i in ids.items()}
    assert stored == {-20: 0, 0: 0, 33.333: 33.33, 80: 80, 150: 100}
    assert counts["updated"] == 3  # the two at 0 were already 0


def test_only_changed_rows_are_written(db, rows, settings):
    rows.processing(time_pct=40, progress=0, handler=None, hours=100)
    assert run_job("update_time_progress", db.engine, settings, NOW)["updated"] == 1
    assert run_job("update_time_progress", db.engine, settings, NOW)["updated"] == 0
    assert run_job("update_time_progress", db.engine, settings, NOW + timedelta(hours=1))["updated"] == 1


def test_progress_skips_and_counts_bad_windows_and_a_passed_deadline_is_100(db, rows, settings):
    rows.task(status="processing", time_progress=5.0)
    overdue = rows.task(status="processing", expected_start_time=NOW, expected_end_time=NOW, time_progress=5.0)
    ahead = rows.task(status="processing", expected_start_time=NOW + timedelta(hours=2),
                      expected_end_time=NOW + timedelta(hours=1), time_progress=5.0)  # inverted, not started
    counts = run_job("update_time_progress", db.engine, settings, NOW)
    assert (counts["skipped_no_window"], counts["updated"]) == (1, 2)
    assert (task(db.engine, overdue).time_progress, task(db.engine, ahead).time_progress) == (100, 0)


def test_progress_preview_writes_nothing(db, rows, settings):
    task_id = rows.processing(time_pct=40, progress=0, handler=None)
    preview = preview_job("update_time_progress", db.engine, settings, NOW)
    assert preview.counts["would_update"] == 1 and preview.samples[0]["new"] == 40
    assert task(db.engine, task_id).time_progress == 0


def _old_data(rows, db):
    handler = rows.user()
    old_closed = [rows.task(status="closed", updated_at=NOW - timedelta(days=91), current_handler_id=handler)
                  for _ in range(5)]
    recent_closed = rows.task(status="closed", updated_at=NOW - timedelta(days=89))
    old_completed = rows.task(status="completed", updated_at=NOW - timedelta(days=400))
    with db.engine.begin() as conn:
        def note(read: bool, days: float, task_id=None):
            conn.execute(Notification.__table__.insert().values(
                user_id=handler, type="t", title="t", content="c", task_id=task_id, is_read=read,
                created_at=NOW - timedelta(days=days)))
        note(True, 181)
        note(True, 181)
        note(True, 179)
        note(False, 400)
        note(False, 10, task_id=old_closed[0])  # points at a task that will be deleted
        conn.execute(WarningSent.__table__.insert().values(
            task_id=old_closed[1], level=5, window_start=NOW, window_end=NOW, repeat_no=0, sent_at=NOW, run_id=1))
    return old_closed, recent_closed, old_completed


def test_cleanup_deletes_old_rows_in_batches_and_keeps_the_rest(db, rows):
    settings = Settings.model_validate({"cleanup": {"batch_size": 2}})
    old_closed, recent_closed, old_completed = _old_data(rows, db)
    counts = run_job("cleanup_old_data", db.engine, settings, NOW)
    assert counts["deleted_tasks"] == 5 and counts["deleted_notifications"] == 2
    assert counts["deleted_task_notifications"] == 1 and counts["skipped_referenced"] == 0
    assert counts["batches"] == 3 + 1
    with db.engine.connect() as conn:
        left = set(conn.execute(select(Task.id)).scalars())
    assert left == {recent_closed, old_completed}
    remaining = notifications(db.engine)
    # The young read one and the old unread one without a task; the unread one about a deleted
    # task went with its task (whatever the foreign key's ON DELETE says).
    assert [(n.is_read, n.task_id) for n in remaining] == [(True, None), (False, None)]
    assert count(db.engine, WarningSent) == 0


def test_cleanup_twice_deletes_nothing_more(db, rows, settings):
    _old_data(rows, db)
    run_job("cleanup_old_data", db.engine, settings, NOW)
    again = run_job("cleanup_old_data", db.engine, settings, NOW)
    assert (again["deleted_tasks"], again["deleted_notifications"]) == (0, 0)


def test_cleanup_preview_counts_and_writes_nothing(db, rows, settings):
    _old_data(rows, db)
    before = count(db.engine, Task), count(db.engine, Notification)
    preview = preview_job("cleanup_old_data", db.engine, settings, NOW)
    assert (preview.counts["would_delete_tasks"], preview.counts["would_delete_notifications"]) == (5, 2)
    assert preview.counts["would_delete_task_notifications"] == 1
    assert (count(db.engine, Task), count(db.engine, Notification)) == before


def test_cleanup_stops_between_batches_when_asked(db, rows):
    from console.jobs import JOBS, JobContext

    settings = Settings.model_validate({"cleanup": {"batch_size": 1}})
    _old_data(rows, db)
    calls = []

    def stop_after_two():
        calls.append(1)
        return len(calls) > 2

    ctx = JobContext(engine=db.engine, settings=settings, now=NOW, run_id=1, should_stop=stop_after_two)
    counts = JOBS["cleanup_old_data"].run(ctx)
    assert counts["deleted_tasks"] == 2 and counts["stopped_early"] == 1
