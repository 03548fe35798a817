"""cleanup_old_data on a task system's keys: foreign keys to ``tasks`` that do not cascade.

A task system's ``notifications.task_id`` often references ``tasks(id)`` with no ON DELETE
action; other tables of its own may reference tasks too, and triggers may refuse a delete. Each
test gives the migrated database such keys (the fixtures put the schema back afterwards: the
PostgreSQL database is shared by the whole session), then runs the cleanup.
"""

from __future__ import annotations

import json
from datetime import datetime, timedelta, timezone

import pytest
from sqlalchemy import event, insert, select, text
from sqlalchemy.exc import IntegrityError

from console.db.models import Notification, Task, TaskState, WarningSent
from console.jobs.isolate import BUDGET
from console.settings import Settings
from tests.conftest import NOW
from tests.integration.helpers import count, run_job

OLD = NOW - timedelta(days=200)  # closed_task_age is 90 days
YOUNG = NOW - timedelta(days=10)


def _sqlite_without_on_delete(conn, table: str, clause: str) -> None:
    """Recreate the (empty) SQLite ``table`` with ``clause`` left out of its CREATE TABLE, indexes kept."""
    create, = conn.execute(text("SELECT sql FROM sqlite_master WHERE type = 'table' AND name = :t"), {"t": table}).one()
    assert clause in create, create
    indexes = conn.execute(text("SELECT sql FROM sqlite_master WHERE type = 'index' AND tbl_name = :t "
                                "AND sql IS NOT NULL"), {"t": table}).scalars().all()
    assert conn.execute(text(f"SELECT count(*) FROM {table}")).scalar_one() == 0
    conn.execute(text(f"DROP TABLE {table}"))
    conn.execute(text(create.replace(clause, "")))
    for index in indexes:
        conn.execute(text(index))


@pytest.fixture
def plain_key(db):
    """``plain_key(table)``: the key from ``table.task_id`` to ``tasks(id)`` loses its ON DELETE
    action, as a task system that never thought of deletes has it. Put back afterwards."""
    restore = []

    def make(table: str) -> None:
        with db.engine.begin() as conn:
            if not db.is_pg:
                _sqlite_without_on_delete(conn, table, {"notifications": " ON DELETE SET NULL",
                                                        "warning_ledger": " ON DELETE CASCADE"}[table])
                return
            name, definition = conn.execute(text(
                "SELECT conname, pg_get_constraintdef(oid) FROM pg_constraint "
                "WHERE conrelid = CAST(:t AS regclass) AND confrelid = CAST('tasks' AS regclass)"), {"t": table}).one()
            assert "ON DELETE" in definition, definition
            conn.execute(text(f"ALTER TABLE {table} DROP CONSTRAINT {name}, "
                              f"ADD CONSTRAINT {name} FOREIGN KEY (task_id) REFERENCES tasks (id)"))
            restore.append(f"ALTER TABLE {table} DROP CONSTRAINT {name}, ADD CONSTRAINT {name} {definition}")

    yield make
    with db.engine.begin() as conn:
        for statement in restore:
            conn.execute(text(statement))


@pytest.fixture
def their_schema(db, plain_key):
    """The task system's keys: notifications.task_id without ON DELETE, and a ``task_comments``
    table of its own referencing tasks with no cascade. Dropped afterwards."""
    plain_key("notifications")
    with db.engine.begin() as conn:
        conn.execute(text("CREATE TABLE task_comments (id INTEGER PRIMARY KEY, "
                          "task_id BIGINT NOT NULL REFERENCES tasks (id), body TEXT)"))
    yield
    with db.engine.begin() as conn:
        conn.execute(text("DROP TABLE IF EXISTS task_comments"))


@pytest.fixture
def refusing_trigger(db):
    """``refusing_trigger(task_id)``: a trigger of the task system's refuses to delete that task."""
    made = []

    def make(task_id: int) -> None:
        with db.engine.begin() as conn:
            if db.is_pg:
                conn.execute(text("CREATE FUNCTION keep_task() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN "
                                  "RAISE EXCEPTION 'task % is kept for the audit', OLD.id; END $$"))
                conn.execute(text(f"CREATE TRIGGER keep_task BEFORE DELETE ON tasks FOR EACH ROW "
                                  f"WHEN (OLD.id = {int(task_id)}) EXECUTE FUNCTION keep_task()"))
            else:
                conn.execute(text(f"CREATE TRIGGER keep_task BEFORE DELETE ON tasks WHEN OLD.id = {int(task_id)} "
                                  "BEGIN SELECT RAISE(ABORT, 'task is kept for the audit'); END"))
        made.append(task_id)

    yield make
    if made:
        with db.engine.begin() as conn:
            conn.execute(text("DROP TRIGGER keep_task" + (" ON tasks" if db.is_pg else "")))
            if db.is_pg:
                conn.execute(text("DROP FUNCTION keep_task()"))


