"""Migration 0015 on a database an earlier release tuned: every warning-watch trigger and function
of taskconsole's goes (the exact names tune and migrations 0007-0009 gave, on any table of the
current schema), with their tune records and warning_watch; nothing of anybody else's is touched.
"""

from __future__ import annotations

import uuid

import pytest
from alembic import command
from sqlalchemy import inspect, text

from console.db import schema
from console.db.engine import make_engine
from console.db.task_tables import forget_live_tables
from console.settings import Settings
from tests.integration.task_schemas import fresh  # noqa: F401

DIGEST = "a1b2c3"
# The names an earlier tune (and 0007/0008) gave, as console.db.watch_triggers wrote them at 0c8bfc4.
PG_TRIGGERS = [(f"taskconsole_watch_{DIGEST}_{e}", "tasks") for e in ("insert", "delete", "truncate", "update")] + [
    (f"taskconsole_watch_{DIGEST}_state", "task_state"), ("tasks_warning_watch_update", "tasks")]
PG_FUNCTIONS = [f"taskconsole_watch_{DIGEST}_{k}" for k in ("inserted", "deleted", "truncated", "updated", "restamped")
                ] + ["warning_watch_updated"]
SQLITE_TRIGGERS = [(f"taskconsole_watch_{DIGEST}_{e}", "tasks") for e in ("insert", "delete", "update", "progress")] + [
    (f"taskconsole_watch_{DIGEST}_{e}", "task_state") for e in ("state_insert", "state_update")]
EVENT = {"insert": "INSERT", "delete": "DELETE", "truncate": "TRUNCATE", "update": "UPDATE", "progress": "UPDATE",
         "state": "UPDATE", "state_insert": "INSERT", "state_update": "UPDATE"}


def _to(engine, revision: str) -> None:
    cfg = schema._config()
    with engine.begin() as conn:
        cfg.attributes["connection"] = conn
        command.upgrade(cfg, revision)
    forget_live_tables()


def _legacy_pg(conn) -> None:
    """The triggers as an earlier tune left them: a body that reads OLD.progress, as theirs did."""
    body = "BEGIN IF OLD.progress IS DISTINCT FROM NEW.progress THEN DELETE FROM warning_watch WHERE false; " \
           "END IF; RETURN NULL; END"
    for name in PG_FUNCTIONS:
        conn.exec_driver_sql(f"CREATE FUNCTION {name}() RETURNS trigger LANGUAGE plpgsql AS $$ {body} $$")
    for name, table in PG_TRIGGERS:
        event = EVENT[name.rsplit("_", 1)[1]]
        each = "STATEMENT" if event == "TRUNCATE" else "ROW"
        fn = PG_FUNCTIONS[3] if table == "tasks" else PG_FUNCTIONS[4]
        conn.exec_driver_sql(f"CREATE TRIGGER {name} AFTER {event} ON {table} FOR EACH {each} EXECUTE FUNCTION {fn}()")
    for name, table in PG_TRIGGERS:
        conn.execute(text("INSERT INTO tune_objects (kind, name, table_name, definition, made_at) "
                          "VALUES ('trigger', :n, :t, '', CURRENT_TIMESTAMP)"), {"n": name, "t": table})
    for name in PG_FUNCTIONS:
        conn.execute(text("INSERT INTO tune_objects (kind, name, table_name, definition, made_at) "
                          "VALUES ('function', :n, NULL, '', CURRENT_TIMESTAMP)"), {"n": name})


def _legacy_sqlite(conn) -> None:
    for name, table in SQLITE_TRIGGERS:
        event = EVENT[name.split(f"{DIGEST}_", 1)[1]]
        conn.exec_driver_sql(f"CREATE TRIGGER {name} AFTER {event} ON {table} "
                             "BEGIN DELETE FROM warning_watch WHERE task_id = NEW.progress; END"
                             if table == "tasks" else
                             f"CREATE TRIGGER {name} AFTER {event} ON {table} "
                             "BEGIN DELETE FROM warning_watch WHERE task_id = NEW.task_id; END")
        conn.execute(text("INSERT INTO tune_objects (kind, name, table_name, definition, made_at) "
                          "VALUES ('trigger', :n, :t, '', CURRENT_TIMESTAMP)"), {"n": name, "t": table})


def _ours(conn) -> list[str]:
    if conn.dialect.name == "postgresql":
        return conn.execute(text(
            "SELECT tgname FROM pg_trigger WHERE NOT tgisinternal UNION ALL "
            "SELECT proname FROM pg_proc p WHERE pronamespace = current_schema()::regnamespace "
            "AND NOT EXISTS (SELECT 1 FROM pg_depend d WHERE d.objid = p.oid AND d.deptype = 'e')")).scalars().all()
    return conn.execute(text("SELECT name FROM sqlite_master WHERE type = 'trigger'")).scalars().all()


