"""`taskconsole run` on a PostgreSQL database that holds every bad row and rule at once.

The hostile cases of tests/hostile/ each try one bad row, rule or setting. Here they are all in
one database, beside healthy tasks, and the real headless scheduler runs the four jobs on it
every two seconds. Each job must succeed, or fail only for the rows it names: the reset job is
`failed` because the database refuses one row (a trigger of the task system's own), naming that
row, while every other due task is reset; the bad rules and windows are skipped and counted; the
other three jobs succeed. The process never hangs: SIGTERM still stops it with exit 0.
"""

from __future__ import annotations

import signal
from datetime import datetime, timedelta, timezone

import pytest

from console.settings import JOB_IDS
from tests.faults.conftest import FaultDb, wait_for
from tests.integration.helpers import cli_env, run_cli

# Rules a careless or hostile writer could store; each must be skipped and counted, never loop.
BAD_RULES = (
    "FREQ=DAILY;INTERVAL=0",
    "FREQ=DAILY;INTERVAL=-1",
    "FREQ=HOURLY;BYHOUR=25",
    "FREQ=YEARLY;BYMONTH=13",
    "FREQ=MONTHLY;BYMONTHDAY=32",
    "FREQ=DAILY;BYMONTH=2;BYMONTHDAY=30",
    "P99999Y",
    "FREQ=WEEKLY;BYDAY=XX",
)
# Windows a timestamp column can hold but a Python datetime cannot.
BAD_WINDOWS = (
    ("'-infinity'", "'infinity'"),
    ("'2026-01-01'", "'200000-01-01'"),
    ("'4000-01-01 BC'", "'2026-12-31'"),
)
REFUSED_TITLE = "refused by the task system"


def load(pg: FaultDb, now: datetime) -> dict[str, int]:
    """Users, healthy tasks and every kind of bad row; returns the ids the test checks."""
    pg.execute("INSERT INTO users (id, name, is_admin) VALUES (1, 'admin', true), (2, 'handler', false)")
    ended = now - timedelta(days=8)
    ids: dict[str, int] = {}

    def task(title: str, **cols) -> int:
        values = {"title": title, "category": "periodic", "status": "completed", "progress": 100,
                  "time_progress": 100, "expected_start_time": ended - timedelta(days=7),
                  "expected_end_time": ended, "actual_end_time": ended, "current_handler_id": 2,
                  "created_at": ended - timedelta(days=7), "updated_at": ended, **cols}
        names = ", ".join(values)
        marks = ", ".join(f":{k}" for k in values)
        with pg.engine.begin() as conn:
            from sqlalchemy import text
            return conn.execute(text(f"INSERT INTO tasks ({names}) VALUES ({marks}) RETURNING id"), values).scalar()

    ids["healthy_periodic"] = task("healthy periodic")
    ids["unassigned_periodic"] = task("unassigned periodic", current_handler_id=None)
    ids["refused"] = task(REFUSED_TITLE)
    for n, rule in enumerate(BAD_RULES):
        ids[f"bad_rule_{n}"] = task(f"bad rule {n}", recurrence=rule)
    window = dict(category="normal", status="processing", progress=0, actual_end_time=None)
    ids["warned"] = task("nearly out of time", **window, expected_start_time=now - timedelta(days=99),
                         expected_end_time=now + timedelta(days=1))
    ids["bad_progress"] = task("progress 150", **{**window, "progress": 150},
                               expected_start_time=now - timedelta(days=99), expected_end_time=now + timedelta(days=1))
    for n, (start, end) in enumerate(BAD_WINDOWS):
        tid = task(f"bad window {n}", **window, expected_start_time=None, expected_end_time=None)
        pg.execute(f"UPDATE tasks SET expected_start_time = {start}, expected_end_time = {end} WHERE id = :i", i=tid)
        ids[f"bad_window_{n}"] = tid
    # The task system's own rule: this task may not be reopened (a trigger refuses the write).
    pg.execute(f"""
        CREATE FUNCTION refuse_reopen() RETURNS trigger LANGUAGE plpgsql AS $$
        BEGIN
          IF NEW.id = {ids['refused']} AND NEW.status = 'new' THEN
            RAISE EXCEPTION 'task % may not be reopened', NEW.id;
          END IF;
          RETURN NEW;
        END $$;
        CREATE TRIGGER refuse_reopen BEFORE UPDATE ON tasks FOR EACH ROW EXECUTE FUNCTION refuse_reopen();
    """)
    return ids


