"""`taskconsole tasks set-recurrence` and `tasks next`, on SQLite and PostgreSQL."""

import json
from datetime import datetime, timedelta, timezone

from sqlalchemy import select

from console.db.models import AuditEntry, Task
from tests.integration.helpers import assert_one_clean_error, task


def periodic(rows):
    now = datetime.now(timezone.utc)
    start = now - timedelta(days=2)
    return rows.task(category="periodic", status="completed", expected_start_time=start,
                     expected_end_time=start + timedelta(hours=8), actual_end_time=start + timedelta(hours=7),
                     current_handler_id=rows.user())


def test_set_recurrence_stores_a_valid_rule_and_says_it_in_words(cli, db, rows):
    task_id = periodic(rows)
    proc = cli("tasks", "set-recurrence", str(task_id), "FREQ=WEEKLY;BYDAY=MO;BYHOUR=9;BYMINUTE=0")
    assert proc.returncode == 0, proc.stderr
    assert "every Monday 09:00" in proc.stdout
    assert task(db.engine, task_id).recurrence == "FREQ=WEEKLY;BYDAY=MO;BYHOUR=9;BYMINUTE=0"
    with db.engine.connect() as conn:
        audit = conn.execute(select(AuditEntry.action, AuditEntry.job_id)).all()
    assert audit == [("set-recurrence", f"task {task_id}")]


def test_a_garbage_rule_is_refused_with_exit_2_and_nothing_stored(cli, db, rows):
    task_id = periodic(rows)
    line = assert_one_clean_error(cli("tasks", "set-recurrence", str(task_id), "every full moon"))
    assert "every full moon" in line and "RRULE" in line
    assert task(db.engine, task_id).recurrence is None


def test_unknown_task_exits_2(cli, db):
    assert "no task with id 424242" in assert_one_clean_error(cli("tasks", "set-recurrence", "424242", "P1D"))
    assert "no task with id 424242" in assert_one_clean_error(cli("tasks", "next", "424242"))


def test_next_lists_windows_as_json_with_offsets(cli, db, rows):
    task_id = periodic(rows)
    assert cli("tasks", "set-recurrence", str(task_id), "FREQ=DAILY;BYHOUR=9;BYMINUTE=0").returncode == 0
    proc = cli("tasks", "next", str(task_id), "--count", "3", "--json")
    assert proc.returncode == 0, proc.stderr
    windows = json.loads(proc.stdout)
    assert len(windows) == 3 and all(set(w) == {"start", "end"} for w in windows)
    starts = [datetime.fromisoformat(w["start"]) for w in windows]
    assert all(s.utcoffset() == timedelta(hours=8) and (s.hour, s.minute) == (9, 0) for s in starts)
    assert all(datetime.fromisoformat(w["end"]) - s == timedelta(hours=8) for w, s in zip(windows, starts))
    assert starts == sorted(starts) and starts[-1] - starts[0] == timedelta(days=2)


def test_none_restores_the_default(cli, db, rows):
    task_id = periodic(rows)
    cli("tasks", "set-recurrence", str(task_id), "P1D")
    proc = cli("tasks", "set-recurrence", str(task_id), "none")
    assert proc.returncode == 0 and "(default)" in proc.stdout
    with db.engine.connect() as conn:
        assert conn.execute(select(Task.recurrence).where(Task.id == task_id)).scalar() is None


def test_next_of_a_task_whose_stored_rule_is_invalid_exits_2(cli, db, rows):
    task_id = periodic(rows)
    with db.engine.begin() as conn:
        conn.execute(Task.__table__.update().where(Task.id == task_id).values(recurrence="FREQ=NEVER"))
    assert "FREQ=NEVER" in assert_one_clean_error(cli("tasks", "next", str(task_id)))
