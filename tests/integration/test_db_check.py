"""``taskconsole db check``: the ``task_system`` mapping against live schemas, on SQLite and PostgreSQL.

Three mappings: the demo's (taskconsole's own schema, the ``db`` fixture), the design document's
seed schema (Chinese words, ``username``, integer progress, naive local timestamps) and one with
every table and column renamed, each on a fresh database that has none of taskconsole's tables.
"""

from __future__ import annotations

import json
from datetime import timedelta

import pytest
from sqlalchemy import inspect

from tests.conftest import NOW
from tests.integration.helpers import assert_one_clean_error, invoke
from tests.integration.task_schemas import RENAMED_DDL, RENAMED_SETTINGS, SEED_DDL, SEED_SETTINGS, fresh  # noqa: F401


def check(fresh, config, *args: str):
    return invoke(("db", "check", *args), url=fresh.url, cwd=fresh.tmp_path, config=config)


def as_json(proc) -> dict:
    return json.loads(proc.stdout)


def column(report: dict, table: str, name: str) -> dict:
    found = next(t for t in report["tables"] if t["table"] == table)
    return next(c for c in found["columns"] if c["column"] == name)


def unnamed(report: dict, which: str) -> dict:
    return {v["value"]: v["rows"] for v in report["unnamed_values"][which]["values"]}


# --- the demo's mapping: taskconsole's own schema ----------------------------------------------

def test_demo_schema_fits_the_default_mapping(db, cli, rows):
    handler = rows.user("ann")
    for status in ("new", "processing", "completed", "closed"):
        rows.task(status=status, current_handler_id=handler)
    rows.task(status="archived")
    rows.task(status="archived", category="periodic")
    rows.task(status="archived")
    rows.task(status="closed", category="periodic")
    proc = cli("db", "check")
    assert proc.returncode == 0, proc.stderr
    assert proc.stderr == ""
    assert "no problem found" in proc.stdout
    assert "'archived'  3 rows" in proc.stdout
    report = as_json(cli("db", "check", "--json"))
    assert set(report) == {"database", "ok", "dialect", "naive_timestamps", "wall_clock", "tables", "unnamed_values",
                           "notification_type", "problems"}  # the shape the README documents
    assert [t["table"] for t in report["tables"]] == ["tasks", "users", "notifications"]
    assert set(report["unnamed_values"]["status"]) == {"column", "values", "more"}
    assert report["ok"] is True and report["problems"] == []
    assert report["dialect"] == db.backend
    assert unnamed(report, "status") == {"archived": 3}
    assert unnamed(report, "category") == {"normal": 6}
    progress = column(report, "tasks", "progress")
    assert progress["found"] and progress["usable"] and progress["needs"] == "number"
    ends = column(report, "tasks", "expected_end_time")
    assert ends["usable"] and ends["nullable"] is True
    assert ends["note"] == ("with time zone" if db.is_pg else "without time zone: read as UTC wall-clock time")
    assert column(report, "notifications", "type")["length"] == 32
    assert report["notification_type"] == {"width": 32, "longest": 4}


def test_a_mapped_column_the_database_lacks_is_exit_2_naming_it(db, cli, tmp_path):
    config = tmp_path / "s.yaml"
    config.write_text("task_system:\n  columns:\n    tasks: {status: state, progress: pct}\n", encoding="utf-8")
    proc = cli("db", "check", config=config)
    line = assert_one_clean_error(proc)
    assert "tasks.status: column 'state' not found (task_system.columns.tasks.status)" in line
    assert "tasks.progress: column 'pct' not found (task_system.columns.tasks.progress)" in line
    assert "2 problems" in proc.stdout
    report = as_json(cli("db", "check", "--json", config=config))
    assert report["ok"] is False
    assert column(report, "tasks", "status") | {"found": False} == column(report, "tasks", "status")
    # Without a status column there are no status words to count.
    assert report["unnamed_values"]["status"] is None


def test_a_type_taskconsole_cannot_use_is_exit_2_naming_it(db, cli, tmp_path):
    config = tmp_path / "s.yaml"
    config.write_text("task_system:\n  columns:\n    tasks: {expected_start_time: recurrence, recurrence: null}\n"
                      "    users: {is_admin: name, name: null}\n", encoding="utf-8")
    line = assert_one_clean_error(cli("db", "check", config=config))
    assert "tasks.expected_start_time: column 'recurrence' is VARCHAR(500); taskconsole needs a timestamp" in line
    assert "users.is_admin: column 'name' is VARCHAR(200); taskconsole needs a boolean or an integer (0/1)" in line


def test_notification_types_too_long_for_the_column_are_named_as_at_start(db, cli, tmp_path):
    # The same check (and message) as every command's start, here against the mapped column.
    config = tmp_path / "s.yaml"
    long_type = "x" * 40
    config.write_text(f"notifications:\n  warning: {{type: {long_type}, title: t, content: c}}\n", encoding="utf-8")
    line = assert_one_clean_error(cli("db", "check", config=config))
    expected = "notifications.warning.type: 40 characters, longer than the 32 the database's notifications.type column holds"
    assert expected in line
    assert expected in assert_one_clean_error(cli("jobs", "list", config=config))