def _closed(rows, handler: int, when: datetime, n: int = 1) -> list[int]:
    return [rows.task(status="closed", updated_at=when, current_handler_id=handler) for _ in range(n)]


def _notify(db, handler: int, task_ids, *, read: bool = False, per_task: int = 2, created=NOW) -> None:
    with db.engine.begin() as conn:
        for task_id in task_ids:
            for _ in range(per_task):
                conn.execute(insert(Notification).values(user_id=handler, type="t", title="t", content="c",
                                                         task_id=task_id, is_read=read, created_at=created))


def _task_ids(db) -> set[int]:
    with db.engine.connect() as conn:
        return set(conn.execute(select(Task.id)).scalars())


def _notes_per_task(db) -> dict:
    with db.engine.connect() as conn:
        found: dict = {}
        for task_id in conn.execute(select(Notification.task_id)).scalars():
            found[task_id] = found.get(task_id, 0) + 1
        return found


class Refusals:
    """Counts the statements the database refused on an engine (a retry would show here)."""

    def __init__(self, engine):
        self.engine, self.count = engine, 0
        event.listen(engine, "handle_error", self._seen)

    def _seen(self, context):
        self.count += 1

    def close(self):
        event.remove(self.engine, "handle_error", self._seen)


def test_old_closed_tasks_go_with_their_notifications_when_the_key_has_no_on_delete(db, rows, plain_key):
    plain_key("notifications")
    handler = rows.user()
    old = _closed(rows, handler, OLD, 5)
    young = _closed(rows, handler, YOUNG)[0]
    old_completed = rows.task(status="completed", updated_at=OLD, current_handler_id=handler)
    _notify(db, handler, old + [young, old_completed])
    _notify(db, handler, [old[0], young], read=True, per_task=1)  # read, but young: only their task decides
    with db.engine.begin() as conn:
        # taskconsole's own rows about old tasks: a ledger row and a task state.
        conn.execute(insert(WarningSent).values(task_id=old[1], level=20, window_start=OLD, window_end=OLD,
                                                repeat_no=0, sent_at=OLD, run_id=1))
        conn.execute(insert(TaskState).values(task_id=old[2], last_reset_run_id=1))
    with pytest.raises(IntegrityError):  # the key is as the task system has it: a plain delete fails
        with db.engine.begin() as conn:
            conn.execute(text("DELETE FROM tasks WHERE id = :t"), {"t": old[0]})

    counts = run_job("cleanup_old_data", db.engine, Settings.model_validate({"cleanup": {"batch_size": 2}}), NOW)

    assert (counts["deleted_tasks"], counts["deleted_task_notifications"], counts["skipped_referenced"]) == (5, 11, 0)
    assert counts["batches"] == 3
    assert _task_ids(db) == {young, old_completed}
    assert _notes_per_task(db) == {young: 3, old_completed: 2}
    assert count(db.engine, WarningSent) == 0 and count(db.engine, TaskState) == 0


def test_taskconsoles_own_rows_never_block_the_delete_and_go_with_it(db, rows):
    from sqlalchemy import inspect as sa_inspect

    with db.engine.connect() as conn:  # no key of taskconsole's points into the task system's tasks
        assert all(fk["referred_table"] != "tasks" for table in ("warning_ledger", "task_state")
                   for fk in sa_inspect(conn).get_foreign_keys(table))
    handler = rows.user()
    old = _closed(rows, handler, OLD, 2)
    with db.engine.begin() as conn:
        for task_id in old:
            conn.execute(insert(WarningSent).values(task_id=task_id, level=10, window_start=OLD, window_end=OLD,
                                                    repeat_no=0, sent_at=OLD, run_id=1))

    counts = run_job("cleanup_old_data", db.engine, Settings(), NOW)

    assert (counts["deleted_tasks"], counts["skipped_referenced"]) == (2, 0)
    assert _task_ids(db) == set() and count(db.engine, WarningSent) == 0


@pytest.mark.timeout(120)
def test_a_task_their_table_references_is_skipped_counted_and_tried_once_per_run(db, rows, their_schema):
    handler = rows.user()
    old = _closed(rows, handler, OLD, 7)
    young = _closed(rows, handler, YOUNG)[0]
    _notify(db, handler, old + [young])
    kept = old[0]  # in the first batch: every later batch would meet it again if the walk did not pass it
    with db.engine.begin() as conn:
        conn.execute(text("INSERT INTO task_comments (id, task_id, body) VALUES (1, :t, 'why it was closed')"),
                     {"t": kept})
    settings = Settings.model_validate({"cleanup": {"batch_size": 2}})
    refusals = Refusals(db.engine)
    try:
        counts = run_job("cleanup_old_data", db.engine, settings, NOW)
        first_run_refusals = refusals.count
        again = run_job("cleanup_old_data", db.engine, settings, NOW)
    finally:
        refusals.close()

    assert (counts["deleted_tasks"], counts["skipped_referenced"], counts["deleted_task_notifications"]) == (6, 1, 12)
    # Its batch failed whole, then its half alone: two refused statements, none in a later batch.
    assert first_run_refusals == 2
    assert _task_ids(db) == {kept, young}
    assert _notes_per_task(db) == {kept: 2, young: 2}  # its notifications stay with it
    # The next run tries it again, counts it again, and deletes nothing else.
    assert (again["deleted_tasks"], again["deleted_task_notifications"], again["skipped_referenced"]) == (0, 0, 1)
    assert _task_ids(db) == {kept, young}


