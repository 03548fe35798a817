"""The warning-count panel against the rules and the ledger, through every kind of write to tasks.

The panel reads the tasks themselves (through ``db tune``'s index on the lowest-threshold instant)
and the ledger; nothing of taskconsole's is kept in step by triggers (migration 0015). Here the task
system's own kinds of writes (single and bulk inserts, progress, window, status and handler changes,
deletes) happen between warning runs, and after each step the panel must say what the rules and
the ledger say.
"""

from __future__ import annotations

import random
from datetime import timedelta

from sqlalchemy import delete, event, select, text, update
from sqlalchemy import inspect as sa_inspect

from console.db.models import Notification, Task, TaskState, WarningSent
from console.domain.rules import time_progress, warning_level
from console.service.dashboard import warning_stats
from tests.conftest import DEMO_TABLES, NOW, set_state
from tests.integration.helpers import run_job


def expected(engine, now, levels) -> dict[int, tuple[int, int]]:
    """level -> (tasks in it now, of which with a handler and not yet warned in their cycle), from the
    rules in Python. A task without a handler is in its level all the same (nobody is warned)."""
    with engine.connect() as conn:
        tasks = conn.execute(select(*Task.__table__.c, TaskState.last_reset_run_id)
                             .select_from(Task.__table__.outerjoin(TaskState, TaskState.task_id == Task.id))).all()
        sent = {(w.task_id, w.level, w.cycle) for w in conn.execute(select(WarningSent))}
    out = {lv.level: [0, 0] for lv in levels}
    for t in tasks:
        start, end = t.expected_start_time, t.expected_end_time
        if (t.status != "processing" or start is None or end is None or t.progress is None
                or not 0 <= t.progress <= 100):
            continue
        level = warning_level(time_progress(start, end, now), t.progress, levels)
        if level is not None:
            out[level][0] += 1
            out[level][1] += t.current_handler_id is not None and (t.id, level, t.last_reset_run_id or 0) not in sent
    return {lv: (n, pending) for lv, (n, pending) in out.items()}


def shown(engine, now, levels) -> dict[int, tuple[int, int]]:
    return {s.level: (s.in_level, s.pending) for s in warning_stats(engine, DEMO_TABLES, now, levels).levels}


