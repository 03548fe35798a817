"""Hostile rules and rows for reset_periodic_tasks, on SQLite and PostgreSQL (issue 12, items 1, 2, 4, 5).

- Rules that loop dateutil forever, walk millions of steps or make it fail (INTERVAL=0, BYHOUR=25,
  30 February, ...) are refused by `tasks set-recurrence` (exit 2, the reason on one line), and
  when written straight into the database they are skipped and counted while a healthy task in the
  same run is reset; `tasks next` and `preview` answer at once.
- An unassigned periodic task is reset like the others, without a notification.
- A row the database refuses to write (a trigger of the task system's own) is isolated: the
  others are written with their notifications, the run is failed naming it, a retry writes only
  what is still due.
"""

from __future__ import annotations

import json
import time
from contextlib import contextmanager
from datetime import timedelta

import pytest
from sqlalchemy import event, select, text, update

from console.db.models import JobRun, Notification, Task
from console.jobs import isolate
from console.scheduler.runner import JobRunner
from console.settings import Settings
from tests.conftest import DEMO_TABLES, NOW
from tests.integration.helpers import assert_one_clean_error, notifications, preview_job, run_job, task

JOB = "reset_periodic_tasks"
LONG_RULE = "FREQ=MONTHLY;BYMONTHDAY=" + ",".join(["1"] * 239)
assert len(LONG_RULE) == 501

# (rule, words the refusal must hold)
BAD_RULES = [
    ("FREQ=DAILY;INTERVAL=0", "INTERVAL=0"),
    ("FREQ=DAILY;INTERVAL=-1", "INTERVAL=-1"),
    ("FREQ=HOURLY;BYHOUR=25", "BYHOUR=25"),
    ("FREQ=YEARLY;BYMONTH=13", "BYMONTH=13"),
    ("FREQ=MONTHLY;BYMONTHDAY=32", "BYMONTHDAY=32"),
    ("P99999Y", "longer than 5 years"),
    (LONG_RULE, "501 characters"),
    ("FREQ=DAILY;BYMONTH=2;BYMONTHDAY=30", "no occurrence within 5 years"),  # 30 February
]
IDS = ["interval_0", "interval_-1", "byhour_25", "bymonth_13", "bymonthday_32", "p99999y", "501_chars",
       "30_february"]


def finished(rows, handler, *, days_ago: float = 8, recurrence: str | None = None, **values) -> int:
    """A periodic task completed ``days_ago`` days before NOW after a one-day cycle."""
    end = NOW - timedelta(days=days_ago)
    return rows.task(category="periodic", status="completed", progress=100.0, time_progress=100.0,
                     expected_start_time=end - timedelta(days=1), expected_end_time=end,
                     actual_start_time=end - timedelta(hours=20), actual_end_time=end,
                     current_handler_id=handler, recurrence=recurrence, **values)


@contextmanager
def wide_recurrence_column(db):
    """PostgreSQL keeps tasks.recurrence to 500 characters; a task system's own column may be wider."""
    if not db.is_pg:
        yield
        return
    with db.engine.begin() as conn:
        conn.execute(text("ALTER TABLE tasks ALTER COLUMN recurrence TYPE text"))
    try:
        yield
    finally:
        with db.engine.begin() as conn:
            conn.execute(text("DELETE FROM tasks WHERE length(recurrence) > 500"))
            conn.execute(text("ALTER TABLE tasks ALTER COLUMN recurrence TYPE varchar(500)"))


# ---- rules ------------------------------------------------------------------------------------------

@pytest.mark.timeout(120)
@pytest.mark.parametrize("rule, words", BAD_RULES, ids=IDS)
def test_set_recurrence_refuses_the_rule_with_exit_2_and_its_reason(cli, db, rows, rule, words):
    task_id = finished(rows, rows.user())
    line = assert_one_clean_error(cli("tasks", "set-recurrence", str(task_id), rule))
    assert words in line, line
    assert task(db.engine, task_id).recurrence is None


