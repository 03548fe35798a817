"""The task system's own writes on PostgreSQL, beside taskconsole (issue #27: no footprint).

``db tune`` makes indexes and a table option only: no trigger, function or rule of taskconsole's
runs in the task system's statements. So its role needs no right on any table of taskconsole's, a
warning check never waits for (nor holds up) a writer of tasks, and a column the task system
renames or drops never makes its own writes fail; taskconsole then refuses, in one line, until the
mapping fits again. The counts the console shows agree with what the check sends, read from the
tasks themselves.
"""

from __future__ import annotations

import threading
import time
import uuid
from datetime import timedelta

from sqlalchemy import text, update

from console.db import tuning
from console.db.models import Task
from console.db.task_tables import forget_live_tables, tables_for
from console.service.dashboard import warning_stats
from tests.conftest import DEMO_TABLES, NOW, Rows, fresh_pg_database
from tests.integration.helpers import assert_one_clean_error, invoke, run_job
from tests.integration.task_schemas import SEED_DDL, SEED_SETTINGS, Fresh


def _in_level(engine, settings) -> dict[int, int]:
    return {s.level: s.in_level for s in warning_stats(engine, DEMO_TABLES, NOW, settings.warnings.levels).levels}


def test_after_tune_a_renamed_column_leaves_the_task_systems_writes_working_and_taskconsole_refusing(tmp_path):
    from console.db import schema
    from console.db.engine import make_engine
    from console.settings import load_settings

    with fresh_pg_database("taskconsole_rename") as url:
        engine = make_engine(url)
        seed = Fresh("postgresql", url, engine, tmp_path)
        seed.create(SEED_DDL)
        config = seed.config(SEED_SETTINGS)
        settings = load_settings(config, env={"TASKCONSOLE_DATABASE_URL": url})
        schema.upgrade(engine, settings)
        forget_live_tables()
        seed.run("INSERT INTO users (id, username, is_admin) VALUES (1, '管理员', TRUE), (2, '张伟', FALSE)")
        seed.run("INSERT INTO tasks (id, title, status, progress, expected_start_time, expected_end_time, "
                 "current_handler_id) VALUES (1, '合同审核', '处理中', 10, :s, :e, 2)",
                 {"s": (NOW - timedelta(hours=1)).replace(tzinfo=None), "e": (NOW + timedelta(hours=9)).replace(tzinfo=None)})
        applied = invoke(["db", "tune", "--apply"], url=url, cwd=tmp_path, config=config)
        assert applied.returncode == 0, applied.stderr
        with engine.connect() as conn:
            triggers = conn.execute(text(
                "SELECT tgname FROM pg_trigger t JOIN pg_class c ON c.oid = t.tgrelid "
                "WHERE NOT t.tgisinternal AND c.relname IN ('tasks', 'users', 'notifications')")).scalars().all()
            functions = conn.execute(text(
                "SELECT proname FROM pg_proc p WHERE pronamespace = current_schema()::regnamespace "
            "AND NOT EXISTS (SELECT 1 FROM pg_depend d WHERE d.objid = p.oid AND d.deptype = 'e')")).scalars().all()
            made = conn.execute(text("SELECT DISTINCT kind FROM tune_objects")).scalars().all()
        assert triggers == [] and functions == []
        assert set(made) == {"index", "option"}

        seed.run("ALTER TABLE tasks RENAME progress TO pct")  # the task system's own migration
        seed.run("UPDATE tasks SET pct = 50 WHERE id = 1")
        seed.run("INSERT INTO tasks (id, title, status, pct) VALUES (2, '新任务', '新建', 0)")
        with engine.connect() as conn:
            assert conn.execute(text("SELECT pct FROM tasks WHERE id = 1")).scalar_one() == 50

        forget_live_tables()
        ran = invoke(["jobs", "run", "check_task_warnings"], url=url, cwd=tmp_path, config=config)
        line = assert_one_clean_error(ran)
        assert "progress" in line and "tasks" in line, line
        engine.dispose()


