"""update_time_progress over id ranges on PostgreSQL: every row written, the ranges at once and
each in its own transaction, rows another writer moves meanwhile still written, and a failed
range leaves the others committed."""

import time
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from datetime import timedelta

import pytest
from sqlalchemy import event, select, text

from console.db.models import Task
from console.db.task_tables import TaskSystemSettings, build_tables
from console.domain.rules import time_progress
from console.jobs import progress
from console.settings import Settings
from tests.conftest import NOW
from tests.integration.helpers import run_job

TASKS = 3000
DEMO = build_tables(TaskSystemSettings())  # the demo schema's tables


def _load(engine) -> None:
    # Windows of 1 to 100 hours, 0 to 99 % through at NOW, so the values differ row by row.
    with engine.begin() as conn:
        conn.execute(text("""
            INSERT INTO tasks (title, category, status, progress, time_progress, expected_start_time,
                               expected_end_time, created_at, updated_at)
            SELECT 'task ' || g, 'normal', 'processing', 0, 0,
                   :now - (g % 100) / 100.0 * (1 + g % 100) * interval '1 hour',
                   :now + (1 - (g % 100) / 100.0) * (1 + g % 100) * interval '1 hour',
                   :now, :now
            FROM generate_series(1, :n) g"""), {"now": NOW, "n": TASKS})


def _expected(engine) -> dict[int, float]:
    with engine.connect() as conn:
        rows = conn.execute(select(Task.id, Task.expected_start_time, Task.expected_end_time)).all()
    return {r.id: round(time_progress(r.expected_start_time, r.expected_end_time, NOW), 2) for r in rows}


def _stored(engine) -> dict[int, float]:
    with engine.connect() as conn:
        return {r.id: float(r.time_progress) for r in conn.execute(select(Task.id, Task.time_progress))}


@contextmanager
def _held(engine, task_id: int):
    """A writer of tasks holding one task's row until the block ends."""
    writer = engine.connect()
    writer.begin()
    writer.execute(text("UPDATE tasks SET title = 'held' WHERE id = :id"), {"id": task_id})
    try:
        yield
    finally:
        writer.commit()
        writer.close()


def _start_job(engine, *, parallel: int):
    settings = Settings.model_validate({"time_progress": {"parallel": parallel}})
    return ThreadPoolExecutor(1).submit(run_job, "update_time_progress", engine, settings, NOW)


@pytest.fixture
def small_ranges(monkeypatch):
    monkeypatch.setattr(progress, "MIN_PAGES_PER_RANGE", 1)  # a few thousand rows make several ranges


def _ids_in(ranges, k: int, ids) -> set[int]:
    first, after = ranges[k]
    return {i for i in ids if (first is None or i >= first) and (after is None or i < after)}


def test_ranges_cut_the_ids_into_adjacent_pieces_the_ends_open(pg, small_ranges):
    _load(pg)
    with pg.connect() as conn:
        ranges = progress.id_ranges(conn, DEMO, 4)
        one = progress.id_ranges(conn, DEMO, 1)
    assert len(ranges) == 4 and one == [(None, None)]
    assert ranges[0][0] is None and ranges[-1][1] is None
    assert all(ranges[i][1] == ranges[i + 1][0] for i in range(3))
    sizes = [len(_ids_in(ranges, k, range(1, TASKS + 1))) for k in range(4)]
    assert sum(sizes) == TASKS and max(sizes) - min(sizes) <= 1  # equal spans of dense ids


def test_small_table_is_written_by_one_connection(pg):
    _load(pg)  # about a hundred pages: far below a range's worth
    with pg.connect() as conn:
        assert progress.id_ranges(conn, DEMO, 4) == [(None, None)]


def test_every_row_is_written_once_by_one_update_per_range(pg, small_ranges):
    _load(pg)
    updates: list[str] = []

    def record(conn, cursor, statement, *args):
        if statement.lstrip().upper().startswith("UPDATE TASKS"):
            updates.append(statement)

    event.listen(pg, "before_cursor_execute", record)
    try:
        counts = run_job("update_time_progress", pg, Settings.model_validate({"time_progress": {"parallel": 4}}),
                         NOW)
    finally:
        event.remove(pg, "before_cursor_execute", record)
    assert len(updates) == 4 and all("tasks.id" in u for u in updates)
    expected = _expected(pg)
    assert counts["updated"] == sum(1 for v in expected.values() if v != 0)  # rows already at 0 stay
    assert _stored(pg) == expected
    later = run_job("update_time_progress", pg, Settings(), NOW + timedelta(seconds=1))
    assert later["updated"] > 0 and run_job("update_time_progress", pg, Settings(),
                                            NOW + timedelta(seconds=1))["updated"] == 0


