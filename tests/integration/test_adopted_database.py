"""A task system's own database, adopted: ``db upgrade`` leaves its tables as they are, and all four
jobs run over them in its own names, words, types and wall clock.

Two task systems (``tests.integration.task_schemas``), each on SQLite and PostgreSQL: the design
document's (Chinese words, ``username``, integer progress, naive Asia/Shanghai timestamps, a
notifications key into tasks with no ON DELETE) and one with every table and column renamed.
"""

from __future__ import annotations

import json
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import inspect, text

from console.db import schema, tuning
from console.db.task_tables import forget_live_tables, tables_for
from console.settings import load_settings
from tests.conftest import NOW
from tests.integration.helpers import assert_one_clean_error, invoke, run_job
from tests.integration.task_schemas import RENAMED_DDL, RENAMED_SETTINGS, SEED_DDL, SEED_SETTINGS, fresh  # noqa: F401

SHANGHAI = ZoneInfo("Asia/Shanghai")


def task_system_schema(engine, tables: tuple[str, ...]) -> dict:
    """Everything of the task system's tables a change could touch: columns, indexes, keys, triggers."""
    with engine.connect() as conn:
        inspector = inspect(conn)
        found = {t: {"columns": [(c["name"], str(c["type"]), c["nullable"]) for c in inspector.get_columns(t)],
                     "indexes": sorted(str(sorted(i.items())) for i in inspector.get_indexes(t)),
                     "keys": sorted(str(sorted(k.items())) for k in inspector.get_foreign_keys(t))}
                 for t in tables}
        if conn.dialect.name == "postgresql":
            found["triggers"] = sorted(conn.execute(text(
                "SELECT tgrelid::regclass::text || ' ' || tgname FROM pg_trigger WHERE NOT tgisinternal")).scalars())
            found["options"] = sorted(str(r) for r in conn.execute(text(
                "SELECT relname, reloptions FROM pg_class WHERE relname = ANY(:t)"), {"t": list(tables)}))
            # the task system's tables are referenced by no key of taskconsole's
            found["referenced_by"] = sorted(conn.execute(text(
                "SELECT conrelid::regclass::text FROM pg_constraint WHERE contype = 'f' "
                "AND confrelid::regclass::text = ANY(:t)"), {"t": [f'"{t}"' if t != t.lower() else t for t in tables]}
            ).scalars())
        else:
            found["triggers"] = sorted(conn.execute(text("SELECT name FROM sqlite_master WHERE type = 'trigger'"))
                                       .scalars())
    return found


def _local(at: datetime) -> datetime:
    """The naive wall-clock time a task system writing datetime.now() in Asia/Shanghai stores."""
    return at.astimezone(SHANGHAI).replace(tzinfo=None)


def adopt(db, ddl: tuple[str, ...], settings_text: str, tables: tuple[str, ...]):
    """The task system's tables made by its own DDL, then ``db upgrade``; the database gains
    ``before`` (their schema before the upgrade), ``tables`` and ``settings``."""
    db.create(ddl)
    db.settings = load_settings(db.config(settings_text), env={"TASKCONSOLE_DATABASE_URL": db.url})
    db.tables, db.before = tables, task_system_schema(db.engine, tables)
    schema.upgrade(db.engine, db.settings)
    forget_live_tables()
    return db


@pytest.fixture
def seed(fresh):  # noqa: F811
    return adopt(fresh, SEED_DDL, SEED_SETTINGS, ("users", "tasks", "notifications"))


