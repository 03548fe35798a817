"""check_task_warnings on SQLite and PostgreSQL: levels, once per task/level/cycle, bad rows."""

from datetime import timedelta

import pytest
from sqlalchemy import select

from console.db.models import Task
from console.domain.rules import time_progress as py_time_progress
from console.domain.rules import warning_level as py_warning_level
from console.db.task_sql import warning_level as sql_warning_level
from console.db.task_tables import TaskSystemSettings, build_tables
from console.settings import Settings
from tests.conftest import NOW
from tests.integration.helpers import failing_inserts_into, ledger, notifications, preview_job, run_job

JOB = "check_task_warnings"


def test_seed_case_time_95_progress_60_sends_level_5(db, rows, settings):
    handler = rows.user("handler")
    task_id = rows.processing(time_pct=95, progress=60, handler=handler, title="年度预算")
    counts = run_job(JOB, db.engine, settings, NOW)
    sent = notifications(db.engine, "任务预警")
    assert counts["notified"] == 1 and counts["level_5"] == 1
    assert len(sent) == 1
    assert sent[0].user_id == handler and sent[0].task_id == task_id
    assert "剩余5%" in sent[0].title
    assert "年度预算" in sent[0].content and "60%" in sent[0].content
    assert [(r.task_id, r.level) for r in ledger(db.engine)] == [(task_id, 5)]


def test_a_second_run_sends_nothing_more(db, rows, settings):
    handler = rows.user()
    rows.processing(time_pct=85, progress=10, handler=handler)
    first = run_job(JOB, db.engine, settings, NOW)
    second = run_job(JOB, db.engine, settings, NOW + timedelta(minutes=30))
    assert (first["notified"], second["notified"]) == (1, 0)
    assert len(notifications(db.engine)) == 1


def test_only_the_most_severe_level_is_sent(db, rows, settings):
    rows.processing(time_pct=97, progress=10, handler=rows.user())
    run_job(JOB, db.engine, settings, NOW)
    assert [r.level for r in ledger(db.engine)] == [5]


def test_a_task_that_gets_worse_is_warned_at_each_new_level(db, rows, settings):
    rows.processing(time_pct=81, progress=10, handler=rows.user(), hours=100)
    run_job(JOB, db.engine, settings, NOW)
    run_job(JOB, db.engine, settings, NOW + timedelta(hours=10))  # now at 91 %
    run_job(JOB, db.engine, settings, NOW + timedelta(hours=15))  # now at 96 %
    assert [r.level for r in ledger(db.engine)] == [20, 10, 5]
    assert len(notifications(db.engine)) == 3


def test_repeat_after_sends_the_same_level_again_once(db, rows, settings):
    rows.processing(time_pct=96, progress=10, handler=rows.user(), hours=1000)
    run_job(JOB, db.engine, settings, NOW)
    run_job(JOB, db.engine, settings, NOW + timedelta(hours=23))
    run_job(JOB, db.engine, settings, NOW + timedelta(hours=24))
    run_job(JOB, db.engine, settings, NOW + timedelta(hours=25))
    assert [(r.level, r.repeat_no) for r in ledger(db.engine)] == [(5, 0), (5, 1)]


def test_repeat_after_zero_means_never_again(db, rows):
    settings = Settings.model_validate({"warnings": {"repeat_after": 0}})
    rows.processing(time_pct=96, progress=10, handler=rows.user(), hours=1000)
    for hours in (0, 24, 48, 500):
        run_job(JOB, db.engine, settings, NOW + timedelta(hours=hours))
    assert len(ledger(db.engine)) == 1


def test_a_moved_deadline_is_not_warned_afresh_but_a_new_cycle_is(db, rows, settings):
    task_id = rows.processing(time_pct=96, progress=10, handler=rows.user())
    run_job(JOB, db.engine, settings, NOW)
    with db.engine.begin() as conn:
        conn.execute(Task.__table__.update().where(Task.id == task_id).values(
            expected_end_time=NOW + timedelta(hours=1)))  # new end: 96 h of 97 h elapsed, still level 5
    assert run_job(JOB, db.engine, settings, NOW)["notified"] == 0
    rows.state(task_id, last_reset_run_id=999)  # what the reset job stamps, straight back to processing
    assert run_job(JOB, db.engine, settings, NOW)["notified"] == 1
    assert [(r.level, r.cycle, r.repeat_no) for r in ledger(db.engine)] == [(5, 0, 0), (5, 999, 0)]


def test_bad_rows_are_skipped_and_counted_and_the_rest_still_sent(db, rows, settings):
    handler = rows.user()
    rows.task(status="processing", progress=10, current_handler_id=handler)  # no window
    rows.task(status="processing", progress=10, current_handler_id=handler,
              expected_start_time=NOW + timedelta(hours=2), expected_end_time=NOW + timedelta(hours=1))  # inverted, ahead
    rows.processing(time_pct=96, progress=150, handler=handler)  # progress out of range
    rows.processing(time_pct=96, progress=-5, handler=handler)
    rows.processing(time_pct=96, progress=10, handler=None)  # no handler
    good = rows.processing(time_pct=96, progress=10, handler=handler)
    counts = run_job(JOB, db.engine, settings, NOW)
    assert counts["skipped_no_window"] == 1
    assert "skipped_inverted_window" not in counts  # an inverted window ahead is at 0 %: not a bad row
    assert counts["skipped_bad_progress"] == 2
    assert counts["skipped_no_handler"] == 1
    assert [n.task_id for n in notifications(db.engine)] == [good]


