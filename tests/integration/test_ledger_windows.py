"""The warning ledger's windows are the task's true instants (UTC), whatever ``naive_timestamps``
says (issue #27): on the seed schema (naive Asia/Shanghai wall clock) a task starting 11:59 there is
03:59Z in the ledger. Rows an earlier release wrote eight hours off are repaired once, by the first
warning check after migration 0015, where the task still has the window they were written from."""

from __future__ import annotations

from datetime import timedelta, timezone

from sqlalchemy import select, text

from console.db.models import WarningSent
from tests.conftest import NOW
from tests.integration.helpers import run_job
from tests.integration.task_schemas import fresh  # noqa: F401
from tests.integration.test_adopted_database import _local, _seed_rows, seed  # noqa: F401


def _windows(db) -> dict[int, tuple]:
    with db.engine.connect() as conn:
        return {r.task_id: (r.window_start, r.window_end)
                for r in conn.execute(select(WarningSent.task_id, WarningSent.window_start, WarningSent.window_end))}


def test_the_ledger_holds_the_true_instants_of_a_naive_local_window(seed):  # noqa: F811
    ids = _seed_rows(seed)
    assert run_job("check_task_warnings", seed.engine, seed.settings, NOW)["notified"] == 1
    start, end = _windows(seed)[ids["late"]]
    assert (start, end) == (NOW - timedelta(hours=9.6), NOW + timedelta(hours=0.4))  # not 8 hours off
    with seed.engine.connect() as conn:  # as stored: UTC (PostgreSQL's timestamptz; SQLite's UTC text)
        stored = conn.execute(text("SELECT window_start FROM warning_ledger")).scalar_one()
    assert str(stored).startswith((NOW - timedelta(hours=9.6)).strftime("%Y-%m-%d %H:%M"))


def test_rows_written_in_the_wrong_clock_are_repaired_once_where_the_task_kept_its_window(seed):  # noqa: F811
    ids = _seed_rows(seed)
    late_start, late_end = NOW - timedelta(hours=9.6), NOW + timedelta(hours=0.4)
    with seed.engine.begin() as conn:
        # As the warning check wrote them before 0015: the task's naive window copied as it is (read
        # as UTC by the ledger's timestamptz in a UTC session; SQLite's very text).
        conn.execute(text("INSERT INTO warning_ledger (task_id, level, window_start, window_end, cycle, repeat_no, "
                          "sent_at, run_id) SELECT id, CASE WHEN id = :late THEN 10 ELSE 20 END, expected_start_time, "
                          "expected_end_time, 0, 0, :sent, 1 FROM tasks WHERE id IN (:late, :moved)"),
                     {"late": ids["late"], "moved": ids["halfway"], "sent": _local(NOW - timedelta(hours=2))})
        conn.execute(text("UPDATE tasks SET expected_start_time = :s WHERE id = :moved"),
                     {"s": _local(NOW - timedelta(hours=6)), "moved": ids["halfway"]})  # its window moved since
        conn.execute(text("INSERT INTO ledger_window_repair (id, below_id) "
                          "SELECT 1, max(id) FROM warning_ledger"))  # as migration 0015 marks them
    before = _windows(seed)
    run_job("check_task_warnings", seed.engine, seed.settings, NOW)
    after = _windows(seed)
    with seed.engine.connect() as conn:
        rows = {(r.task_id, r.level): (r.window_start, r.window_end)
                for r in conn.execute(select(WarningSent.task_id, WarningSent.level, WarningSent.window_start,
                                             WarningSent.window_end))}
        marks = conn.execute(text("SELECT count(*) FROM ledger_window_repair")).scalar_one()
    assert before[ids["late"]][0] == late_start + timedelta(hours=8)  # 8 hours off, as written then
    assert rows[(ids["late"], 10)] == (late_start, late_end)  # the same window: its true instants now
    assert rows[(ids["halfway"], 20)] == before[ids["halfway"]]  # its window moved since: kept as written
    assert rows[(ids["late"], 5)] == (late_start, late_end)  # this run's own row, written right
    assert marks == 0
    run_job("check_task_warnings", seed.engine, seed.settings, NOW + timedelta(minutes=1))  # nothing again
    assert _windows(seed) == after