def _seed_rows(db) -> dict[str, int]:
    """A handler, an admin and one task of each kind, written as the task system writes them."""
    db.run("INSERT INTO users (id, username, is_admin) VALUES (1, '管理员', TRUE), (2, '张伟', FALSE)")
    rows = {
        # completed 8 days ago: due for a reset (default period 7 days)
        "periodic": dict(title="周报", category="定时周期任务", status="已完成", progress=100,
                         start=NOW - timedelta(days=15), end=NOW - timedelta(days=9), done=NOW - timedelta(days=8)),
        # 96 % of a 10-hour window gone, read in Shanghai's wall clock; read as UTC it would be 16 %
        "late": dict(title="合同审核 [red]x[/red]", category="普通任务", status="处理中", progress=10,
                     start=NOW - timedelta(hours=9.6), end=NOW + timedelta(hours=0.4), done=None),
        "halfway": dict(title="客户回访", category="普通任务", status="处理中", progress=60,
                        start=NOW - timedelta(hours=5), end=NOW + timedelta(hours=5), done=None),
        "old_closed": dict(title="旧任务", category="普通任务", status="已关闭", progress=100,
                           start=NOW - timedelta(days=200), end=NOW - timedelta(days=150),
                           done=NOW - timedelta(days=150), updated=NOW - timedelta(days=120)),
        "paused": dict(title="暂停的任务", category="普通任务", status="暂停", progress=10,
                       start=NOW - timedelta(hours=9.9), end=NOW + timedelta(hours=0.1), done=None),
    }
    ids = {}
    for i, (name, r) in enumerate(rows.items(), start=1):
        db.run("INSERT INTO tasks (id, title, category, status, progress, time_progress, expected_start_time, "
               "expected_end_time, actual_end_time, current_handler_id, created_at, updated_at) "
               "VALUES (:id, :title, :category, :status, :progress, 0, :start, :end, :done, 2, :made, :updated)",
               dict(id=i, title=r["title"], category=r["category"], status=r["status"], progress=r["progress"],
                    start=_local(r["start"]), end=_local(r["end"]), done=_local(r["done"]) if r["done"] else None,
                    made=_local(NOW - timedelta(days=300)),
                    updated=_local(r.get("updated", NOW - timedelta(days=1)))))
        ids[name] = i
    # the task system's own notification about the old task: its key has no ON DELETE
    db.run("INSERT INTO notifications (user_id, type, title, content, task_id, is_read, created_at) "
           "VALUES (2, '系统', '旧', '旧', :t, TRUE, :at)", {"t": ids["old_closed"], "at": _local(NOW - timedelta(days=150))})
    if db.backend == "postgresql":
        db.run("SELECT setval(pg_get_serial_sequence('tasks', 'id'), 100)")
    return ids


def _one(db, sql: str, **params):
    with db.engine.connect() as conn:
        return conn.execute(text(sql), params).one()


def test_db_upgrade_adopts_the_task_systems_tables_without_changing_them(seed):
    after = task_system_schema(seed.engine, ("users", "tasks", "notifications"))
    assert after == seed.before
    with seed.engine.connect() as conn:
        own = set(inspect(conn).get_table_names())
    assert {"task_state", "warning_ledger", "job_runs", "task_tables_origin"} <= own
    assert not schema.owns_task_tables(seed.engine)
    assert schema.current_revision(seed.engine) == schema.HEAD
    schema.upgrade(seed.engine, seed.settings)  # again: nothing to do, still nothing changed
    assert task_system_schema(seed.engine, ("users", "tasks", "notifications")) == seed.before


