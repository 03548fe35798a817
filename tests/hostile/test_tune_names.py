"""``db tune`` / ``db untune`` against hostile names and words (issue "A safe guest").

A role that may only create tables in ``public`` names its trigger, function and index so that a
name pasted into SQL would end the statement and make it superuser; the task system's status and
category words hold ``$$``, quotes and semicolons (written into the partial indexes' conditions). None of their text may ever run as SQL: names
reach SQL quoted by the dialect, words as literals the dialect renders. ``db untune`` removes what
tune recorded, whatever the mapping says now; a tune that fails takes back what it made; two tunes
at once never deadlock.
"""

from __future__ import annotations

import uuid
from datetime import timedelta

import pytest
from sqlalchemy import text

from console.db import schema, tuning
from console.db.engine import make_engine
from console.db.task_tables import forget_live_tables, tables_for
from console.db.tune_records import LOCK_KEY
from console.settings import load_settings
from tests.conftest import NOW
from tests.integration.helpers import assert_one_clean_error, invoke, run_job
from tests.integration.task_schemas import fresh  # noqa: F401

# Words a task system could use: each would end a dollar-quoted body, a literal or a statement.
WORDS = {"new": "新$$建", "processing": "处理$$中'; SELECT 1; --\"", "completed": "完'成100%", "closed": 'x"关;闭$$'}
PERIODIC = "周期$$';--"
DDL = (
    "CREATE TABLE users (id {pk}, name VARCHAR(50) NOT NULL, is_admin BOOLEAN DEFAULT FALSE)",
    "CREATE TABLE tasks (id {pk}, title VARCHAR(200) NOT NULL, category VARCHAR(50), status VARCHAR(50), "
    "progress INTEGER DEFAULT 0, time_progress INTEGER DEFAULT 0, expected_start_time TIMESTAMP, "
    "expected_end_time TIMESTAMP, actual_start_time TIMESTAMP, actual_end_time TIMESTAMP, "
    "current_handler_id INTEGER, created_at TIMESTAMP, updated_at TIMESTAMP)",
    "CREATE TABLE notifications (id {pk}, user_id INTEGER NOT NULL, type VARCHAR(50) NOT NULL, "
    "title VARCHAR(200) NOT NULL, content TEXT, task_id INTEGER, is_read BOOLEAN DEFAULT FALSE, created_at TIMESTAMP)",
)
# A hostile name: pasted between double quotes it ends the name and runs ALTER ROLE.
HOSTILE = 'taskconsole_watch_" ON e;ALTER ROLE {role} SUPERUSER--'


def _settings_text(words: dict[str, str], periodic: str) -> str:
    def q(word: str) -> str:  # a YAML single-quoted scalar
        return "'" + word.replace("'", "''") + "'"
    status = ", ".join(f"{k}: {q(v)}" for k, v in words.items())
    return (f"task_system:\n  columns:\n    tasks: {{recurrence: null}}\n"
            f"  values:\n    status: {{{status}}}\n    category: {{periodic: {q(periodic)}}}\n"
            f"  naive_timestamps: utc\n")


def _naive(at):
    return at.replace(tzinfo=None)


@pytest.fixture
def house(fresh):  # noqa: F811
    """The task system's tables in hostile words, adopted by ``db upgrade``; one task near its deadline."""
    fresh.create(DDL)
    config = fresh.config(_settings_text(WORDS, PERIODIC))
    fresh.settings = load_settings(config, env={"TASKCONSOLE_DATABASE_URL": fresh.url})
    fresh.config_path = config
    schema.upgrade(fresh.engine, fresh.settings)
    forget_live_tables()
    fresh.run("INSERT INTO users (id, name, is_admin) VALUES (1, 'admin', TRUE), (2, 'handler', FALSE)")
    fresh.run("INSERT INTO tasks (id, title, category, status, progress, expected_start_time, expected_end_time, "
              "current_handler_id, created_at, updated_at) VALUES (1, 'late', :cat, :st, 10, :s, :e, 2, :s, :s), "
              "(2, 'done', :cat, :done, 100, :s, :e, 2, :s, :s)",
              {"cat": PERIODIC, "st": WORDS["processing"], "done": WORDS["completed"],
               "s": _naive(NOW - timedelta(hours=9.6)), "e": _naive(NOW + timedelta(hours=0.4))})
    return fresh


