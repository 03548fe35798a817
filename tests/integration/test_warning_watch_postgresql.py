"""warning_watch on PostgreSQL: row locks between the warning check and the task system, and roles.

A task changed by the task system while a warning check marks it keeps its mark, and the check
never waits for the task system (which could deadlock): it skips rows a writer holds and marks
them once they are free.

The warning check writes a ledger row and marks the task's warning_watch row in one transaction;
the task system may rewrite the same row through the trigger on ``tasks`` meanwhile. Whichever
comes first, the mark must end up saying what the ledger says; the transactions really overlap
(the tests see the writer wait, or see the check commit while the writer holds a row).
"""

from __future__ import annotations

import threading
import time
from datetime import timedelta

import pytest
from sqlalchemy import insert, select, text, update

from console.db.models import Task, TaskState, WarningSent, WarningWatch
from console.jobs.watch import mark_warned
from tests.conftest import NOW, Rows

RUN_ID = 77


def _warn(conn, task_id: int, *, mark: bool = True) -> None:
    """What a warning check does for one task: a ledger row, then the mark."""
    t = conn.execute(select(Task.expected_start_time, Task.expected_end_time, TaskState.last_reset_run_id)
                     .select_from(Task.__table__.outerjoin(TaskState, TaskState.task_id == Task.id))
                     .where(Task.id == task_id)).one()
    conn.execute(insert(WarningSent).values(task_id=task_id, level=20, window_start=t.expected_start_time,
                                            window_end=t.expected_end_time, cycle=t.last_reset_run_id or 0,
                                            repeat_no=0, sent_at=NOW, run_id=RUN_ID))
    if mark:
        mark_warned(conn, RUN_ID)


def _change(conn, task_id: int) -> None:
    conn.execute(update(Task).where(Task.id == task_id).values(progress=Task.progress + 1))


def _move_deadline(conn, task_id: int) -> None:
    conn.execute(text("UPDATE tasks SET expected_end_time = expected_end_time + interval '1 minute' WHERE id = :id"),
                 {"id": task_id})


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


@pytest.mark.parametrize("change", ["progress", "handler", "deadline"])
def test_a_writer_waiting_on_a_check_that_marks_its_row_keeps_the_mark(pg, change):
    # progress alone updates the row in place; a new handler or deadline rebuilds it from the ledger
    # (by the task's cycle), which the writer's trigger reads only after the check has committed (it
    # waits for the row first).
    rows = Rows(pg)
    handler, other = rows.user(), rows.user()
    task_id = rows.processing(time_pct=85, progress=10.0, handler=handler)
    errors: list[BaseException] = []

    def writer() -> None:
        try:
            with pg.begin() as conn:
                if change == "progress":
                    _change(conn, task_id)
                elif change == "deadline":
                    _move_deadline(conn, task_id)
                else:
                    conn.execute(update(Task).where(Task.id == task_id).values(current_handler_id=other))
        except BaseException as exc:  # noqa: BLE001 - reported by the assertion below
            errors.append(exc)

    with pg.begin() as conn:
        _warn(conn, task_id)
        other_writer = threading.Thread(target=writer)
        other_writer.start()
        assert _waiting(pg, other_writer), "the writer should wait for the check's row lock"
    other_writer.join(10)
    assert not errors and not other_writer.is_alive()
    assert _mark(pg, task_id) == 20


def test_a_deadline_moved_between_a_checks_ledger_row_and_its_mark_keeps_the_mark(pg):
    # The writer commits first: its trigger read the ledger without the check's row. The check then
    # marks the row all the same, as it is still in the cycle warned of (its window is another).
    rows = Rows(pg)
    task_id = rows.processing(time_pct=85, progress=10.0, handler=rows.user())
    with pg.begin() as conn:
        _warn(conn, task_id, mark=False)
        with pg.begin() as writer:
            _move_deadline(writer, task_id)
        assert mark_warned(conn, RUN_ID) == 1
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


def test_a_warning_check_never_waits_for_a_writer_of_tasks_and_marks_its_rows_afterwards(pg, settings):
    # The deadlock this prevents: a writer updates task A then B in one transaction while the
    # check marks B then A. The check skips a row a writer holds, commits, and marks it once free.
    from tests.integration.helpers import run_job

    rows = Rows(pg)
    handler = rows.user()
    a, b = (rows.processing(time_pct=85, progress=10.0, handler=handler) for _ in range(2))
    errors: list[BaseException] = []

    def check() -> None:
        try:
            run_job("check_task_warnings", pg, settings, NOW)
        except BaseException as exc:  # noqa: BLE001 - reported by the assertion below
            errors.append(exc)

    def committed_warnings() -> int:
        with pg.connect() as conn:
            return conn.execute(text("SELECT count(*) FROM warning_ledger")).scalar_one()

    with pg.begin() as writer:
        _change(writer, a)  # the writer holds A's row
        job = threading.Thread(target=check)
        job.start()
        deadline = time.monotonic() + 10
        while committed_warnings() < 2 and time.monotonic() < deadline:
            time.sleep(0.05)
        assert committed_warnings() == 2, "the check should commit without waiting for the writer"
        _change(writer, b)  # B is free again: no deadlock
    job.join(15)
    assert not errors and not job.is_alive()
    assert (_mark(pg, a), _mark(pg, b)) == (20, 20)