def test_all_four_jobs_run_over_the_seed_schema_in_its_words_and_wall_clock(seed):
    ids = _seed_rows(seed)
    settings = seed.settings

    warned = run_job("check_task_warnings", seed.engine, settings, NOW)
    assert (warned["notified"], warned["level_5"], warned["skipped_unknown_status"]) == (1, 1, 1), warned
    note = _one(seed, "SELECT type, title, content, user_id, task_id FROM notifications WHERE type = '任务预警'")
    assert note.task_id == ids["late"] and note.user_id == 2 and "剩余5%" in note.title
    assert run_job("check_task_warnings", seed.engine, settings, NOW + timedelta(minutes=30))["notified"] == 0

    progress = run_job("update_time_progress", seed.engine, settings, NOW)
    assert progress["updated"] == 2
    assert _one(seed, "SELECT time_progress FROM tasks WHERE id = :i", i=ids["halfway"])[0] == 50  # an integer
    assert _one(seed, "SELECT time_progress FROM tasks WHERE id = :i", i=ids["late"])[0] == 96

    reset = run_job("reset_periodic_tasks", seed.engine, settings, NOW)
    assert (reset["reset"], reset["notified"]) == (1, 1), reset
    row = _one(seed, "SELECT status, progress, expected_start_time, expected_end_time, actual_end_time "
                     "FROM tasks WHERE id = :i", i=ids["periodic"])
    assert (row.status, row.progress, row.actual_end_time) == ("新建", 0, None)
    # the new window is written in the task system's own wall clock, as naive Shanghai times
    assert _naive(row.expected_start_time) == _local(NOW)
    assert _naive(row.expected_end_time) == _local(NOW + timedelta(days=7))
    assert _one(seed, "SELECT count(*) FROM notifications WHERE type = '任务重置' AND task_id = :i",
                i=ids["periodic"])[0] == 1
    assert run_job("reset_periodic_tasks", seed.engine, settings, NOW + timedelta(hours=1))["reset"] == 0

    cleanup = run_job("cleanup_old_data", seed.engine, settings, NOW)
    assert (cleanup["deleted_tasks"], cleanup["deleted_task_notifications"], cleanup["skipped_referenced"]) == (1, 1, 0)
    assert _one(seed, "SELECT count(*) FROM tasks WHERE id = :i", i=ids["old_closed"])[0] == 0
    assert _one(seed, "SELECT status FROM tasks WHERE id = :i", i=ids["paused"])[0] == "暂停"  # not ours: untouched
    assert task_system_schema(seed.engine, ("users", "tasks", "notifications")) == seed.before


def _naive(value) -> datetime:
    """A naive column's value as the driver returns it (SQLite: text)."""
    return value if isinstance(value, datetime) else datetime.fromisoformat(value)


def test_renamed_tables_and_columns_run_every_job(fresh):  # noqa: F811
    adopt(fresh, RENAMED_DDL, RENAMED_SETTINGS, ("staff", "JobItems", "inbox"))
    settings, before = fresh.settings, fresh.before
    assert task_system_schema(fresh.engine, fresh.tables) == before
    fresh.run("INSERT INTO staff (uid, display_name, admin_flag) VALUES (1, 'root', 1), (2, 'ann', 0)")
    rows = [(1, "cron", "done", NOW - timedelta(days=8), None),  # periodic, finished: reset
            (2, "misc", "busy", NOW - timedelta(hours=9.6), NOW + timedelta(hours=0.4)),  # 96 %: level 5
            (3, "misc", "archived", NOW - timedelta(days=200), NOW - timedelta(days=150))]  # old, closed
    for pk, kind, state, start, end in rows:
        fresh.run('INSERT INTO "JobItems" (pk, headline, kind, "State", pct_done, pct_time, plan_from, plan_to, '
                  "finished, owner_id, made, touched) VALUES (:pk, 'x', :kind, :state, 10, 0, :start, :end, :fin, 2, "
                  ":made, :touched)",
                  dict(pk=pk, kind=kind, state=state, start=start, end=end or start + timedelta(days=1),
                       fin=start if state != "busy" else None, made=NOW - timedelta(days=300),
                       touched=NOW - timedelta(days=120) if pk == 3 else NOW - timedelta(days=1)))
    counts = {job: run_job(job, fresh.engine, settings, NOW) for job in
              ("check_task_warnings", "update_time_progress", "reset_periodic_tasks", "cleanup_old_data")}
    assert counts["check_task_warnings"]["notified"] == 1
    assert counts["update_time_progress"]["updated"] == 1
    assert counts["reset_periodic_tasks"]["reset"] == 1
    assert counts["cleanup_old_data"]["deleted_tasks"] == 1
    with fresh.engine.connect() as conn:
        states = dict(conn.execute(text('SELECT pk, "State" FROM "JobItems"')).all())
        kinds = sorted(conn.execute(text("SELECT kind FROM inbox")).scalars())
    assert states == {1: "open", 2: "busy"}
    assert kinds == ["任务重置", "任务预警"]
    t = tables_for(fresh.engine, settings)
    assert t.tasks.name == "JobItems" and t.tasks.c.status.name == "State"
    assert task_system_schema(fresh.engine, ("staff", "JobItems", "inbox")) == before