def _ours_on_tasks(db) -> list[str]:
    """Every trigger and tc_ index on the task system's tables (taskconsole's, by their names)."""
    with db.engine.connect() as conn:
        if db.backend == "postgresql":
            return sorted(conn.execute(text(
                "SELECT tgname FROM pg_trigger WHERE tgrelid = 'tasks'::regclass AND NOT tgisinternal "
                "UNION ALL SELECT indexname FROM pg_indexes WHERE tablename IN ('tasks', 'users', 'notifications') "
                "AND indexname LIKE 'tc\\_%'")).scalars())
        return sorted(conn.execute(text("SELECT name FROM sqlite_master WHERE tbl_name IN ('tasks', 'users', "
                                        "'notifications') AND type IN ('trigger', 'index') AND name LIKE 'tc%' "
                                        "OR name LIKE 'taskconsole%'")).scalars())


def _recorded(db) -> int:
    with db.engine.connect() as conn:
        return conn.execute(text("SELECT count(*) FROM tune_objects")).scalar_one()


def test_words_holding_dollar_quotes_and_semicolons_survive_tune_and_stay_plain_words(house):
    made = invoke(["db", "tune", "--apply"], url=house.url, cwd=house.tmp_path, config=house.config_path)
    assert made.returncode == 0, made.stderr
    assert _ours_on_tasks(house), "tune made nothing"
    assert _recorded(house) >= len(_ours_on_tasks(house))
    # The task system's own writes meet the partial indexes' conditions, word literals and all.
    house.run("UPDATE tasks SET progress = 11 WHERE id = 1")
    from console.service.dashboard import warning_stats

    counted = warning_stats(house.engine, tables_for(house.engine, house.settings), NOW, house.settings.warnings.levels)
    assert [s.in_level for s in counted.levels] == [0, 0, 1]  # the words read as words
    assert run_job("check_task_warnings", house.engine, house.settings, NOW)["notified"] == 1
    assert run_job("update_time_progress", house.engine, house.settings, NOW)["updated"] == 1
    removed = invoke(["db", "untune", "--apply"], url=house.url, cwd=house.tmp_path, config=house.config_path)
    assert removed.returncode == 0, removed.stderr
    assert _ours_on_tasks(house) == [] and _recorded(house) == 0


def test_untune_after_the_mapping_words_changed_removes_everything_tune_made(house):
    assert invoke(["db", "tune", "--apply"], url=house.url, cwd=house.tmp_path,
                  config=house.config_path).returncode == 0
    before = _ours_on_tasks(house)
    assert before
    other = house.config(_settings_text({**WORDS, "processing": "进行中"}, "周期"), name="changed.yaml")
    shown = invoke(["db", "untune"], url=house.url, cwd=house.tmp_path, config=other)
    assert shown.returncode == 0 and "nothing to untune" not in shown.stdout, shown.stdout
    removed = invoke(["db", "untune", "--apply"], url=house.url, cwd=house.tmp_path, config=other)
    assert removed.returncode == 0, removed.stderr
    assert _ours_on_tasks(house) == []
    assert _recorded(house) == 0


@pytest.fixture
def evil_role(house):
    """A login role that may create tables in public, and nothing more; dropped afterwards."""
    if house.backend != "postgresql":
        pytest.skip("roles, pg_trigger and SECURITY DEFINER are PostgreSQL's")
    role = f"evil_{uuid.uuid4().hex[:8]}"
    with house.engine.begin() as conn:
        conn.exec_driver_sql(f'CREATE ROLE "{role}" LOGIN')
        conn.exec_driver_sql(f'GRANT CREATE, USAGE ON SCHEMA public TO "{role}"')
    yield role
    house.engine.dispose()
    admin = make_engine(house.url.rsplit("/", 1)[0] + "/postgres")
    with admin.connect() as conn:
        conn = conn.execution_options(isolation_level="AUTOCOMMIT")
        dbname = house.url.rsplit("/", 1)[1]
        conn.exec_driver_sql(f'DROP DATABASE IF EXISTS "{dbname}" WITH (FORCE)')
        conn.exec_driver_sql(f'DROP ROLE IF EXISTS "{role}"')
    admin.dispose()


def _plant(house, role: str) -> list[str]:
    """As the low-privilege role: a table, and a trigger, function and index with hostile names."""
    url = house.url.replace("root@", f"{role}@")
    engine = make_engine(url)
    name = HOSTILE.format(role=role)
    fn = f'taskconsole_watch_abcdef_updated"(); ALTER ROLE {role} SUPERUSER; --'
    index = f'tc_" ON e; ALTER ROLE {role} SUPERUSER; --_abcdef'
    q = engine.dialect.identifier_preparer.quote
    with engine.begin() as conn:
        conn.exec_driver_sql("CREATE TABLE e (x int)")
        conn.exec_driver_sql(f"CREATE FUNCTION {q(fn)}() RETURNS trigger LANGUAGE plpgsql AS 'BEGIN RETURN NULL; END'")
        conn.exec_driver_sql(f"CREATE TRIGGER {q(name)} AFTER INSERT ON e FOR EACH ROW EXECUTE FUNCTION {q(fn)}()")
        conn.exec_driver_sql(f"CREATE INDEX {q(index)} ON e (x)")
    engine.dispose()
    return [name, fn, index]