def test_ranges_run_at_once_and_commit_apart(pg, small_ranges):
    # A writer of tasks holds a row of the first range: the other ranges commit meanwhile.
    _load(pg)
    expected = _expected(pg)
    changing = [i for i in sorted(expected) if expected[i] != 0]
    with pg.connect() as conn:
        in_first = _ids_in(progress.id_ranges(conn, DEMO, 3), 0, expected)
    held = max(i for i in changing if i in in_first)
    last = changing[-1]
    with _held(pg, held):
        job = _start_job(pg, parallel=3)
        deadline = time.monotonic() + 20
        while _stored(pg)[last] != expected[last] and time.monotonic() < deadline:
            time.sleep(0.05)
        assert _stored(pg)[last] == expected[last]  # the last range committed ...
        assert not job.done() and _stored(pg)[held] == 0  # ... while the first still waits
    job.result(timeout=20)
    assert _stored(pg) == _expected(pg)


def test_a_failed_range_fails_the_run_and_leaves_the_other_ranges_written(pg, small_ranges):
    _load(pg)
    expected = _expected(pg)
    with pg.connect() as conn:
        in_middle = _ids_in(progress.id_ranges(conn, DEMO, 3), 1, expected)
    victim = max(i for i in in_middle if expected[i] != 0)  # a row the run writes
    with pg.begin() as conn:  # a real failure inside one range's UPDATE
        conn.execute(text("CREATE FUNCTION fail_one() RETURNS trigger LANGUAGE plpgsql AS "
                          "$$ BEGIN RAISE EXCEPTION 'injected'; END $$"))
        conn.execute(text(f"CREATE TRIGGER fail_one BEFORE UPDATE ON tasks FOR EACH ROW "
                          f"WHEN (NEW.id = {victim}) EXECUTE FUNCTION fail_one()"))
    try:
        with pytest.raises(Exception, match="injected"):
            run_job("update_time_progress", pg, Settings.model_validate({"time_progress": {"parallel": 3}}), NOW)
    finally:
        with pg.begin() as conn:
            conn.execute(text("DROP TRIGGER fail_one ON tasks"))
            conn.execute(text("DROP FUNCTION fail_one()"))
    stored = _stored(pg)
    assert all(stored[i] == 0 for i in in_middle)  # the failed range rolled back whole
    assert all(stored[i] == expected[i] for i in expected if i not in in_middle)
    assert len(in_middle) < TASKS // 2


def test_sqlite_ignores_parallel(sqlite_db):
    with sqlite_db.engine.connect() as conn:
        assert progress.id_ranges(conn, DEMO, 8) == [(None, None)]


def test_rows_another_writer_moves_meanwhile_are_still_written(pg, small_ranges):
    # While the first range waits for a held row, the task system rewrites a third of the first
    # range's rows so that they no longer fit their page: their new versions land on pages far
    # from the old ones. The run follows them to those versions and writes them, as one statement
    # would (ranges of pages skipped them: their new versions lay in a range already done).
    _load(pg)
    expected = _expected(pg)
    with pg.connect() as conn:
        first = sorted(_ids_in(progress.id_ranges(conn, DEMO, 2), 0, expected))
    held = next(i for i in first if expected[i] != 0)
    with _held(pg, held):
        job = _start_job(pg, parallel=2)
        time.sleep(1.0)  # both ranges started; the second is done, the first waits for `held`
        with pg.begin() as conn:
            moved = conn.execute(text(
                "UPDATE tasks SET title = repeat('y', 400) WHERE id > :held AND id < :after AND id % 3 = 0"),
                {"held": held, "after": first[-1] + 1}).rowcount
    job.result(timeout=20)
    assert moved > 300
    assert _stored(pg) == expected


def test_the_service_pool_has_room_for_every_range_beside_the_other_jobs(pg_server):
    # Each job thread and the console's panels keep their connections while the ranges run.
    from console.service import open_service

    settings = Settings.model_validate({"database": {"url": pg_server}, "time_progress": {"parallel": 4},
                                        "scheduler": {"executor_threads": 3}})
    service = open_service(settings)
    try:
        assert service.engine.pool.size() == 3 + 2 + 3
    finally:
        service.engine.dispose()