@pytest.mark.timeout(60)
@pytest.mark.parametrize("rule, words", BAD_RULES, ids=IDS)
def test_a_stored_bad_rule_is_skipped_and_counted_while_healthy_tasks_are_reset(db, rows, settings, rule, words):
    handler = rows.user()
    healthy_default = finished(rows, handler)
    healthy_rule = finished(rows, handler, days_ago=2, recurrence="P1D")
    with wide_recurrence_column(db):
        bad = finished(rows, handler, recurrence=rule)  # written past set-recurrence, as anyone could
        started = time.perf_counter()
        preview = preview_job(JOB, db.engine, settings, NOW)
        counts = run_job(JOB, db.engine, settings, NOW)
        again = run_job(JOB, db.engine, settings, NOW + timedelta(minutes=1))
        elapsed = time.perf_counter() - started
        assert preview.counts["skipped_invalid_rule"] == 1 and preview.counts["would_reset"] == 2
        assert (counts["skipped_invalid_rule"], counts["reset"], counts["rule_reset"]) == (1, 2, 1)
        assert (again["skipped_invalid_rule"], again["reset"], again["planned"]) == (1, 0, 0)  # flagged once
        bad_row = task(db.engine, bad)
        assert bad_row.status == "completed" and words in bad_row.recurrence_error, bad_row.recurrence_error
        assert task(db.engine, healthy_default).status == task(db.engine, healthy_rule).status == "new"
        assert sorted(n.task_id for n in notifications(db.engine)) == sorted([healthy_default, healthy_rule])
        assert elapsed < 5, elapsed  # three evaluations of the bad rule, never seconds each


@pytest.mark.timeout(240)
def test_tasks_next_and_preview_answer_at_once_on_every_stored_bad_rule(cli, db, rows):
    handler = rows.user()
    with wide_recurrence_column(db):
        bad = {rule: finished(rows, handler, recurrence=rule) for rule, _ in BAD_RULES}
        finished(rows, handler)  # due, healthy
        proc = cli("preview", JOB, "--json")
        assert proc.returncode == 0, proc.stderr
        counts = json.loads(proc.stdout)["counts"]
        assert (counts["skipped_invalid_rule"], counts["would_reset"]) == (len(BAD_RULES), 1)
        for rule, words in BAD_RULES:
            line = assert_one_clean_error(cli("tasks", "next", str(bad[rule])))
            assert words in line, (rule, line)


def test_a_bad_rule_planned_by_an_older_version_is_flagged_at_reset_not_fatal(db, rows, settings):
    # next_reset_at already set (planned before rules were checked this strictly): the reset
    # phase meets the rule, records why it is unusable and resets the others.
    handler = rows.user()
    bad = finished(rows, handler, recurrence="FREQ=HOURLY;BYHOUR=25")
    good = finished(rows, handler, days_ago=2, recurrence="P1D")
    end = NOW - timedelta(days=8)
    rows.state(bad, next_reset_at=end, reset_planned_from=end)
    counts = run_job(JOB, db.engine, settings, NOW)
    assert (counts["rule_reset"], counts["skipped_invalid_rule"]) == (1, 1)
    assert "BYHOUR=25" in task(db.engine, bad).recurrence_error
    assert task(db.engine, good).status == "new"


# ---- unassigned tasks --------------------------------------------------------------------------------

def test_unassigned_periodic_tasks_are_reset_counted_and_not_notified(db, rows, settings):
    handler = rows.user()
    assigned = finished(rows, handler, title="assigned")
    unassigned = finished(rows, None, title="unassigned")  # the case: done 8 days ago, no handler
    unassigned_rule = finished(rows, None, days_ago=2, recurrence="P1D")
    preview = preview_job(JOB, db.engine, settings, NOW)
    assert (preview.counts["would_reset"], preview.counts["would_reset_unassigned"]) == (3, 2)
    counts = run_job(JOB, db.engine, settings, NOW)
    assert (counts["reset"], counts["rule_reset"], counts["reset_unassigned"], counts["notified"]) == (3, 1, 2, 1)
    assert "skipped_no_handler" not in counts
    for task_id in (assigned, unassigned, unassigned_rule):
        row = task(db.engine, task_id)
        assert (row.status, row.progress, row.actual_end_time) == ("new", 0, None)
    assert task(db.engine, unassigned).expected_end_time == NOW + timedelta(days=7)
    assert [(n.task_id, n.user_id) for n in notifications(db.engine)] == [(assigned, handler)]
    again = run_job(JOB, db.engine, settings, NOW + timedelta(minutes=1))
    assert (again["reset"], again["reset_unassigned"]) == (0, 0)


# ---- rows the database refuses -------------------------------------------------------------------------

def refuse_reopening(db, task_ids) -> None:
    """The task system's own rule, as a real trigger: these tasks may not go back to 'new'."""
    ids = ", ".join(str(i) for i in task_ids)
    with db.engine.begin() as conn:
        if db.is_pg:
            conn.execute(text(f"""
                CREATE OR REPLACE FUNCTION refuse_reopen() RETURNS trigger LANGUAGE plpgsql AS $$
                BEGIN
                  IF NEW.id IN ({ids}) AND NEW.status = 'new' THEN
                    RAISE EXCEPTION 'task % may not be reopened', NEW.id;
                  END IF;
                  RETURN NEW;
                END $$"""))
            conn.execute(text("CREATE TRIGGER refuse_reopen BEFORE UPDATE ON tasks FOR EACH ROW "
                              "EXECUTE FUNCTION refuse_reopen()"))
        else:
            conn.execute(text(f"""
                CREATE TRIGGER refuse_reopen BEFORE UPDATE ON tasks FOR EACH ROW
                WHEN NEW.id IN ({ids}) AND NEW.status = 'new'
                BEGIN SELECT RAISE(ABORT, 'task may not be reopened'); END"""))


