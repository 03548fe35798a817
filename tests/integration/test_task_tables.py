"""``console.db.task_tables``: Core tables built from the mapping, the live types, and the words as predicates.

Run on taskconsole's own schema (``db``) and on fresh databases with the seed and renamed schemas,
on SQLite and PostgreSQL: statements written with taskconsole's names reach the real columns.
"""

from __future__ import annotations

from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest
from sqlalchemy import Boolean, Float, Integer, Numeric, SmallInteger, String, func, insert, select, text, update

from console.db.task_tables import (
    WallClockDateTime,
    build_tables,
    default_types,
    flag,
    has_column,
    is_periodic,
    is_set,
    known_status,
    live_tables,
    periodic_word,
    status_in,
    status_word,
    status_words,
)
from console.db.column_types import UTCDateTime
from console.settings import Settings, load_settings
from tests.conftest import NOW
from tests.integration.task_schemas import RENAMED_DDL, RENAMED_SETTINGS, SEED_DDL, SEED_SETTINGS, fresh  # noqa: F401


def settings_from(tmp_path: Path, body: str) -> Settings:
    path = tmp_path / "mapping.yaml"
    path.write_text(body, encoding="utf-8")
    return load_settings(path, env={})


def test_columns_carry_taskconsoles_names_as_keys_and_the_real_names(tmp_path):
    tables = build_tables(settings_from(tmp_path, RENAMED_SETTINGS).task_system)
    assert tables.tasks.name == "JobItems" and tables.users.name == "staff" and tables.notifications.name == "inbox"
    assert tables.tasks.c.status.name == "State" and tables.tasks.c.id.name == "pk"
    assert tables.notifications.c.is_read.name == "seen"
    assert [c.key for c in tables.users.c] == ["id", "name", "is_admin"]
    assert tables.tasks.c.id.primary_key and tables.notifications.c.id.primary_key
    # The real names are quoted where they need it.
    sql = str(select(tables.tasks.c.status).where(status_in(tables, "closed"))
              .compile(compile_kwargs={"literal_binds": True}))
    assert 'WHERE "JobItems"."State" = \'shut\' OR "JobItems"."State" = \'archived\'' in sql  # literal words


def test_default_types_are_taskconsoles_own():
    tables = build_tables(Settings().task_system)
    types = default_types()
    assert isinstance(tables.tasks.c.expected_end_time.type, UTCDateTime)
    assert isinstance(tables.tasks.c.progress.type, Float)
    assert isinstance(tables.users.c.is_admin.type, Boolean)
    assert tables.notifications.c.type.type.length == 32
    assert set(types) == {"tasks", "users", "notifications"} and len(types["tasks"]) == 14


def test_a_column_mapped_to_null_is_left_out(tmp_path):
    tables = build_tables(settings_from(tmp_path, SEED_SETTINGS).task_system)
    assert not has_column(tables, "tasks", "recurrence") and "recurrence" not in tables.tasks.c
    assert has_column(tables, "tasks", "status")
    assert tables.users.c.name.name == "username"


def test_words_all_read_the_first_written(tmp_path):
    tables = build_tables(settings_from(tmp_path, RENAMED_SETTINGS).task_system)
    assert status_words(tables, "closed") == ("shut", "archived")
    assert status_words(tables) == ("open", "busy", "done", "shut", "archived")
    assert status_word(tables, "closed") == "shut" and status_word(tables, "new") == "open"
    assert periodic_word(tables) == "cron"
    with pytest.raises(ValueError, match="unknown status 'archived'"):
        status_in(tables, "archived")
    with pytest.raises(ValueError):
        status_in(tables)


def test_demo_schema_through_the_default_mapping(db, rows):
    handler = rows.user("ann", admin=True)
    rows.task(status="completed", category="periodic", current_handler_id=handler)
    rows.task(status="closed", category="periodic")
    rows.task(status="closed")
    rows.task(status="archived")
    with db.engine.connect() as conn:
        t = live_tables(conn, Settings())
        count = lambda *where: conn.execute(select(func.count()).select_from(t.tasks).where(*where)).scalar_one()  # noqa: E731
        assert count(status_in(t, "completed", "closed"), is_periodic(t)) == 2
        assert count(known_status(t)) == 3
        assert count(~known_status(t)) == 1
        assert conn.execute(select(t.users.c.name).where(is_set(t.users.c.is_admin))).scalar_one() == "ann"
    expected = UTCDateTime if db.is_pg else WallClockDateTime
    assert isinstance(t.tasks.c.expected_end_time.type, expected)
    assert flag(t.notifications.c.is_read, False) is False


