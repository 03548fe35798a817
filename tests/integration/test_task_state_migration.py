"""Revision 0010 on an existing installation: taskconsole's per-task columns move from tasks into
task_state with nothing lost, the ledger keeps its rows, the head revision leaves no trigger on the
task tables, and a downgrade puts the 0009 layout back."""

from __future__ import annotations

from datetime import timedelta

from alembic import command
from sqlalchemy import inspect, text

from console.db import schema
from console.db.task_tables import forget_live_tables
from console.settings import Settings
from tests.conftest import NOW
from tests.integration.helpers import run_job
from tests.integration.task_schemas import fresh  # noqa: F401


def _to(engine, revision: str, down: bool = False) -> None:
    cfg = schema._config()
    with engine.begin() as conn:
        cfg.attributes["connection"] = conn
        (command.downgrade if down else command.upgrade)(cfg, revision)
    forget_live_tables()


def test_0009_installation_upgrades_without_losing_rules_plans_or_ledgers(fresh):  # noqa: F811
    engine = fresh.engine
    _to(engine, "0009")
    with engine.begin() as conn:
        conn.execute(text("INSERT INTO users (id, name, is_admin) VALUES (1, 'ann', FALSE)"))
        rows = [
            # a rule-driven task, planned, once reset by run 41
            dict(id=1, status="completed", category="periodic", rule="P1D", run=41, due=NOW + timedelta(hours=3),
                 planned=NOW - timedelta(hours=21), error=None),
            # a broken rule, recorded
            dict(id=2, status="completed", category="periodic", rule="nonsense", run=None, due=None,
                 planned=NOW - timedelta(days=1), error="neither an ISO-8601 duration nor an RRULE"),
            # a processing task of cycle 41, warned at 20 % in that cycle
            dict(id=3, status="processing", category="normal", rule=None, run=41, due=None, planned=None, error=None),
        ]
        for r in rows:
            conn.execute(text(
                "INSERT INTO tasks (id, title, category, status, progress, time_progress, expected_start_time, "
                "expected_end_time, actual_end_time, current_handler_id, created_at, updated_at, recurrence, "
                "last_reset_run_id, next_reset_at, reset_planned_from, recurrence_error) VALUES "
                "(:id, 't', :category, :status, 10, 0, :start, :end, :ended, 1, :now, :now, :rule, :run, :due, "
                ":planned, :error)"),
                dict(r, start=NOW - timedelta(hours=85), end=NOW + timedelta(hours=15), now=NOW,
                     ended=r["planned"]))
        conn.execute(text("INSERT INTO warning_ledger (task_id, level, window_start, window_end, cycle, repeat_no, "
                          "sent_at, run_id) VALUES (3, 20, :s, :e, 41, 0, :now, 50)"),
                     dict(s=NOW - timedelta(hours=85), e=NOW + timedelta(hours=15), now=NOW))

    schema.upgrade(engine, Settings())

    with engine.connect() as conn:
        state = {r.task_id: r for r in conn.execute(text("SELECT * FROM task_state ORDER BY task_id"))}
        columns = {c["name"] for c in inspect(conn).get_columns("tasks")}
        rules = dict(conn.execute(text("SELECT id, recurrence FROM tasks")).all())
        ledger = conn.execute(text("SELECT task_id, level, cycle FROM warning_ledger")).all()
        if fresh.backend == "postgresql":
            ours = conn.execute(text("SELECT tgname FROM pg_trigger WHERE NOT tgisinternal")).scalars().all()
        else:
            ours = conn.execute(text("SELECT name FROM sqlite_master WHERE type = 'trigger'")).scalars().all()
    assert set(state) == {1, 2, 3}
    assert (state[1].last_reset_run_id, state[3].last_reset_run_id, state[2].last_reset_run_id) == (41, 41, None)
    assert state[1].next_reset_at is not None and "ISO-8601" in state[2].recurrence_error
    assert rules == {1: "P1D", 2: "nonsense", 3: None}  # the rules stay in the task system's column
    assert not columns & {"last_reset_run_id", "next_reset_at", "reset_planned_from", "recurrence_error"}
    assert ledger == [(3, 20, 41)]
    assert ours == [] and "warning_watch" not in inspect(engine).get_table_names()  # 0015
    assert schema.owns_task_tables(engine)
    # the check sees the task's cycle: 20 % was sent in it, so nothing goes out again
    assert run_job("check_task_warnings", engine, Settings(), NOW)["notified"] == 0

    _to(engine, "0009", down=True)
    with engine.connect() as conn:
        back = dict(conn.execute(text("SELECT id, last_reset_run_id FROM tasks")).all())
        tables = set(inspect(conn).get_table_names())
        if fresh.backend == "postgresql":
            triggers = set(conn.execute(text("SELECT tgname FROM pg_trigger WHERE NOT tgisinternal")).scalars())
            events = ("insert", "delete", "update", "truncate")
        else:
            triggers = set(conn.execute(text("SELECT name FROM sqlite_master WHERE type = 'trigger'")).scalars())
            events = ("insert", "delete", "update", "progress")
    assert back == {1: 41, 2: None, 3: 41} and "task_state" not in tables
    assert triggers == {f"tasks_warning_watch_{e}" for e in events}
    schema.upgrade(engine, Settings())
    assert run_job("check_task_warnings", engine, Settings(), NOW)["notified"] == 0