def test_the_panel_agrees_with_the_rules_and_the_ledger_through_every_kind_of_write(db, rows, settings):
    levels = settings.warnings.levels
    rng = random.Random(11)
    handlers = [rows.user(), rows.user()]
    ids = [rows.processing(time_pct=rng.uniform(40, 130), progress=rng.choice([5.0, 50.0, 85.0, 92.0, 99.0]),
                           handler=rng.choice(handlers), hours=rng.choice([10.0, 100.0]))
           for _ in range(90)]
    rows.task(progress=10.0)  # no window
    rows.processing(time_pct=90, progress=150.0, handler=handlers[0])  # progress out of range
    rows.processing(time_pct=90, progress=10.0, handler=None)  # nobody to warn
    rows.processing(time_pct=90, progress=10.0, handler=handlers[0], status="completed")
    assert shown(db.engine, NOW, levels) == expected(db.engine, NOW, levels)
    assert sum(n - pending for n, pending in shown(db.engine, NOW, levels).values()) == 1  # the one without a handler
    assert sum(s.no_handler for s in warning_stats(db.engine, DEMO_TABLES, NOW, levels).levels) == 1

    run_job("check_task_warnings", db.engine, settings, NOW)
    after_run = shown(db.engine, NOW, levels)
    assert after_run == expected(db.engine, NOW, levels)
    assert sum(n for n, _ in after_run.values()) > 20 and all(pending == 0 for _, pending in after_run.values())

    # The task system writes, one row at a time and in bulk.
    with db.engine.begin() as conn:
        t = Task.__table__
        conn.execute(update(t).where(t.c.id.in_(ids[0:8])).values(progress=99.0))  # work caught up
        conn.execute(update(t).where(t.c.id.in_(ids[8:16])).values(progress=1.0))  # work fell behind
        for task_id in ids[16:24]:  # a moved deadline: warned of only at a level its cycle has not had
            conn.execute(update(t).where(t.c.id == task_id).values(
                expected_start_time=NOW - timedelta(hours=95), expected_end_time=NOW + timedelta(hours=4)))
        conn.execute(update(t).where(t.c.id.in_(ids[24:32])).values(status="completed"))
        conn.execute(update(t).where(t.c.id.in_(ids[28:32])).values(status="processing"))  # reopened, same window
        conn.execute(update(t).where(t.c.id.in_(ids[32:36])).values(current_handler_id=None))
        conn.execute(update(t).where(t.c.id.in_(ids[36:40])).values(progress=None))
        conn.execute(delete(t).where(t.c.id.in_(ids[40:46])))
        conn.execute(update(t).where(t.c.id.in_(ids[46:50])).values(title="renamed", updated_at=NOW))  # not watched
    for task_id in ids[50:56]:
        set_state(db.engine, task_id, last_reset_run_id=4242)  # a new cycle: afresh
    rows.processing(time_pct=97, progress=10.0, handler=handlers[1])
    with db.engine.begin() as conn:  # one INSERT ... SELECT of many rows
        conn.execute(text(
            "INSERT INTO tasks (title, category, status, progress, time_progress, expected_start_time, "
            "expected_end_time, current_handler_id, created_at, updated_at) "
            "SELECT 'copy', category, status, progress, 0, expected_start_time, expected_end_time, "
            "current_handler_id, created_at, updated_at FROM tasks WHERE id <= :last"), {"last": ids[60]})
    later = NOW + timedelta(hours=1)
    assert shown(db.engine, later, levels) == expected(db.engine, later, levels)
    assert sum(pending for _, pending in shown(db.engine, later, levels).values()) > 10

    run_job("check_task_warnings", db.engine, settings, later)
    assert shown(db.engine, later, levels) == expected(db.engine, later, levels)
    assert all(pending == 0 for _, pending in shown(db.engine, later, levels).values())


def test_a_window_warned_twice_reads_back_its_last_level_and_rare_writes_leave_no_ghost(db, rows, settings):
    # Rare writes of the task system (a status round trip, a new id, SQLite's REPLACE) are read as
    # they are: nothing of taskconsole's is left behind to disagree with the tasks.
    levels = settings.warnings.levels
    handler = rows.user()
    task_id = rows.processing(time_pct=85, progress=10.0, handler=handler)
    run_job("check_task_warnings", db.engine, settings, NOW)  # level 20
    later = NOW + timedelta(hours=6)  # 100 h window: 85 % + 6 % = 91 %, level 10
    run_job("check_task_warnings", db.engine, settings, later)
    with db.engine.begin() as conn:  # out of processing and back: the row is rebuilt from the ledger
        conn.execute(update(Task).where(Task.id == task_id).values(status="completed"))
        conn.execute(update(Task).where(Task.id == task_id).values(status="processing"))
    assert shown(db.engine, later, levels) == expected(db.engine, later, levels) == {20: (0, 0), 10: (1, 0), 5: (0, 0)}
    with db.engine.begin() as conn:  # a new id for the task (its ledger rows would block this; there are none)
        conn.execute(delete(WarningSent).where(WarningSent.task_id == task_id))
        conn.execute(delete(Notification).where(Notification.task_id == task_id))
        conn.execute(update(Task).where(Task.id == task_id).values(id=task_id + 1000))
    assert shown(db.engine, later, levels) == expected(db.engine, later, levels)
    if not db.is_pg:  # SQLite's REPLACE drops the old row without a delete trigger
        with db.engine.begin() as conn:
            conn.execute(text("REPLACE INTO tasks (id, title, status, progress, time_progress, created_at, updated_at) "
                              "SELECT id, title, 'completed', progress, 0, created_at, updated_at FROM tasks"))
        assert shown(db.engine, later, levels) == expected(db.engine, later, levels) == {
            20: (0, 0), 10: (0, 0), 5: (0, 0)}