def test_tasks_not_processing_or_ahead_are_left_alone(db, rows, settings):
    handler = rows.user()
    rows.processing(time_pct=96, progress=97, handler=handler)  # ahead of its time
    rows.processing(time_pct=50, progress=0, handler=handler)  # no threshold yet
    rows.processing(time_pct=99, progress=0, handler=handler, status="completed")
    assert run_job(JOB, db.engine, settings, NOW)["notified"] == 0


def test_a_failed_notification_insert_leaves_no_ledger_row(db, rows, settings):

    rows.processing(time_pct=96, progress=10, handler=rows.user())

    with failing_inserts_into(db.engine, "notifications"), pytest.raises(Exception, match="injected failure"):
        run_job(JOB, db.engine, settings, NOW)
    assert ledger(db.engine) == [] and notifications(db.engine) == []
    assert run_job(JOB, db.engine, settings, NOW)["notified"] == 1  # sent on the next run


def test_preview_counts_what_run_sends_and_writes_nothing(db, rows, settings):
    handler = rows.user()
    for pct, progress in ((81, 10), (91, 10), (96, 10), (97, 20), (50, 0)):
        rows.processing(time_pct=pct, progress=progress, handler=handler)
    preview = preview_job(JOB, db.engine, settings, NOW)
    assert ledger(db.engine) == [] and notifications(db.engine) == []
    assert (preview.counts["level_20"], preview.counts["level_10"], preview.counts["level_5"]) == (1, 1, 2)
    assert {s["level"] for s in preview.samples} == {20, 10, 5}
    counts = run_job(JOB, db.engine, settings, NOW)
    assert counts["notified"] == preview.counts["would_notify"] == 4


def test_sql_rules_agree_with_the_domain_rules(db, rows, settings):
    # A grid on both sides of every threshold (a hundredth of a percent away: float arithmetic in
    # SQL may round an instant exactly on a threshold either way; the domain tests pin those).
    handler = rows.user()
    for pct in (0, 50, 79.99, 80.01, 89.99, 90.01, 94.99, 95.01, 100, 120):
        for progress in (0, 60, 79, 80, 89, 90, 94, 95, 100):
            rows.processing(time_pct=pct, progress=progress, handler=handler, hours=1000)
    levels = settings.warnings.levels
    with db.engine.connect() as conn:
        t = build_tables(TaskSystemSettings())
        c = t.tasks.c
        got = conn.execute(select(c.expected_start_time, c.expected_end_time, c.progress,
                                  sql_warning_level(t, NOW, levels))).all()
    assert len(got) == 90
    mismatches = [
        (py_time_progress(start, end, NOW), progress, sql_level)
        for start, end, progress, sql_level in got
        if py_warning_level(py_time_progress(start, end, NOW), progress) != sql_level
    ]
    assert not mismatches, mismatches[:10]


def test_postgresql_never_reads_the_ledger_while_writing_it(pg, settings):
    # With the ledger analyzed while empty, a lookup per task inside the INSERT ... SELECT was a
    # sequential scan of the growing ledger per row: quadratic (132 s for 100,000 warnings). The
    # warnings due are staged first, so the INSERT reads only the staging table.
    from sqlalchemy import event, text

    from tests.conftest import Rows

    rows = Rows(pg)
    handler = rows.user()
    for pct in (85, 92, 97):
        rows.processing(time_pct=pct, progress=10.0, handler=handler)
    with pg.connect() as conn:
        conn.execution_options(isolation_level="AUTOCOMMIT").execute(text("VACUUM ANALYZE warning_ledger"))
    plans = []

    def explain(conn, cursor, statement, parameters, context, executemany):
        if statement.startswith("INSERT INTO warning_ledger"):
            cursor.execute("EXPLAIN " + statement, parameters)
            plans.append("\n".join(r[0] for r in cursor.fetchall()))

    event.listen(pg, "before_cursor_execute", explain)
    try:
        counts = run_job("check_task_warnings", pg, settings, NOW)
    finally:
        event.remove(pg, "before_cursor_execute", explain)
    assert counts["notified"] == 3 and len(plans) == 1
    assert "Scan on warning_ledger" not in plans[0] and "warning_pending" in plans[0]


def test_postgresql_probes_the_ledger_through_its_unique_key(pg, settings):
    # "Already sent in this cycle" and the next repeat number are looked up per task due: each
    # must be an index probe on (task_id, cycle, level, ...), never a scan of the ledger per task.
    # With sequential scans priced out, a plan still scanning the ledger has no index to use.
    from sqlalchemy import event

    from tests.conftest import Rows

    rows = Rows(pg)
    handler = rows.user()
    for pct in (85, 92, 97):
        rows.processing(time_pct=pct, progress=10.0, handler=handler)
    run_job("check_task_warnings", pg, settings, NOW)
    plans = []

    def explain(conn, cursor, statement, parameters, context, executemany):
        if statement.startswith("INSERT INTO warning_pending"):
            cursor.execute("SET LOCAL enable_seqscan = off")
            cursor.execute("EXPLAIN " + statement, parameters)
            plans.append("\n".join(r[0] for r in cursor.fetchall()))
            cursor.execute("SET LOCAL enable_seqscan = on")

    event.listen(pg, "before_cursor_execute", explain)
    try:
        run_job("check_task_warnings", pg, settings, NOW + timedelta(hours=30))
    finally:
        event.remove(pg, "before_cursor_execute", explain)
    assert len(plans) == 1
    assert "Seq Scan on warning_ledger" not in plans[0], plans[0]
    # The next repeat number: max(repeat_no) of the key, read backwards from the unique index.
    assert "Index Only Scan Backward using uq_warning_ledger_task_id_cycle_level_repeat_no" in plans[0], plans[0]