def test_a_notifications_column_taskconsole_would_leave_empty_is_named(db, cli, tmp_path):
    # notifications.created_at mapped to null: taskconsole would not write the live NOT NULL column.
    config = tmp_path / "s.yaml"
    config.write_text("task_system:\n  columns:\n    notifications: {created_at: null}\n", encoding="utf-8")
    line = assert_one_clean_error(cli("db", "check", config=config))
    assert "notifications: column 'created_at' is NOT NULL without a default" in line
    report = as_json(cli("db", "check", "--json", config=config))
    assert column(report, "notifications", "created_at") == {
        "column": "created_at", "name": None, "needs": "timestamp", "found": False, "type": None, "nullable": None,
        "length": None, "usable": True, "note": "mapped to null: not used"}


# --- the design document's seed schema ----------------------------------------------------------

def _fill_seed(fresh) -> None:
    fresh.create(SEED_DDL)
    fresh.run("INSERT INTO users (username, is_admin) VALUES ('张三', FALSE), ('管理员', TRUE)")
    start, end = NOW.replace(tzinfo=None) + timedelta(hours=8), NOW.replace(tzinfo=None) + timedelta(days=2)
    rows = [("新建", "定时周期任务")] * 2 + [("处理中", "普通任务")] * 3 + [("已完成", "定时周期任务"), ("已关闭", None)]
    rows += [("已暂停", "普通任务")] * 2 + [(None, "普通任务")]
    fresh.run("INSERT INTO tasks (title, status, category, progress, expected_start_time, expected_end_time, "
              "current_handler_id) VALUES (:t, :s, :c, 10, :a, :b, 1)",
              [{"t": f"任务{i}", "s": s, "c": c, "a": start, "b": end} for i, (s, c) in enumerate(rows)])


def test_seed_schema_fits_its_mapping(fresh):
    _fill_seed(fresh)
    config = fresh.config(SEED_SETTINGS)
    proc = check(fresh, config)
    assert proc.returncode == 0, proc.stderr
    assert "'已暂停'  2 rows" in proc.stdout and "(null)  1 row" in proc.stdout
    report = as_json(check(fresh, config, "--json"))
    assert report["ok"] is True, report["problems"]
    assert unnamed(report, "status") == {"已暂停": 2, None: 1}
    assert unnamed(report, "category") == {"普通任务": 6, None: 1}
    progress = column(report, "tasks", "progress")
    assert progress["type"] == "INTEGER" and progress["usable"]
    assert column(report, "tasks", "expected_end_time")["note"] == \
        "without time zone: read as Asia/Shanghai wall-clock time"
    assert report["wall_clock"] == "Asia/Shanghai" and report["naive_timestamps"] == "local"
    assert column(report, "users", "name")["name"] == "username"
    assert column(report, "tasks", "recurrence")["name"] is None
    assert report["notification_type"]["width"] == 50
    # It read the database and wrote nothing: no taskconsole table appeared.
    assert sorted(inspect(fresh.engine).get_table_names()) == ["notifications", "tasks", "users"]


def test_seed_schema_with_the_default_words_reports_every_chinese_status(fresh):
    _fill_seed(fresh)
    config = fresh.config("task_system:\n  columns:\n    tasks: {recurrence: null}\n    users: {name: username}\n")
    report = as_json(check(fresh, config, "--json"))
    assert report["ok"] is True  # the tables fit; the words are reported, not refused
    assert unnamed(report, "status") == {"新建": 2, "处理中": 3, "已完成": 1, "已关闭": 1, "已暂停": 2, None: 1}


def test_missing_tables_and_columns_are_all_named(fresh):
    _fill_seed(fresh)
    config = fresh.config(SEED_SETTINGS + "  tables: {users: people}\n  columns:\n    tasks: {recurrence: null, "
                          "progress: percent, updated_at: modified}\n")
    proc = check(fresh, config)
    line = assert_one_clean_error(proc)
    assert "3 problems" in line
    assert "users: table 'people' not found (task_system.tables.users)" in line
    assert "tasks.progress: column 'percent' not found" in line
    assert "tasks.updated_at: column 'modified' not found" in line
    assert "users: table 'people' NOT FOUND" in proc.stdout


def test_a_name_that_differs_only_in_case_fits_sqlite_and_gets_a_hint_on_postgresql(fresh):
    _fill_seed(fresh)
    config = fresh.config(SEED_SETTINGS + "  tables: {tasks: Tasks}\n  columns:\n    tasks: {recurrence: null}\n"
                          "    users: {name: UserName}\n")
    proc = check(fresh, config)
    if fresh.backend == "sqlite":  # SQLite matches names regardless of case: they fit
        assert proc.returncode == 0, proc.stderr
        return
    line = assert_one_clean_error(proc)
    assert "tasks: table 'Tasks' not found (task_system.tables.tasks); the database has 'tasks'" in line
    assert "users.name: column 'UserName' not found (task_system.columns.users.name); the database has 'username'" in line