def test_an_installation_tuned_at_0014_upgrades_to_no_trigger_and_no_warning_watch(fresh):  # noqa: F811
    engine = fresh.engine
    _to(engine, "0014")
    with engine.begin() as conn:
        (_legacy_pg if fresh.backend == "postgresql" else _legacy_sqlite)(conn)
        assert len(_ours(conn)) >= 6
        conn.execute(text("INSERT INTO users (id, name, is_admin) VALUES (1, 'ann', FALSE)"))
        conn.execute(text("INSERT INTO tasks (id, title, status, progress, created_at, updated_at) "
                          "VALUES (1, 't', 'processing', 10, CURRENT_TIMESTAMP, CURRENT_TIMESTAMP)"))
        conn.execute(text("INSERT INTO warning_ledger (id, task_id, level, window_start, window_end, cycle, repeat_no, "
                          "sent_at, run_id) VALUES (7, 1, 20, CURRENT_TIMESTAMP, CURRENT_TIMESTAMP, 0, 0, "
                          "CURRENT_TIMESTAMP, 1)"))
    schema.upgrade(engine, Settings())
    with engine.connect() as conn:
        assert _ours(conn) == []
        # the ledger rows written so far, marked for the first warning check (console.jobs.ledger_windows)
        assert conn.execute(text("SELECT id, below_id FROM ledger_window_repair")).all() == [(1, 7)]
        assert conn.execute(text("SELECT DISTINCT kind FROM tune_objects")).scalars().all() == ["index"]
        assert "warning_watch" not in inspect(conn).get_table_names()
    # The task system renames a column the triggers read; its writes go on.
    fresh.run("ALTER TABLE tasks RENAME COLUMN progress TO pct")
    fresh.run("UPDATE tasks SET pct = 50 WHERE id = 1")
    fresh.run("INSERT INTO tasks (id, title, status, pct, created_at, updated_at) "
              "VALUES (2, 'u', 'new', 0, CURRENT_TIMESTAMP, CURRENT_TIMESTAMP)")


def test_a_downgrade_of_0015_gives_back_an_empty_warning_watch(fresh):  # noqa: F811
    engine = fresh.engine
    schema.upgrade(engine, Settings())
    cfg = schema._config()
    with engine.begin() as conn:
        cfg.attributes["connection"] = conn
        command.downgrade(cfg, "0014")
    with engine.connect() as conn:
        columns = {c["name"] for c in inspect(conn).get_columns("warning_watch")}
        assert conn.execute(text("SELECT count(*) FROM warning_watch")).scalar_one() == 0
    assert columns == {"task_id", "start_s", "end_s", "progress", "warned_level", "cycle"}
    schema.upgrade(engine, Settings())
    with engine.connect() as conn:
        assert "warning_watch" not in inspect(conn).get_table_names()


def test_0015_leaves_another_roles_hostile_named_trigger_and_function_alone(fresh):  # noqa: F811
    if fresh.backend != "postgresql":
        pytest.skip("roles are PostgreSQL's")
    engine = fresh.engine
    _to(engine, "0014")
    role = f"evil_{uuid.uuid4().hex[:8]}"
    hostile = f'taskconsole_watch_" ON e;ALTER ROLE {role} SUPERUSER--'
    fn = f'taskconsole_watch_abcdef_updated"(); ALTER ROLE {role} SUPERUSER; --'
    with engine.begin() as conn:
        conn.exec_driver_sql(f'CREATE ROLE "{role}" LOGIN')
        conn.exec_driver_sql(f'GRANT CREATE, USAGE ON SCHEMA public TO "{role}"')
    evil = make_engine(fresh.url.replace("root@", f"{role}@"))
    q = evil.dialect.identifier_preparer.quote
    with evil.begin() as conn:
        conn.exec_driver_sql("CREATE TABLE e (x int)")
        conn.exec_driver_sql(f"CREATE FUNCTION {q(fn)}() RETURNS trigger LANGUAGE plpgsql AS 'BEGIN RETURN NULL; END'")
        conn.exec_driver_sql(f"CREATE TRIGGER {q(hostile)} AFTER INSERT ON e FOR EACH ROW EXECUTE FUNCTION {q(fn)}()")
    evil.dispose()
    try:
        with engine.begin() as conn:
            _legacy_pg(conn)
        schema.upgrade(engine, Settings())
        with engine.connect() as conn:
            assert sorted(_ours(conn)) == sorted([hostile[:63], fn[:63]])  # PostgreSQL keeps 63 bytes of a name
            assert not conn.execute(text("SELECT rolsuper FROM pg_roles WHERE rolname = :r"), {"r": role}).scalar_one()
    finally:
        with engine.begin() as conn:
            conn.exec_driver_sql(f'DROP OWNED BY "{role}"')
            conn.exec_driver_sql(f'DROP ROLE "{role}"')
