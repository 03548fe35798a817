"""The real ``taskconsole`` command, run as a subprocess against SQLite and PostgreSQL.

Each case goes through ``python -m console`` with ``TASKCONSOLE_DATABASE_URL`` pointing at the
test database and, when a case needs one, ``TASKCONSOLE_CONFIG`` at a settings file in tmp_path.
The working directory is tmp_path, so the repository's ./settings.yaml is never picked up.
Tasks are made around the real clock, since the command reads the time itself.
"""

from __future__ import annotations

import getpass
import json
import os
import signal
import socket
import subprocess
import sys
import time
from datetime import datetime, timedelta, timezone

import pytest
from sqlalchemy import func, select, text, update

from console.db.models import AuditEntry, JobRun, Notification, Task, WarningSent
from console.settings import JOB_IDS
from tests.conftest import NOW, Rows, fresh_pg_database
from tests.integration.helpers import assert_one_clean_error, invoke

SHANGHAI = timedelta(hours=8)


@pytest.fixture
def live_rows(db) -> Rows:
    """Row factories around the real clock (the subprocess uses it)."""
    return Rows(db.engine, now=datetime.now(timezone.utc))


def ok_json(proc):
    assert proc.returncode == 0, proc.stderr
    return json.loads(proc.stdout)


def assert_iso_with_offset(value: str) -> datetime:
    parsed = datetime.fromisoformat(value)
    assert parsed.utcoffset() == SHANGHAI, value
    return parsed


def count(engine, model) -> int:
    with engine.connect() as conn:
        return conn.execute(select(func.count()).select_from(model)).scalar_one()


def test_jobs_list_json_pause_and_resume_are_shown_and_audited(cli, db):
    jobs = ok_json(cli("jobs", "list", "--json"))
    assert [j["id"] for j in jobs] == list(JOB_IDS)
    now = datetime.now(timezone.utc)
    for job in jobs:
        assert {"id", "name", "trigger", "next_run_time", "paused"} <= set(job)
        assert job["paused"] is False and job["name"] and job["trigger"]
        assert assert_iso_with_offset(job["next_run_time"]) > now

    assert cli("jobs", "pause", "check_task_warnings").returncode == 0
    listed = {j["id"]: j for j in ok_json(cli("jobs", "list", "--json"))}
    assert listed["check_task_warnings"]["paused"] is True
    assert listed["check_task_warnings"]["next_run_time"] is None
    assert all(not j["paused"] for i, j in listed.items() if i != "check_task_warnings")

    assert cli("jobs", "resume", "check_task_warnings").returncode == 0
    resumed = {j["id"]: j for j in ok_json(cli("jobs", "list", "--json"))}["check_task_warnings"]
    assert resumed["paused"] is False
    next_run = assert_iso_with_offset(resumed["next_run_time"])
    assert now < next_run <= now + timedelta(hours=1, minutes=1)

    with db.engine.connect() as conn:
        audit = conn.execute(select(AuditEntry.action, AuditEntry.job_id, AuditEntry.actor, AuditEntry.outcome)
                             .order_by(AuditEntry.id)).all()
    user = getpass.getuser()
    assert [tuple(r) for r in audit] == [("pause", "check_task_warnings", user, "done"),
                                         ("resume", "check_task_warnings", user, "done")]


def test_jobs_run_json_is_recorded_in_history_as_manual(cli, db, live_rows):
    handler = live_rows.user()
    live_rows.processing(time_pct=50, progress=10, handler=handler)
    result = ok_json(cli("jobs", "run", "update_time_progress", "--json"))
    assert result["job_id"] == "update_time_progress"
    assert result["status"] == "success"
    assert isinstance(result["duration_s"], (int, float)) and result["duration_s"] >= 0
    assert isinstance(result["counts"], dict) and result["counts"]["updated"] == 1

    history = ok_json(cli("jobs", "history", "--json"))
    assert len(history) == 1
    run = history[0]
    assert {"job_id", "trigger_kind", "status", "started_at", "finished_at", "duration_s", "counts", "error",
            "actor", "host"} <= set(run)
    assert run["job_id"] == "update_time_progress"
    assert (run["trigger_kind"], run["status"], run["error"]) == ("manual", "success", None)
    assert run["actor"] == getpass.getuser()
    assert run["host"] == socket.gethostname()
    assert run["counts"] == result["counts"]
    assert isinstance(run["duration_s"], (int, float))
    started, finished = assert_iso_with_offset(run["started_at"]), assert_iso_with_offset(run["finished_at"])
    assert started <= finished
    assert ok_json(cli("jobs", "history", "update_time_progress", "--json")) == history
    assert ok_json(cli("jobs", "history", "cleanup_old_data", "--json")) == []