def test_no_trigger_of_taskconsoles_is_on_the_task_tables_at_the_head_revision(db):
    # db upgrade made the task tables here, and ran db tune on them: indexes only (migration 0015).
    with db.engine.connect() as conn:
        if db.is_pg:
            names = conn.execute(text("SELECT tgname FROM pg_trigger WHERE NOT tgisinternal")).scalars().all()
            functions = conn.execute(text("SELECT proname FROM pg_proc p WHERE pronamespace = "
                                          "current_schema()::regnamespace AND NOT EXISTS (SELECT 1 FROM pg_depend d "
                                          "WHERE d.objid = p.oid AND d.deptype = 'e')")).scalars().all()
        else:
            names = conn.execute(text("SELECT name FROM sqlite_master WHERE type = 'trigger'")).scalars().all()
            functions = []
        tables = sa_inspect(conn).get_table_names()
        tuned = conn.execute(text("SELECT count(*) FROM tune_objects WHERE kind = 'index'")).scalar_one()
    assert names == [] and functions == [] and "warning_watch" not in tables
    assert tuned > 5


def test_a_bulk_demo_load_and_its_replacement_are_counted_as_they_are(db, settings):
    from console.db.demo import load_demo

    load_demo(db.engine, 3000, now=NOW)
    assert shown(db.engine, NOW, settings.warnings.levels) == expected(db.engine, NOW, settings.warnings.levels)
    load_demo(db.engine, 1000, now=NOW, replace=True)  # TRUNCATE on PostgreSQL, DELETE on SQLite
    assert shown(db.engine, NOW, settings.warnings.levels) == expected(db.engine, NOW, settings.warnings.levels)


def test_postgresql_counts_read_only_the_tasks_past_the_lowest_threshold(pg, settings):
    from console.db.demo import load_demo

    load_demo(pg, 3000, now=NOW)
    run_job("check_task_warnings", pg, settings, NOW)
    with pg.begin() as conn:  # the task system writes, and the next run sends nothing new
        conn.execute(text("UPDATE tasks SET progress = 100 WHERE id % 7 = 0 AND status = 'processing'"))
    assert run_job("check_task_warnings", pg, settings, NOW)["notified"] == 0  # it vacuums all the same
    statements = []

    def capture(conn, cursor, statement, parameters, context, executemany):
        statements.append(cursor.mogrify(statement, parameters).decode())

    event.listen(pg, "before_cursor_execute", capture)
    try:
        warning_stats(pg, DEMO_TABLES, NOW, settings.warnings.levels)
    finally:
        event.remove(pg, "before_cursor_execute", capture)
    with pg.connect() as conn:
        conn.execute(text("SET enable_seqscan = off"))  # 3,000 rows would be scanned; a million are not
        plans = ["\n".join(r[0] for r in conn.exec_driver_sql("EXPLAIN (ANALYZE, COSTS OFF) " + s.replace("%", "%%")))
                 for s in statements]
    tasks, ledger = plans
    assert "tc_tasks_warn_from_" in tasks and "Seq Scan" not in tasks  # db tune's index (db upgrade made it)
    assert "Index Only Scan using ix_warning_ledger_sent_at_level" in ledger and "Heap Fetches: 0" in ledger


def test_upgrading_to_0007_fills_warning_watch_from_tasks_and_the_ledger(db, rows, settings):
    from alembic import command

    from console.db import schema

    levels = settings.warnings.levels
    handler = rows.user()
    for pct in (50, 85, 92, 97, 99):
        rows.processing(time_pct=pct, progress=10.0, handler=handler)
    run_job("check_task_warnings", db.engine, settings, NOW)
    rows.processing(time_pct=96, progress=10.0, handler=handler)  # not warned yet
    cfg = schema._config()
    try:
        with db.engine.begin() as conn:
            cfg.attributes["connection"] = conn
            command.downgrade(cfg, "0006")
            assert "warning_watch" not in sa_inspect(conn).get_table_names()
    finally:
        schema.upgrade(db.engine)
    assert shown(db.engine, NOW, levels) == expected(db.engine, NOW, levels) == {20: (1, 0), 10: (1, 0), 5: (3, 1)}
