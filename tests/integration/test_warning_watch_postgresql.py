"""warning_watch on PostgreSQL: row locks between the warning check and the task system, and roles.

A task changed by the task system while a warning check marks it keeps its mark.

The warning check writes a ledger row and marks the task's warning_watch row in one transaction;
the task system may rewrite the same row through the trigger on ``tasks`` meanwhile. Whichever
comes first, the mark must end up saying what the ledger says, in both orders, with both
transactions really overlapping (the second waits on the first's row lock; the test sees it wait).
"""

from __future__ import annotations

import threading
import time
from datetime import timedelta

import pytest
from sqlalchemy import insert, select, text, update

from console.db.models import Task, WarningSent, WarningWatch
from console.jobs.warnings import _mark_warned
from tests.conftest import NOW, Rows

RUN_ID = 77


def _warn(conn, task_id: int) -> None:
    """What a warning check does for one task: a ledger row, then the mark."""
    t = conn.execute(select(Task).where(Task.id == task_id)).one()
    conn.execute(insert(WarningSent).values(task_id=task_id, level=20, window_start=t.expected_start_time,
                                            window_end=t.expected_end_time, repeat_no=0, sent_at=NOW, run_id=RUN_ID))
    _mark_warned(conn, RUN_ID)


def _change(conn, task_id: int) -> None:
    conn.execute(update(Task).where(Task.id == task_id).values(progress=Task.progress + 1))


def _mark(engine, task_id: int):
    with engine.connect() as conn:
        return conn.execute(select(WarningWatch.warned_level).where(WarningWatch.task_id == task_id)).scalar_one()


def _waiting(engine, started: threading.Thread) -> bool:
    """True once some other session of ours waits on a lock (the second writer)."""
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline and started.is_alive():
        with engine.connect() as conn:
            if conn.execute(text("SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() "
                                 "AND wait_event_type = 'Lock'")).scalar_one():
                return True
        time.sleep(0.05)
    return False


@pytest.mark.parametrize("first", ["warning check", "task system"])
def test_the_mark_follows_the_ledger_whoever_writes_the_row_first(pg, first):
    rows = Rows(pg)
    task_id = rows.processing(time_pct=85, progress=10.0, handler=rows.user())
    first_step, second_step = (_warn, _change) if first == "warning check" else (_change, _warn)
    errors: list[BaseException] = []

    def second() -> None:
        try:
            with pg.begin() as conn:
                second_step(conn, task_id)
        except BaseException as exc:  # noqa: BLE001 - reported by the assertion below
            errors.append(exc)

    with pg.begin() as conn:
        first_step(conn, task_id)
        other = threading.Thread(target=second)
        other.start()
        assert _waiting(pg, other), "the second writer should wait for the first one's row lock"
    other.join(10)
    assert not errors and not other.is_alive()
    assert _mark(pg, task_id) == 20


def test_a_role_with_rights_on_tasks_only_still_writes_tasks(pg):
    # The triggers' functions run as their owner: the task system's role needs no right on warning_watch.
    import uuid

    role = f"tc_writer_{uuid.uuid4().hex[:8]}"
    rows = Rows(pg)
    handler = rows.user()
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
            assert conn.execute(text("SELECT progress FROM warning_watch WHERE task_id = :id"),
                                {"id": task_id}).scalar_one() == 20
            conn.execute(text(f"SET ROLE {role}"))
            conn.execute(text("DELETE FROM tasks WHERE id = :id"), {"id": task_id})
            conn.execute(text("RESET ROLE"))
            assert conn.execute(text("SELECT count(*) FROM warning_watch")).scalar_one() == 0
        finally:
            conn.execute(text("RESET ROLE"))
            conn.execute(text(f"DROP OWNED BY {role}"))
            conn.execute(text(f"DROP ROLE {role}"))