@pytest.fixture
def drop_triggers(db):
    """The triggers outlive the test's rows on the session's PostgreSQL database: dropped after."""
    yield
    with db.engine.begin() as conn:
        for trigger, table in (("refuse_reopen", "tasks"), ("refuse_notif", "notifications")):
            conn.execute(text(f"DROP TRIGGER IF EXISTS {trigger}" + (f" ON {table}" if db.is_pg else "")))
            if db.is_pg:
                conn.execute(text(f"DROP FUNCTION IF EXISTS {trigger}()"))


def runner(db, settings=None) -> JobRunner:
    return JobRunner(settings or Settings(), db.engine, clock=lambda: NOW)


def last_run(db):
    with db.engine.connect() as conn:
        return conn.execute(select(JobRun).where(JobRun.job_id == JOB).order_by(JobRun.id.desc()).limit(1)).one()


def reset_notes(db) -> dict[int, int]:
    """Reset notifications per task."""
    notes: dict[int, int] = {}
    for n in notifications(db.engine, "任务重置"):
        notes[n.task_id] = notes.get(n.task_id, 0) + 1
    return notes


def test_a_refused_row_is_isolated_the_others_written_and_the_run_failed_naming_it(db, rows, drop_triggers):
    handler, admin = rows.user(), rows.user(admin=True)
    due = [finished(rows, handler, title=f"due {i}") for i in range(40)]
    refused = due[17]
    refuse_reopening(db, [refused])

    result = runner(db).execute(JOB, retries=0)
    assert result.status == "failed"
    assert f"id {refused}" in result.error and "refused" in result.error
    assert (result.counts["reset"], result.counts["notified"], result.counts["refused"]) == (39, 39, 1)
    run = last_run(db)
    assert (run.status, run.counts["refused"], run.counts["reset"]) == ("failed", 1, 39)
    assert str(refused) in run.error
    assert task(db.engine, refused).status == "completed"
    assert all(task(db.engine, i).status == "new" for i in due if i != refused)
    assert reset_notes(db) == {i: 1 for i in due if i != refused}  # each with its reset, once
    assert [n.user_id for n in notifications(db.engine, "系统错误")] == [admin]  # failed: alerted

    retry = runner(db).execute(JOB, retries=0)  # writes only what is still due
    assert retry.status == "failed" and (retry.counts["reset"], retry.counts["refused"]) == (0, 1)
    assert reset_notes(db) == {i: 1 for i in due if i != refused}


def test_the_runner_retries_a_run_with_refused_rows_and_each_retry_writes_only_what_is_still_due(
        db, rows, drop_triggers):
    handler = rows.user()
    due = [finished(rows, handler) for _ in range(5)]
    refuse_reopening(db, [due[0]])
    settings = Settings.model_validate({"jobs": {JOB: {"retries": 2, "retry_delay": 0}}})
    result = runner(db, settings).execute(JOB)
    assert (result.status, result.attempts) == ("failed", 3)
    with db.engine.connect() as conn:
        runs = conn.execute(select(JobRun.trigger_kind, JobRun.status, JobRun.counts).order_by(JobRun.id)).all()
    assert [(r.trigger_kind, r.status) for r in runs] == [("manual", "failed"), ("retry", "failed"),
                                                          ("retry", "failed")]
    assert [(r.counts["reset"], r.counts["refused"]) for r in runs] == [(4, 1), (0, 1), (0, 1)]
    assert reset_notes(db) == {i: 1 for i in due[1:]}


def test_several_refused_rows_among_rule_driven_and_unassigned_tasks_are_each_named(db, rows, drop_triggers):
    handler = rows.user()
    handlers = {}
    for i in range(30):
        handlers[finished(rows, handler if i % 3 else None)] = handler if i % 3 else None
    for i in range(30):
        handlers[finished(rows, handler if i % 4 else None, days_ago=2, recurrence="P1D")] = \
            handler if i % 4 else None
    ids = list(handlers)
    refused = [ids[0], ids[29], ids[35], ids[42]]  # two default-rule, two rule-driven (one unassigned)
    refuse_reopening(db, refused)
    result = runner(db).execute(JOB, retries=0)
    assert result.status == "failed"
    written = [i for i in ids if i not in refused]
    assert (result.counts["refused"], result.counts["reset"], result.counts["rule_reset"]) == (4, 56, 28)
    assert result.counts["reset_unassigned"] == sum(1 for i in written if handlers[i] is None)
    assert all(str(i) in result.error for i in refused), result.error
    assert {i for i in ids if task(db.engine, i).status == "completed"} == set(refused)
    assert reset_notes(db) == {i: 1 for i in written if handlers[i] is not None}