def test_db_upgrade_refuses_a_mapping_whose_tables_nobody_created(fresh, tmp_path):  # noqa: F811
    config = fresh.config(RENAMED_SETTINGS)
    proc = invoke(["db", "upgrade"], url=fresh.url, cwd=tmp_path, config=config)
    line = assert_one_clean_error(proc)
    assert "JobItems" in line and "default names" in line, line


def test_db_upgrade_refuses_a_database_with_only_some_of_the_tables(fresh, tmp_path):  # noqa: F811
    fresh.create(SEED_DDL[:1])  # users only
    proc = invoke(["db", "upgrade"], url=fresh.url, cwd=tmp_path, config=fresh.config(SEED_SETTINGS))
    line = assert_one_clean_error(proc)
    assert "tasks" in line and "missing" in line, line


def test_db_tune_prints_its_changes_then_makes_them_and_untune_takes_them_away(seed, tmp_path):
    ids = _seed_rows(seed)
    config = seed.tmp_path / "settings.yaml"
    shown = invoke(["db", "tune"], url=seed.url, cwd=tmp_path, config=config)
    assert shown.returncode == 0, shown.stderr
    assert "index tc_tasks_processing_window_" in shown.stdout and "cost:" in shown.stdout
    assert "trigger" not in shown.stdout.lower()
    assert task_system_schema(seed.engine, ("users", "tasks", "notifications")) == seed.before  # printed only
    applied = invoke(["db", "tune", "--apply"], url=seed.url, cwd=tmp_path, config=config)
    assert applied.returncode == 0, applied.stderr
    tuned = task_system_schema(seed.engine, ("users", "tasks", "notifications"))
    assert tuned["triggers"] == seed.before["triggers"]  # indexes (and fillfactor) only, never a trigger
    assert all(tuned[t]["columns"] == seed.before[t]["columns"] for t in ("users", "tasks", "notifications"))
    assert tuned["tasks"]["indexes"] != seed.before["tasks"]["indexes"]
    assert run_job("check_task_warnings", seed.engine, seed.settings, NOW)["notified"] == 1
    assert _one(seed, "SELECT level FROM warning_ledger WHERE task_id = :i", i=ids["late"])[0] == 5
    again = invoke(["db", "tune"], url=seed.url, cwd=tmp_path, config=config)
    assert "nothing to tune" in again.stdout
    removed = invoke(["db", "untune", "--apply"], url=seed.url, cwd=tmp_path, config=config)
    assert removed.returncode == 0, removed.stderr
    assert task_system_schema(seed.engine, ("users", "tasks", "notifications")) == seed.before


async def test_the_console_runs_over_the_seed_schema_and_counts_what_it_cannot_classify(seed):
    from console.service import Service
    from console.tui.app import create_app
    from console.tui.widgets import NearTable, StatusBar
    from tests.tui.conftest import settle

    ids = _seed_rows(seed)
    app = create_app(Service(seed.settings, seed.engine, clock=lambda: NOW), embed_scheduler=False)
    async with app.run_test(size=(160, 40)) as pilot:
        await settle(pilot)
        assert app.dashboard.database == "ok", app.dashboard.error
        status = app.query_one(StatusBar).render().plain
        assert "1 unclassified (status not in task_system.values)" in status, status
        near = [key.value for key in app.query_one(NearTable).rows]
        assert near[:2] == [str(ids["late"]), str(ids["halfway"])]  # read in Shanghai's wall clock
        levels = {s.level: s.in_level for s in app.dashboard.warnings.levels}
        assert levels == {20: 0, 10: 0, 5: 1}