def test_a_skipped_task_is_a_successful_run_on_the_command_line(db, rows, their_schema, cli, tmp_path):
    handler = rows.user()
    long_ago = datetime(2001, 1, 1, tzinfo=timezone.utc)  # old whatever the real clock says
    old = _closed(rows, handler, long_ago, 3)
    _notify(db, handler, old)
    with db.engine.begin() as conn:
        conn.execute(text("INSERT INTO task_comments (id, task_id, body) VALUES (1, :t, 'x')"), {"t": old[1]})
    config = tmp_path / "settings.yaml"
    config.write_text("cleanup:\n  batch_size: 2\n")

    proc = cli("jobs", "run", "cleanup_old_data", "--json", config=config)

    assert proc.returncode == 0, (proc.stdout, proc.stderr)
    result = json.loads(proc.stdout)
    assert result["status"] == "success" and result["error"] is None
    assert (result["counts"]["deleted_tasks"], result["counts"]["skipped_referenced"]) == (2, 1)
    assert f"id {old[1]}" in proc.stderr  # named in the warning, with the database's reason
    assert _task_ids(db) == {old[1]}


def test_a_delete_their_trigger_refuses_keeps_the_task_and_its_notifications(db, rows, plain_key, refusing_trigger):
    plain_key("notifications")
    handler = rows.user()
    old = _closed(rows, handler, OLD, 4)
    _notify(db, handler, old)
    refusing_trigger(old[2])

    counts = run_job("cleanup_old_data", db.engine, Settings.model_validate({"cleanup": {"batch_size": 4}}), NOW)

    assert (counts["deleted_tasks"], counts["deleted_task_notifications"], counts["skipped_referenced"]) == (3, 6, 1)
    assert _task_ids(db) == {old[2]}
    # Its notifications were deleted in the same savepoint as it, and came back with it.
    assert _notes_per_task(db) == {old[2]: 2}


@pytest.mark.timeout(120)
def test_when_every_old_task_is_referenced_the_run_ends_in_bounded_statements(db, rows, their_schema):
    handler = rows.user()
    n = 300
    with db.engine.begin() as conn:
        conn.execute(insert(Task), [dict(title="t", category="normal", status="closed", progress=100,
                                         time_progress=100, created_at=OLD, updated_at=OLD,
                                         current_handler_id=handler) for _ in range(n)])
        conn.execute(text("INSERT INTO task_comments (id, task_id, body) SELECT id, id, 'x' FROM tasks"))
    young = _closed(rows, handler, YOUNG)[0]
    batch = 7
    refusals = Refusals(db.engine)
    try:
        counts = run_job("cleanup_old_data", db.engine, Settings.model_validate({"cleanup": {"batch_size": batch}}),
                         NOW)
    finally:
        refusals.close()

    assert (counts["deleted_tasks"], counts["skipped_referenced"], counts["batches"]) == (0, n, -(-n // batch))
    # Bisecting stops at the split budget; after it a refused batch costs one statement.
    assert refusals.count <= 2 * BUDGET + -(-n // batch)
    assert len(_task_ids(db)) == n + 1 and young in _task_ids(db)


def test_a_read_notification_their_table_references_is_skipped_and_counted(db, rows):
    handler = rows.user()
    _notify(db, handler, [None], read=True, per_task=3, created=NOW - timedelta(days=400))
    with db.engine.connect() as conn:
        first = min(conn.execute(select(Notification.id)).scalars())
    with db.engine.begin() as conn:
        conn.execute(text("CREATE TABLE notification_receipts (id INTEGER PRIMARY KEY, "
                          "notification_id BIGINT NOT NULL REFERENCES notifications (id))"))
        conn.execute(text("INSERT INTO notification_receipts VALUES (1, :n)"), {"n": first})
    try:
        counts = run_job("cleanup_old_data", db.engine, Settings(), NOW)
        assert (counts["deleted_notifications"], counts["skipped_referenced"]) == (2, 1)
        with db.engine.connect() as conn:
            assert list(conn.execute(select(Notification.id)).scalars()) == [first]
    finally:
        with db.engine.begin() as conn:
            conn.execute(text("DROP TABLE notification_receipts"))