def test_a_role_with_rights_on_tasks_only_writes_tasks_and_is_counted(pg, settings):
    # No trigger runs in its statements: it needs no right on any table of taskconsole's.
    role = f"tc_writer_{uuid.uuid4().hex[:8]}"
    handler = Rows(pg).user()
    with pg.connect() as conn:
        conn.execution_options(isolation_level="AUTOCOMMIT")
        conn.execute(text(f"CREATE ROLE {role} NOLOGIN"))
        try:
            conn.execute(text(f"GRANT SELECT, INSERT, UPDATE, DELETE ON tasks TO {role}"))
            conn.execute(text(f"GRANT USAGE ON SEQUENCE tasks_id_seq TO {role}"))
            conn.execute(text(f"SET ROLE {role}"))
            task_id = conn.execute(text(
                "INSERT INTO tasks (title, status, progress, time_progress, expected_start_time, expected_end_time, "
                "current_handler_id, created_at, updated_at) VALUES ('t', 'processing', 10, 0, :s, :e, :h, :s, :s) "
                "RETURNING id"), {"s": NOW - timedelta(hours=90), "e": NOW + timedelta(hours=10), "h": handler}
            ).scalar_one()
            conn.execute(text("UPDATE tasks SET progress = 20 WHERE id = :id"), {"id": task_id})
            conn.execute(text("RESET ROLE"))
            assert _in_level(pg, settings) == {20: 0, 10: 1, 5: 0}
            conn.execute(text(f"SET ROLE {role}"))
            conn.execute(text("DELETE FROM tasks WHERE id = :id"), {"id": task_id})
            conn.execute(text("RESET ROLE"))
            assert _in_level(pg, settings) == {20: 0, 10: 0, 5: 0}
        finally:
            conn.execute(text("RESET ROLE"))
            conn.execute(text(f"DROP OWNED BY {role}"))
            conn.execute(text(f"DROP ROLE {role}"))


def test_a_warning_check_never_waits_for_a_writer_of_tasks_and_the_counts_agree_after(pg, settings):
    # A writer holds two tasks' rows in one open transaction: the check reads the tasks without
    # locking them, commits its warnings, and the writer then finishes without waiting either.
    rows = Rows(pg)
    handler = rows.user()
    a, b = (rows.processing(time_pct=85, progress=10.0, handler=handler) for _ in range(2))
    errors: list[BaseException] = []

    def check() -> None:
        try:
            run_job("check_task_warnings", pg, settings, NOW)
        except BaseException as exc:  # noqa: BLE001 - reported by the assertion below
            errors.append(exc)

    with pg.begin() as writer:
        writer.execute(update(Task).where(Task.id == a).values(progress=Task.progress + 1))
        job = threading.Thread(target=check)
        job.start()
        job.join(10)
        assert not job.is_alive() and not errors, "the check should commit without waiting for the writer"
        writer.execute(update(Task).where(Task.id == b).values(progress=Task.progress + 1))
    levels = warning_stats(pg, DEMO_TABLES, NOW, settings.warnings.levels).levels
    assert {s.level: (s.in_level, s.pending) for s in levels} == {20: (2, 0), 10: (0, 0), 5: (0, 0)}
    assert sum(s.notified_24h for s in levels) == 2


def test_the_counts_follow_the_task_systems_writes_with_no_delay(pg, settings):
    # Nothing of taskconsole's is kept in step: the next read is the truth, whoever wrote.
    rows = Rows(pg)
    handler = rows.user()
    task_id = rows.processing(time_pct=85, progress=10.0, handler=handler)
    run_job("check_task_warnings", pg, settings, NOW)
    started = time.monotonic()
    with pg.begin() as conn:
        conn.execute(text("UPDATE tasks SET expected_end_time = expected_end_time - interval '10 hours' "
                          "WHERE id = :id"), {"id": task_id})  # now at 94 %: level 10, not yet warned
    stats = {s.level: (s.in_level, s.pending)
             for s in warning_stats(pg, DEMO_TABLES, NOW, settings.warnings.levels).levels}
    assert stats == {20: (0, 0), 10: (1, 1), 5: (0, 0)} and time.monotonic() - started < 5
    with pg.connect() as conn:  # read through db tune's index (db upgrade made it on these tables)
        assert tuning.warn_index_present(conn, tables_for(pg, settings))


def test_a_slow_read_of_the_counts_is_repeated_at_most_every_30_s_even_with_tune(pg, settings):
    # At a million tasks the read past the 80 % instant takes 0.7 s: too dear for every refresh.
    from console.service import Service

    Rows(pg).processing(time_pct=85, progress=10.0, handler=None)
    service = Service(settings, pg, clock=lambda: NOW, slow_stats_s=60.0)
    first = service.dashboard()
    assert first.warnings_every_s is None and not first.warnings_untuned  # tuned, and quick
    service.slow_stats_s = -1.0  # any read is slow now: the last one was
    second = service.dashboard()
    assert second.warnings is first.warnings  # not read again within 30 s
    assert second.warnings_every_s == 30 and not second.warnings_untuned  # no db tune hint: it is tuned