def test_a_refused_notification_takes_its_reset_back_with_it(db, rows, drop_triggers):
    # The task system refuses notifications to one user: those tasks keep their state, the rest go on.
    handler, picky = rows.user(), rows.user()
    tasks = [finished(rows, handler) for _ in range(6)] + [finished(rows, picky)]
    with db.engine.begin() as conn:
        if db.is_pg:
            conn.execute(text("CREATE OR REPLACE FUNCTION refuse_notif() RETURNS trigger LANGUAGE plpgsql AS "
                              f"$$ BEGIN IF NEW.user_id = {picky} THEN RAISE EXCEPTION 'no mail'; END IF; "
                              "RETURN NEW; END $$"))
            conn.execute(text("CREATE TRIGGER refuse_notif BEFORE INSERT ON notifications FOR EACH ROW "
                              "EXECUTE FUNCTION refuse_notif()"))
        else:
            conn.execute(text(f"CREATE TRIGGER refuse_notif BEFORE INSERT ON notifications FOR EACH ROW "
                              f"WHEN NEW.user_id = {picky} BEGIN SELECT RAISE(ABORT, 'no mail'); END"))
    result = runner(db).execute(JOB, retries=0)
    assert result.status == "failed" and result.counts["refused"] == 1 and str(tasks[-1]) in result.error
    assert task(db.engine, tasks[-1]).status == "completed"  # reset and notification commit together
    assert reset_notes(db) == {i: 1 for i in tasks[:-1]}


def test_without_a_refusal_the_default_reset_stays_one_update(db, rows, settings):
    handler = rows.user()
    for _ in range(20):
        finished(rows, handler)
    updates: list[str] = []

    def record(conn, cursor, statement, *args):
        if statement.lstrip().upper().startswith("UPDATE TASKS"):
            updates.append(statement)

    event.listen(db.engine, "before_cursor_execute", record)
    try:
        counts = run_job(JOB, db.engine, settings, NOW)
    finally:
        event.remove(db.engine, "before_cursor_execute", record)
    assert counts["reset"] == 20 and len(updates) == 1


@pytest.mark.timeout(120)
def test_a_database_refusing_every_row_costs_a_bounded_number_of_statements(db, rows, monkeypatch, drop_triggers):
    monkeypatch.setattr(isolate, "BUDGET", 20)
    handler = rows.user()
    due = [finished(rows, handler) for _ in range(300)]
    refuse_reopening(db, due)
    statements = []

    def record(*args):
        statements.append(1)

    event.listen(db.engine, "before_cursor_execute", record)
    try:
        result = runner(db).execute(JOB, retries=0)
    finally:
        event.remove(db.engine, "before_cursor_execute", record)
    assert result.status == "failed" and result.counts["refused"] == 300 and result.counts["reset"] == 0
    assert "tasks among ids" in result.error
    assert len(statements) < 200  # 20 splits at most, then whole parts
    with db.engine.connect() as conn:
        assert conn.execute(select(Notification.id).where(Notification.type == "任务重置")).first() is None


def test_a_refused_rule_driven_task_does_not_make_the_rule_poll_fail_a_run_every_minute(db, rows, drop_triggers):
    from datetime import datetime, timezone

    from console.jobs.rule_resets import pending_on

    handler = rows.user()
    now = datetime.now(timezone.utc)  # the run ledger keeps the wall clock
    end = now - timedelta(days=2)
    refused = rows.task(category="periodic", status="completed", expected_start_time=end - timedelta(hours=8),
                        expected_end_time=end, actual_end_time=end, current_handler_id=handler, recurrence="P1D")
    refuse_reopening(db, [refused])
    assert pending_on(db.engine, DEMO_TABLES, now)  # due: the poll runs the job
    result = JobRunner(Settings(), db.engine).execute(JOB, retries=0)
    assert result.status == "failed" and result.counts["refused"] == 1
    assert not pending_on(db.engine, DEMO_TABLES, now + timedelta(minutes=1))  # still due, but refused: not again
    done = datetime.now(timezone.utc)
    later = rows.task(category="periodic", status="completed", expected_start_time=done - timedelta(hours=2),
                      expected_end_time=done, actual_end_time=done, current_handler_id=handler, recurrence="PT1M")
    assert pending_on(db.engine, DEMO_TABLES, done + timedelta(minutes=2))  # a task finished since: the poll runs
    JobRunner(Settings(), db.engine, clock=lambda: done + timedelta(minutes=2)).execute(JOB, retries=0)
    assert task(db.engine, later).status == "new" and task(db.engine, refused).status == "completed"