def _superuser(house, role: str) -> bool:
    with house.engine.connect() as conn:
        return conn.execute(text("SELECT rolsuper FROM pg_roles WHERE rolname = :r"), {"r": role}).scalar_one()


def _still_there(house, names: list[str]) -> list[bool]:
    trigger, fn, index = names
    with house.engine.connect() as conn:
        return [conn.execute(text(sql), {"n": n}).scalar_one() > 0 for sql, n in (
            ("SELECT count(*) FROM pg_trigger WHERE tgname = :n", trigger),
            ("SELECT count(*) FROM pg_proc WHERE proname = :n", fn),
            ("SELECT count(*) FROM pg_indexes WHERE indexname = :n", index))]


def test_a_low_privilege_roles_hostile_names_never_run_as_sql_in_tune_or_untune(house, evil_role):
    planted = _plant(house, evil_role)
    for args in (["db", "tune", "--apply"], ["db", "untune", "--apply"], ["db", "tune", "--apply"],
                 ["db", "untune", "--apply"]):
        done = invoke(args, url=house.url, cwd=house.tmp_path, config=house.config_path)
        assert done.returncode == 0, done.stderr
        assert not _superuser(house, evil_role), args
    # Not taskconsole's: found by no look-up of tune's, left where they are.
    assert _still_there(house, planted) == [True, True, True]


def test_a_downgrade_below_0010_touches_no_hostile_name(tmp_path, evil_role, house):
    """Migration 0010's downgrade drops what tune made on taskconsole's own task tables: by name
    shapes and quoted, never a name read from anyone else's table."""
    from tests.conftest import fresh_pg_database

    with fresh_pg_database("taskconsole_downgrade") as url:
        engine = make_engine(url)
        schema.upgrade(engine)  # taskconsole creates the task tables, and tunes them
        with engine.begin() as conn:
            conn.exec_driver_sql(f'GRANT CREATE, USAGE ON SCHEMA public TO "{evil_role}"')
        own = type(house)("postgresql", url, engine, tmp_path)
        planted = _plant(own, evil_role)
        from alembic import command

        cfg = schema._config()
        with engine.begin() as conn:
            cfg.attributes["connection"] = conn
            command.downgrade(cfg, "0009")
        assert not _superuser(own, evil_role)
        assert _still_there(own, planted) == [True, True, True]
        with engine.begin() as conn:
            conn.exec_driver_sql(f'DROP OWNED BY "{evil_role}"')
        engine.dispose()


def test_a_tune_that_fails_halfway_takes_back_what_it_made(house):
    if house.backend != "postgresql":
        pytest.skip("a relation standing in an index's name fails CREATE INDEX CONCURRENTLY's DROP on PostgreSQL")
    with house.engine.connect() as conn:
        planned = tuning.changes(conn, tables_for(house.engine, house.settings))
    indexes = [c for c in planned if c.name.startswith("index ")]
    blocker = indexes[len(indexes) // 2].name.split(" ", 1)[1]  # made after several others
    house.run(f'CREATE TABLE "{blocker}" (x int)')
    failed = invoke(["db", "tune", "--apply"], url=house.url, cwd=house.tmp_path, config=house.config_path)
    assert failed.returncode == 2, (failed.stdout, failed.stderr)
    assert "Traceback" not in failed.stderr
    assert _ours_on_tasks(house) == []
    assert _recorded(house) == 0
    house.run(f'DROP TABLE "{blocker}"')
    assert invoke(["db", "tune", "--apply"], url=house.url, cwd=house.tmp_path,
                  config=house.config_path).returncode == 0


def test_a_second_tune_while_one_runs_exits_2_saying_so(house):
    if house.backend != "postgresql":
        pytest.skip("SQLite's write lock serialises the two; the advisory lock is PostgreSQL's")
    with house.engine.connect() as holder:
        holder = holder.execution_options(isolation_level="AUTOCOMMIT")
        assert holder.execute(text("SELECT pg_try_advisory_lock(:k)"), {"k": LOCK_KEY}).scalar_one()
        for verb in ("tune", "untune"):
            second = invoke(["db", verb, "--apply"], url=house.url, cwd=house.tmp_path, config=house.config_path)
            line = assert_one_clean_error(second)
            assert "another `db tune` or `db untune` is running" in line and "pid" in line, line
        holder.execute(text("SELECT pg_advisory_unlock(:k)"), {"k": LOCK_KEY})
    assert _ours_on_tasks(house) == []
    assert invoke(["db", "tune", "--apply"], url=house.url, cwd=house.tmp_path,
                  config=house.config_path).returncode == 0