def test_jobs_run_of_a_failing_job_exits_1_and_records_the_error(cli, db):
    # cleanup_old_data deletes an old closed task's warning-ledger rows with it; without that table
    # (taskconsole's own: a missing task-system table is refused before any job starts) it fails for real.
    Rows(db.engine).task(status="closed", updated_at=NOW - timedelta(days=200))
    with db.engine.begin() as conn:
        conn.execute(text("ALTER TABLE warning_ledger RENAME TO warning_ledger_away"))
    try:
        proc = cli("jobs", "run", "cleanup_old_data", "--json")
        assert proc.returncode == 1, proc.stderr
        result = json.loads(proc.stdout)
        assert result["status"] == "failed"
        assert result["error"] and "warning_ledger" in result["error"]
        assert "Traceback" not in proc.stderr
        history = ok_json(cli("jobs", "history", "--json"))
    finally:
        with db.engine.begin() as conn:
            conn.execute(text("ALTER TABLE warning_ledger_away RENAME TO warning_ledger"))
    assert [(r["job_id"], r["trigger_kind"], r["status"]) for r in history] == [
        ("cleanup_old_data", "manual", "failed")]
    assert history[0]["error"] == result["error"]


def test_a_task_table_the_mapping_names_but_the_database_lacks_stops_every_command_at_start(cli, db):
    with db.engine.begin() as conn:
        conn.execute(text("ALTER TABLE notifications RENAME TO notifications_away"))
    try:
        for args in (("jobs", "run", "cleanup_old_data"), ("jobs", "list"), ("tasks", "near")):
            line = assert_one_clean_error(cli(*args))
            assert "task_system mapping does not fit" in line and "'notifications' not found" in line, line
    finally:
        with db.engine.begin() as conn:
            conn.execute(text("ALTER TABLE notifications_away RENAME TO notifications"))
    with db.engine.connect() as conn:
        assert conn.execute(select(func.count()).select_from(JobRun)).scalar_one() == 0  # nothing started


def test_preview_check_task_warnings_counts_level_5_and_writes_nothing(cli, db, live_rows):
    handler = live_rows.user()
    live_rows.processing(time_pct=95, progress=60, handler=handler)
    preview = ok_json(cli("preview", "check_task_warnings", "--json"))
    assert preview["job_id"] == "check_task_warnings"
    counts = preview["counts"]
    assert (counts["level_5"], counts["level_10"], counts["level_20"]) == (1, 0, 0)
    assert count(db.engine, Notification) == 0
    assert count(db.engine, WarningSent) == 0
    assert count(db.engine, JobRun) == 0


def test_tasks_near_ranks_level_5_before_level_20_before_no_level(cli, db, live_rows):
    handler = live_rows.user()
    level_20 = live_rows.processing(time_pct=85, progress=10, handler=handler, title="twenty")
    no_level = live_rows.processing(time_pct=50, progress=10, handler=handler, title="none yet")
    level_5 = live_rows.processing(time_pct=97, progress=10, handler=handler, title="five")
    near = ok_json(cli("tasks", "near", "--json"))
    assert [(t["task_id"], t["level"]) for t in near] == [(level_5, 5), (level_20, 20), (no_level, None)]
    assert near[2]["next_level"] == 20
    assert_iso_with_offset(near[2]["next_threshold_at"])


@pytest.mark.parametrize("argv", [("jobs", "run", "nope"), ("preview", "nope"), ("jobs", "pause", "nope"),
                                  ("jobs", "resume", "nope"), ("jobs", "history", "nope")])
def test_unknown_job_id_exits_2_with_one_line_naming_it(cli, argv):
    line = assert_one_clean_error(cli(*argv))
    assert "'nope'" in line


@pytest.mark.parametrize("body, key", [
    ("timezone: Mars/Olympus\n", "timezone"),
    ('jobs:\n  check_task_warnings:\n    trigger: {cron: "61 * * * *"}\n', "jobs.check_task_warnings.trigger"),
])
def test_bad_settings_file_exits_2_naming_the_key(cli, tmp_path, body, key):
    config = tmp_path / "bad.yaml"
    config.write_text(body, encoding="utf-8")
    line = assert_one_clean_error(cli("jobs", "list", config=config))
    assert key in line


def test_unknown_option_exits_2(cli):
    proc = cli("jobs", "list", "--bogus")
    assert assert_one_clean_error(proc)
    assert "--bogus" in proc.stderr


@pytest.fixture(params=["sqlite", "postgresql"])
def empty_db_url(request, tmp_path):
    """A database with nothing in it: a fresh SQLite file, or a new PostgreSQL database."""
    if request.param == "sqlite":
        path = tmp_path / "empty.db"
        path.touch()
        yield f"sqlite:///{path}"
        return
    with fresh_pg_database("taskconsole_empty") as url:
        yield url