def every_two_seconds() -> dict:
    return {"jobs": {job_id: {"trigger": {"every": 2}, "retries": 0} for job_id in JOB_IDS}}


def last_run(pg: FaultDb, job_id: str):
    rows = pg.rows("SELECT status, counts, error FROM job_runs WHERE job_id = :j AND status <> 'running' "
                   "AND status <> 'skipped' ORDER BY id DESC LIMIT 1", j=job_id)
    return rows[0] if rows else None


@pytest.mark.timeout(180)
def test_run_keeps_every_job_going_on_a_database_holding_every_bad_row_and_rule(pg, taskconsole, tmp_path):
    now = datetime.now(timezone.utc)
    ids = load(pg, now)
    proc = taskconsole("run", config=every_two_seconds())
    for job_id in JOB_IDS:
        wait_for(lambda: last_run(pg, job_id), timeout=60, proc=proc, what=f"a finished run of {job_id}")

    status, counts, error = last_run(pg, "reset_periodic_tasks")
    assert status == "failed", (status, counts, error)
    assert str(ids["refused"]) in error, error
    assert counts["refused"] == 1
    assert counts["skipped_invalid_rule"] == len(BAD_RULES)
    reset = dict(pg.rows("SELECT id, status FROM tasks WHERE id IN (:a, :b, :c)",
                         a=ids["healthy_periodic"], b=ids["unassigned_periodic"], c=ids["refused"]))
    assert reset == {ids["healthy_periodic"]: "new", ids["unassigned_periodic"]: "new", ids["refused"]: "completed"}
    # The handler of the healthy task is told once; nobody is told of the unassigned one.
    assert pg.scalar("SELECT count(*) FROM notifications WHERE type = '任务重置'") == 1
    assert pg.scalar("SELECT count(*) FROM notifications WHERE type = '任务重置' AND task_id = :t",
                     t=ids["healthy_periodic"]) == 1

    for job_id in ("check_task_warnings", "update_time_progress", "cleanup_old_data"):
        status, counts, error = last_run(pg, job_id)
        assert status == "success", (job_id, status, counts, error)
    status, counts, _ = last_run(pg, "check_task_warnings")
    assert pg.scalar("SELECT count(*) FROM warning_ledger WHERE task_id = :t", t=ids["warned"]) == 1
    # Progress outside 0..100 and windows with no finite end are never warned. (A window from
    # 4000 BC to next month is a window PostgreSQL can compute with: nearly all its time is gone.)
    for name in ("bad_progress", "bad_window_0", "bad_window_1"):
        assert pg.scalar("SELECT count(*) FROM warning_ledger WHERE task_id = :t", t=ids[name]) == 0, name
    assert counts["skipped_bad_progress"] == 1

    # The command line's read paths cope with the same rows while the scheduler runs.
    for args in (("tasks", "near", "--json"), ("preview", "reset_periodic_tasks", "--json"),
                 ("tasks", "next", str(ids["bad_rule_0"]), "--json"), ("status", "--json")):
        done = run_cli(args, env=cli_env(pg.url), cwd=tmp_path)  # in this process: it only answers
        assert "Traceback" not in done.stderr, (args, done.stderr)
        assert done.returncode in (0, 2), (args, done.returncode, done.stderr)

    proc.signal(signal.SIGTERM)
    assert proc.wait(timeout=30) == 0, proc.stderr[-3000:]
    assert pg.scalar("SELECT count(*) FROM job_runs WHERE status = 'running'") == 0