def test_a_status_word_too_long_to_write_is_named(fresh):
    _fill_seed(fresh)
    config = fresh.config(SEED_SETTINGS.replace("new: 新建", "new: " + "新" * 21))
    line = assert_one_clean_error(check(fresh, config))
    assert "task_system.values.status.new: " in line and "longer than the 20" in line


def test_a_not_null_column_taskconsole_does_not_write_is_named(fresh):
    fresh.create(SEED_DDL[:2], SEED_DDL[2].replace("created_at TIMESTAMP", "priority INTEGER NOT NULL, created_at TIMESTAMP"))
    line = assert_one_clean_error(check(fresh, fresh.config(SEED_SETTINGS)))
    assert "notifications: column 'priority' is NOT NULL without a default" in line


def test_a_notification_key_the_database_does_not_generate_is_named(fresh):
    fresh.create(SEED_DDL[:2], SEED_DDL[2].replace("id {pk}", "id BIGINT PRIMARY KEY"))
    line = assert_one_clean_error(check(fresh, fresh.config(SEED_SETTINGS)))
    assert "notifications.id: the database does not generate column 'id'" in line


def test_many_unnamed_words_are_listed_up_to_fifty(fresh):
    _fill_seed(fresh)
    fresh.run("INSERT INTO tasks (title, status, category) VALUES ('t', '新建', :c)",
              [{"c": f"类{i:02d}"} for i in range(60)])
    report = as_json(check(fresh, fresh.config(SEED_SETTINGS), "--json"))
    category = report["unnamed_values"]["category"]
    assert len(category["values"]) == 50
    assert category["more"] == 62 - 50  # 60 new words, 普通任务 and NULL
    assert category["values"][0] == {"value": "普通任务", "rows": 6}


# --- every table and column renamed -------------------------------------------------------------

def test_renamed_tables_and_columns_fit_their_mapping(fresh):
    fresh.create(RENAMED_DDL)
    fresh.run("INSERT INTO staff (display_name, admin_flag) VALUES ('ops', 1)")
    words = ["open", "busy", "busy", "done", "shut", "archived", "archived", "lost"]
    kinds = ["cron", "weekly", "adhoc", "adhoc", "cron", "adhoc", "adhoc", "cron"]
    fresh.run('INSERT INTO "JobItems" (headline, "State", kind, pct_done) VALUES (:h, :s, :k, 12.5)',
              [{"h": f"job {i}", "s": s, "k": k} for i, (s, k) in enumerate(zip(words, kinds))])
    config = fresh.config(RENAMED_SETTINGS)
    proc = check(fresh, config)
    assert proc.returncode == 0, proc.stderr
    assert "tasks: table 'JobItems'" in proc.stdout
    report = as_json(check(fresh, config, "--json"))
    assert report["ok"] is True, report["problems"]
    assert unnamed(report, "status") == {"lost": 1}  # both closed words are read: 'archived' is named
    assert unnamed(report, "category") == {"adhoc": 4}
    assert column(report, "tasks", "status")["name"] == "State"
    assert column(report, "tasks", "progress")["type"] == "NUMERIC(5, 2)"
    assert column(report, "users", "is_admin")["type"] == "SMALLINT"
    assert column(report, "notifications", "is_read")["usable"] is True
    assert column(report, "notifications", "created_at")["note"] == (
        "with time zone" if fresh.backend == "postgresql" else "without time zone: read as UTC wall-clock time")
    assert report["notification_type"]["width"] == 16


def test_renamed_schema_under_the_default_mapping_names_every_table(fresh):
    fresh.create(RENAMED_DDL)
    line = assert_one_clean_error(check(fresh, fresh.config("timezone: UTC\n")))
    for table in ("tasks", "users", "notifications"):
        assert f"{table}: table '{table}' not found" in line


# --- where there is nothing to check ------------------------------------------------------------

def test_a_missing_sqlite_file_is_named_and_not_created(tmp_path):
    proc = invoke(("db", "check"), url=f"sqlite:///{tmp_path / 'nowhere.db'}", cwd=tmp_path)
    assert "nowhere.db does not exist" in assert_one_clean_error(proc)
    assert not (tmp_path / "nowhere.db").exists()


@pytest.mark.parametrize("args", [("db", "check"), ("db", "check", "--json")])
def test_an_unreachable_database_is_one_line_without_the_password(tmp_path, args):
    proc = invoke(args, url="postgresql://ops:s3cret-pw@127.0.0.1:1/none", cwd=tmp_path)
    line = assert_one_clean_error(proc)
    assert "cannot check the database" in line and "s3cret-pw" not in proc.stdout + proc.stderr