def test_database_without_schema_exits_2_then_db_upgrade_twice_fixes_it(empty_db_url, tmp_path):
    line = assert_one_clean_error(invoke(["jobs", "list"], url=empty_db_url, cwd=tmp_path))
    assert "taskconsole db upgrade" in line
    first = invoke(["db", "upgrade"], url=empty_db_url, cwd=tmp_path)
    assert first.returncode == 0, first.stderr
    assert "upgraded" in first.stdout
    second = invoke(["db", "upgrade"], url=empty_db_url, cwd=tmp_path)
    assert second.returncode == 0, second.stderr
    assert "up to date" in second.stdout
    assert invoke(["jobs", "list"], url=empty_db_url, cwd=tmp_path).returncode == 0


@pytest.mark.parametrize("argv", [("jobs", "list"), ("jobs", "run", "update_time_progress", "--json"),
                                  ("db", "upgrade"), ("demo", "--tasks", "1")])
def test_unreachable_postgres_exits_2_without_showing_the_password(tmp_path, argv):
    proc = invoke(argv, url="postgresql://u:s3cret@127.0.0.1:1/x", cwd=tmp_path)
    assert_one_clean_error(proc)
    assert "s3cret" not in proc.stdout + proc.stderr


def test_demo_loads_then_leaves_existing_tasks_alone_unless_replace(cli, db):
    # A second `demo` without --replace exits 0 and changes nothing (commit c250856: re-running the
    # README's command must not fail); --replace empties the tables and loads afresh.
    first = cli("demo", "--tasks", "2000")
    assert first.returncode == 0, first.stderr
    assert count(db.engine, Task) == 2000
    with db.engine.begin() as conn:
        conn.execute(update(Task).where(Task.id == select(func.min(Task.id)).scalar_subquery())
                     .values(title="marker"))
    again = cli("demo", "--tasks", "2000")
    assert again.returncode == 0, again.stderr
    assert "--replace" in again.stdout and "Traceback" not in again.stderr
    assert count(db.engine, Task) == 2000
    with db.engine.connect() as conn:
        assert conn.execute(select(func.count()).where(Task.title == "marker")).scalar_one() == 1
    replaced = cli("demo", "--tasks", "2000", "--replace")
    assert replaced.returncode == 0, replaced.stderr
    assert count(db.engine, Task) == 2000
    with db.engine.connect() as conn:
        assert conn.execute(select(func.count()).where(Task.title == "marker")).scalar_one() == 0


@pytest.mark.parametrize("argv", [(), ("run",), ("db",), ("db", "upgrade"), ("demo",), ("jobs",), ("jobs", "list"),
                                  ("jobs", "run"), ("jobs", "pause"), ("jobs", "resume"), ("jobs", "history"),
                                  ("preview",), ("tasks",), ("tasks", "near")])
def test_help_of_every_command_exits_0(tmp_path, argv):
    proc = invoke([*argv, "--help"], url="sqlite:///unused.db", cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.startswith("usage: taskconsole")
    assert not (tmp_path / "unused.db").exists()


def test_headless_run_fires_on_schedule_and_stops_on_sigterm(db, tmp_path):
    config = tmp_path / "settings.yaml"
    config.write_text(
        "jobs:\n"
        "  update_time_progress: {trigger: {every: 1}}\n"
        "  reset_periodic_tasks: {enabled: false}\n"
        "  check_task_warnings: {enabled: false}\n"
        "  cleanup_old_data: {enabled: false}\n",
        encoding="utf-8",
    )
    env = {k: v for k, v in os.environ.items() if not k.startswith("TASKCONSOLE_")}
    env.update(TASKCONSOLE_DATABASE_URL=db.url, TASKCONSOLE_CONFIG=str(config))
    log = tmp_path / "run.log"
    succeeded = select(func.count()).select_from(JobRun).where(
        JobRun.job_id == "update_time_progress", JobRun.trigger_kind == "scheduled", JobRun.status == "success")
    with log.open("w") as out:
        proc = subprocess.Popen([sys.executable, "-m", "console", "run"], cwd=tmp_path, env=env,
                                stdout=out, stderr=subprocess.STDOUT)
        try:
            deadline = time.monotonic() + 15
            while True:
                with db.engine.connect() as conn:
                    if conn.execute(succeeded).scalar_one() >= 1:
                        break
                assert proc.poll() is None, log.read_text()
                assert time.monotonic() < deadline, "no scheduled run succeeded within 15 s\n" + log.read_text()
                time.sleep(0.2)
            proc.send_signal(signal.SIGTERM)
            code = proc.wait(timeout=15)
        finally:
            if proc.poll() is None:
                proc.kill()
                proc.wait()
    output = log.read_text()
    assert code == 0, output
    assert "Traceback" not in output
    with db.engine.connect() as conn:
        statuses = conn.execute(select(JobRun.job_id, JobRun.status, JobRun.actor)).all()
    assert statuses and all(r.status != "running" for r in statuses), statuses
    assert {r.job_id for r in statuses} == {"update_time_progress"}
    assert {r.actor for r in statuses} == {"scheduler"}