def test_a_rule_set_where_the_task_system_has_no_column_is_kept_in_task_state_and_followed(seed):
    from console.service import Service

    ids = _seed_rows(seed)
    service = Service(seed.settings, seed.engine, clock=lambda: NOW)
    seed.run("UPDATE tasks SET actual_end_time = :done WHERE id = :i",
             {"done": _local(NOW - timedelta(days=2)), "i": ids["periodic"]})
    assert service.set_recurrence(ids["periodic"], "P1D")  # the seed has no recurrence column
    assert _one(seed, "SELECT recurrence FROM task_state WHERE task_id = :i", i=ids["periodic"])[0] == "P1D"
    assert service.rule_info(ids["periodic"]).text == "P1D"
    # finished two days ago under a daily rule: due, though the default period (7 days) is not up
    counts = run_job("reset_periodic_tasks", seed.engine, seed.settings, NOW)
    assert (counts["reset"], counts["rule_reset"], counts["planned"]) == (1, 1, 1), counts
    assert _one(seed, "SELECT status FROM tasks WHERE id = :i", i=ids["periodic"])[0] == "新建"
    assert task_system_schema(seed.engine, seed.tables) == seed.before


def test_demo_in_chinese_words_runs_once_the_settings_name_them(tmp_path):
    url = f"sqlite:///{tmp_path / 'zh.db'}"
    loaded = invoke(["demo", "--tasks", "2000", "--vocabulary", "zh"], url=url, cwd=tmp_path)
    assert loaded.returncode == 0, loaded.stderr
    section = loaded.stdout.split("confirms):\n", 1)[1]
    assert "处理中" in section and "定时周期任务" in section
    config = tmp_path / "zh.yaml"
    config.write_text(section, encoding="utf-8")
    assert invoke(["db", "check"], url=url, cwd=tmp_path, config=config).returncode == 0
    ran = invoke(["jobs", "run", "check_task_warnings", "--json"], url=url, cwd=tmp_path, config=config)
    assert ran.returncode == 0, ran.stderr
    counts = json.loads(ran.stdout)["counts"]
    assert counts["notified"] > 0 and counts["skipped_unknown_status"] == 0, counts
    # without the section every task's status is a word the default mapping does not name
    default = invoke(["jobs", "run", "check_task_warnings", "--json"], url=url, cwd=tmp_path)
    assert json.loads(default.stdout)["counts"]["skipped_unknown_status"] == 2000


def test_untuned_warning_panel_reads_each_tasks_own_cycle(seed):
    from console.service.dashboard import warning_stats

    ids = _seed_rows(seed)
    settings = seed.settings
    run_job("check_task_warnings", seed.engine, settings, NOW)  # "late" warned at 5 % in cycle 0
    t = tables_for(seed.engine, settings)
    seed.run("INSERT INTO task_state (task_id, last_reset_run_id) VALUES (:a, 7), (:b, 8), (:c, 9)",
             {"a": ids["late"], "b": ids["halfway"], "c": ids["periodic"]})
    stats = {s.level: (s.in_level, s.pending) for s in warning_stats(seed.engine, t, NOW, settings.warnings.levels).levels}
    assert stats == {20: (0, 0), 10: (0, 0), 5: (1, 1)}  # a new cycle (7): the 5 % warning is due again
    seed.run("UPDATE task_state SET last_reset_run_id = NULL WHERE task_id = :a", {"a": ids["late"]})
    stats = {s.level: (s.in_level, s.pending) for s in warning_stats(seed.engine, t, NOW, settings.warnings.levels).levels}
    assert stats == {20: (0, 0), 10: (0, 0), 5: (1, 0)}  # back in cycle 0, where it was sent


def test_without_tune_the_main_screen_reads_warning_counts_from_tasks_at_most_every_30_s(seed):
    from console.service import Service

    _seed_rows(seed)
    service = Service(seed.settings, seed.engine, clock=lambda: NOW)
    first, second = service.dashboard(), service.dashboard()
    assert first.warnings_every_s == 30 and second.warnings is first.warnings  # not read again
    assert [s.in_level for s in first.warnings.levels] == [0, 0, 1]
    if seed.backend == "postgresql":  # with db tune's index on the 80 % instant: read at every refresh
        tuning.apply(seed.engine, tables_for(seed.engine, seed.settings))
        third, fourth = service.dashboard(), service.dashboard()
        assert third.warnings_every_s is None and fourth.warnings is not third.warnings
        assert [s.in_level for s in fourth.warnings.levels] == [0, 0, 1]