def test_renamed_schema_read_and_written_through_the_mapping(fresh):
    fresh.create(RENAMED_DDL)
    settings = settings_from(fresh.tmp_path, RENAMED_SETTINGS)
    with fresh.engine.begin() as conn:
        t = live_tables(conn, settings)
        assert isinstance(t.users.c.is_admin.type, SmallInteger) and isinstance(t.tasks.c.progress.type, Numeric)
        assert isinstance(t.tasks.c.id.type, Integer) and isinstance(t.notifications.c.type.type, String)
        admin = conn.execute(insert(t.users).values(name="ops", is_admin=flag(t.users.c.is_admin, True))
                             .returning(t.users.c.id)).scalar_one()
        conn.execute(insert(t.users).values(name="dev", is_admin=flag(t.users.c.is_admin, False)))
        for word, kind in (("shut", "weekly"), ("archived", "cron"), ("busy", "adhoc"), ("gone", "cron")):
            conn.execute(insert(t.tasks).values(title=word, status=word, category=kind, progress=50,
                                                current_handler_id=admin, expected_end_time=NOW))
        conn.execute(update(t.tasks).where(status_in(t, "closed"), is_periodic(t))
                     .values(status=status_word(t, "new"), progress=0))
        conn.execute(insert(t.notifications).values(user_id=admin, type="任务重置", title="t", content="c",
                                                    is_read=flag(t.notifications.c.is_read, False), created_at=NOW))
        assert conn.execute(select(t.users.c.name).where(is_set(t.users.c.is_admin))).scalars().all() == ["ops"]
        words = dict(conn.execute(select(t.tasks.c.title, t.tasks.c.status)).all())
        assert words == {"shut": "open", "archived": "open", "busy": "busy", "gone": "gone"}
        assert conn.execute(select(t.tasks.c.expected_end_time).limit(1)).scalar_one() == NOW
        stored = conn.execute(select(t.notifications.c.is_read, t.notifications.c.created_at)).one()
        assert stored == (0, NOW)


def test_naive_local_timestamps_are_the_settings_wall_clock(fresh):
    # The seed schema's task system writes datetime.now() in Asia/Shanghai: 16:00 there is 08:00 UTC.
    # Read as UTC, every window would be eight hours off.
    fresh.create(SEED_DDL)
    settings = settings_from(fresh.tmp_path, SEED_SETTINGS)
    fresh.run("INSERT INTO users (username) VALUES ('张三')")
    fresh.run("INSERT INTO tasks (title, status, expected_end_time) VALUES ('written by the task system', '处理中', :at)",
              {"at": datetime(2026, 11, 28, 16, 0)})
    with fresh.engine.begin() as conn:
        t = live_tables(conn, settings)
        assert isinstance(t.tasks.c.expected_end_time.type, WallClockDateTime)
        assert conn.execute(select(t.tasks.c.expected_end_time)).scalar_one() == NOW  # 08:00 UTC
        conn.execute(insert(t.tasks).values(title="written by taskconsole", status=status_word(t, "new"),
                                            expected_end_time=NOW + timedelta(days=7)))
        raw = conn.execute(text("SELECT expected_end_time FROM tasks WHERE title = 'written by taskconsole'")).scalar_one()
    if isinstance(raw, str):  # SQLite hands back the stored text
        raw = datetime.fromisoformat(raw)
    assert raw == datetime(2026, 12, 5, 16, 0)  # the same wall clock the task system writes


def test_naive_utc_timestamps_are_read_as_utc(fresh):
    fresh.create(SEED_DDL)
    settings = settings_from(fresh.tmp_path, SEED_SETTINGS.replace("naive_timestamps: local", "naive_timestamps: utc"))
    fresh.run("INSERT INTO users (username) VALUES ('张三')")
    fresh.run("INSERT INTO tasks (title, expected_end_time) VALUES ('t', :at)", {"at": datetime(2026, 11, 28, 8, 0)})
    with fresh.engine.connect() as conn:
        assert conn.execute(select(live_tables(conn, settings).tasks.c.expected_end_time)).scalar_one() == NOW


def test_a_wall_clock_column_refuses_a_naive_datetime():
    kind = WallClockDateTime("Asia/Shanghai")
    with pytest.raises(ValueError, match="naive datetime"):
        kind.process_bind_param(datetime(2026, 1, 1), None)
    assert kind.process_bind_param(datetime(2026, 1, 1, tzinfo=timezone.utc), None) == datetime(2026, 1, 1, 8, 0)
