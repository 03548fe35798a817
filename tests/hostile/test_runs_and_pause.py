"""Hostile cases about runs and the scheduler-wide pause (issue 12, items 7, 11 and 12).

- A graceful stop (SIGTERM) during a retry's wait closes the run as failed ("stopped") and sends
  no "failed for good" alert.
- Ctrl-C on ``taskconsole jobs run`` stops the run at once, even one blocked in the database,
  closes it as failed ("interrupted") and exits 130; a manual run that cannot start (SQLite's
  "database is locked", PostgreSQL's lock timeout) is recorded in the run ledger and the audit.
- The scheduler-wide pause is stored: set from the command line, shown on every job row, obeyed by
  the leader when another process sets it, and by the next leader after a kill -9.

Processes, signals, locks and databases are real; nothing is mocked.
"""

from __future__ import annotations

import _thread
import json
import logging
import os
import signal
import sqlite3
import subprocess
import sys
import threading
import time
from dataclasses import replace
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest
from sqlalchemy import event, insert, select, text

from console.db.engine import make_engine
from console.db.models import AuditEntry, JobRun, Notification, SchedulerPause, Task, User
from console.jobs import JOBS
from console.scheduler.runner import JobRunner, RunNotStarted
from console.service import Service
from console.settings import JOB_IDS, Settings
from tests.conftest import fresh_pg_database
from tests.integration.helpers import cli_env, run_cli

ALERT = "系统错误"


# -- helpers ------------------------------------------------------------------------------------
def rows_of(engine, model, *where) -> list:
    query = select(model).order_by(model.id)
    if where:
        query = query.where(*where)
    with engine.connect() as conn:
        return conn.execute(query).all()


def wait_until(condition, *, timeout: float, what: str, every: float = 0.1, proc=None, log: Path | None = None):
    deadline = time.monotonic() + timeout
    while True:
        value = condition()
        if value:
            return value
        tail = f"\n{log.read_text(errors='replace')[-3000:]}" if log is not None and log.exists() else ""
        if proc is not None and proc.poll() is not None:
            value = condition()
            if value:
                return value
            pytest.fail(f"the process ended (exit {proc.returncode}) before {what}{tail}")
        if time.monotonic() > deadline:
            pytest.fail(f"timed out after {timeout} s waiting for {what}{tail}")
        time.sleep(every)


def only(job_id: str, **job) -> dict:
    """Settings: only ``job_id`` is scheduled, with ``job``'s settings."""
    jobs = {other: {"enabled": False} for other in JOB_IDS if other != job_id}
    jobs[job_id] = job
    return {"jobs": jobs}


def start(args, *, url: str, cwd: Path, name: str, config: dict | None = None) -> tuple[subprocess.Popen, Path]:
    """``python -m console ARGS`` on ``url``, its stderr (and stdout) to a file."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("TASKCONSOLE_")}
    env["TASKCONSOLE_DATABASE_URL"] = url
    if config is not None:
        path = cwd / f"{name}.yaml"
        path.write_text(json.dumps(config), encoding="utf-8")  # JSON is YAML
        env["TASKCONSOLE_CONFIG"] = str(path)
    log = cwd / f"{name}.log"
    with log.open("w") as out:
        proc = subprocess.Popen([sys.executable, "-m", "console", *args], cwd=cwd, env=env, stdout=out,
                                stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, start_new_session=True)
    return proc, log


def end(proc: subprocess.Popen) -> None:
    """Kill it if it still runs (this process only, by its id) and reap it."""
    if proc.poll() is None:
        proc.kill()
    try:
        proc.wait(timeout=10)
    except subprocess.TimeoutExpired:
        pass


def processing_tasks(engine, n: int, *, handler: int | None = None) -> None:
    now = datetime.now(timezone.utc)
    with engine.begin() as conn:
        conn.execute(insert(Task), [dict(
            title=f"task {i}", category="normal", status="processing", progress=0.0, time_progress=0.0,
            expected_start_time=now - timedelta(hours=10), expected_end_time=now + timedelta(hours=10),
            current_handler_id=handler, created_at=now - timedelta(days=1), updated_at=now - timedelta(days=1),
        ) for i in range(n)])


def admin(engine) -> int:
    with engine.begin() as conn:
        return conn.execute(insert(User).values(name="root", is_admin=True).returning(User.id)).scalar_one()


@pytest.fixture
def fresh_pg():
    """A fresh, migrated PostgreSQL database of this test only: (url, engine)."""
    with fresh_pg_database("taskconsole_hostile", migrated=True) as url:
        engine = make_engine(url)
        try:
            yield url, engine
        finally:
            engine.dispose()


def backend_waiting_on_lock(engine, statement_start: str) -> bool:
    with engine.connect() as conn:
        rows = conn.execute(text(
            "SELECT query FROM pg_stat_activity WHERE datname = current_database() AND wait_event_type = 'Lock' "
            "AND pid <> pg_backend_pid()")).scalars().all()
    return any(q.lstrip().upper().startswith(statement_start.upper()) for q in rows)


def failing(job_id: str):
    """The real job table with ``job_id`` failing on every attempt."""
    calls = {"n": 0}

    def run(ctx):
        calls["n"] += 1
        raise RuntimeError(f"boom {calls['n']}")

    return {**JOBS, job_id: replace(JOBS[job_id], run=run)}, calls


# -- item 7: a graceful stop during a retry's wait ----------------------------------------------
def test_a_stop_during_the_retry_wait_records_stopped_and_alerts_no_admin(db):
    admin(db.engine)
    jobs, calls = failing("check_task_warnings")
    settings = Settings.model_validate({"jobs": {"check_task_warnings": {"retries": 3, "retry_delay": 600}}})
    runner = JobRunner(settings, db.engine, jobs=jobs)
    outcome = {}
    worker = threading.Thread(target=lambda: outcome.update(result=runner.execute("check_task_warnings", "scheduled")))
    worker.start()
    wait_until(lambda: rows_of(db.engine, JobRun, JobRun.status == "failed"), timeout=20,
               what="the first attempt to fail")
    began = time.monotonic()
    runner.stopping.set()  # what LiveScheduler.stop does on SIGTERM
    worker.join(timeout=20)
    assert not worker.is_alive() and time.monotonic() - began < 5, "the stop waited for the retry delay"
    result = outcome["result"]
    assert (result.status, result.error, calls["n"]) == ("failed", "stopped", 1)
    assert [(r.trigger_kind, r.status, r.attempt, r.error) for r in rows_of(db.engine, JobRun)] == [
        ("scheduled", "failed", 1, "boom 1"), ("retry", "failed", 2, "stopped")]
    assert rows_of(db.engine, Notification, Notification.type == ALERT) == []


def test_a_stop_that_arrives_while_an_attempt_fails_does_not_alert_either(db):
    admin(db.engine)
    runner = None

    def run(ctx):
        runner.stopping.set()  # SIGTERM while the attempt runs, which then fails
        raise RuntimeError("boom")

    jobs = {**JOBS, "update_time_progress": replace(JOBS["update_time_progress"], run=run)}
    settings = Settings.model_validate({"jobs": {"update_time_progress": {"retries": 2, "retry_delay": 600}}})
    runner = JobRunner(settings, db.engine, jobs=jobs)
    result = runner.execute("update_time_progress", "scheduled")
    assert (result.status, result.error) == ("failed", "stopped")
    assert [(r.trigger_kind, r.status, r.error) for r in rows_of(db.engine, JobRun)] == [
        ("scheduled", "failed", "boom"), ("retry", "failed", "stopped")]
    assert rows_of(db.engine, Notification, Notification.type == ALERT) == []


def test_sigterm_to_run_during_a_retry_wait_exits_0_records_stopped_and_sends_no_alert(sqlite_db, tmp_path):
    engine = sqlite_db.engine
    admin(engine)
    processing_tasks(engine, 3)
    with engine.begin() as conn:  # update_time_progress fails for real: the database refuses its writes
        conn.execute(text("CREATE TRIGGER frozen BEFORE UPDATE ON tasks BEGIN SELECT RAISE(ABORT, 'tasks are frozen'); END"))
    config = only("update_time_progress", trigger={"every": 2}, retries=3, retry_delay=600)
    proc, log = start(["run"], url=sqlite_db.url, cwd=tmp_path, name="run", config=config)
    try:
        wait_until(lambda: rows_of(engine, JobRun, JobRun.status == "failed"), timeout=30, proc=proc, log=log,
                   what="a scheduled run to fail")
        # The runner says so right before it waits for the retry (a SIGTERM a moment before would
        # find the stop asked, and the same path: no retry, "stopped").
        wait_until(lambda: "attempt 1 failed, retrying in 600 s" in log.read_text(errors="replace"), timeout=30,
                   proc=proc, log=log, what="the run to wait for its retry")
        proc.send_signal(signal.SIGTERM)
        code = proc.wait(timeout=30)
    finally:
        end(proc)
    output = log.read_text()
    assert code == 0, output
    runs = [(r.trigger_kind, r.status, r.attempt) for r in rows_of(engine, JobRun)]
    assert runs == [("scheduled", "failed", 1), ("retry", "failed", 2)], output
    assert "tasks" in rows_of(engine, JobRun)[0].error and rows_of(engine, JobRun)[1].error == "stopped"
    assert rows_of(engine, Notification, Notification.type == ALERT) == []
    assert "failed for good" not in output and "Traceback" not in output


# -- item 11: Ctrl-C on `jobs run` ---------------------------------------------------------------
def test_ctrl_c_on_jobs_run_blocked_on_a_row_lock_exits_130_at_once_with_the_run_failed_interrupted(fresh_pg, tmp_path):
    url, engine = fresh_pg
    processing_tasks(engine, 50)
    locker = engine.connect()
    tx = locker.begin()
    locker.execute(text("SELECT id FROM tasks WHERE id = 25 FOR UPDATE"))
    proc, log = start(["jobs", "run", "update_time_progress"], url=url, cwd=tmp_path, name="jobs-run")
    try:
        wait_until(lambda: backend_waiting_on_lock(engine, "UPDATE tasks"), timeout=30, proc=proc, log=log,
                   what="the run's UPDATE to wait on the locked row")
        proc.send_signal(signal.SIGINT)
        # The row lock is still held: only a cancelled statement lets it end. The bound is for a
        # hang; "at once" is checked below, by the way it ended, not by a clock on a loaded machine.
        code = proc.wait(timeout=60)
    finally:
        tx.rollback()
        locker.close()
        end(proc)
    output = log.read_text()
    assert code == 130, output
    assert "Traceback" not in output
    # At once: the statement was cancelled and the run closed itself; the grace period (after
    # which the run is closed from the main thread) was not needed.
    assert "asked to cancel" in output and "did not stop within" not in output, output
    [run] = rows_of(engine, JobRun)
    assert (run.trigger_kind, run.status, run.error) == ("manual", "failed", "interrupted"), output
    assert run.finished_at is not None
    [entry] = rows_of(engine, AuditEntry)
    assert (entry.action, entry.job_id, entry.outcome) == ("run", "update_time_progress", "failed")
    assert "interrupted" in entry.detail
    with engine.connect() as conn:  # its transaction rolled back whole
        assert conn.execute(text("SELECT count(*) FROM tasks WHERE time_progress <> 0")).scalar_one() == 0


def _long_statement(engine) -> str:
    if engine.dialect.name == "postgresql":
        return "SELECT pg_sleep(60)"
    # Counts to a billion: minutes of work for SQLite, interrupted within a step.
    return ("WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM c LIMIT 1000000000) "
            "SELECT count(*) FROM c")


@pytest.fixture
def python_sigint():
    """Python's own SIGINT handler (KeyboardInterrupt), whatever an earlier test in this process set."""
    before = signal.getsignal(signal.SIGINT)
    signal.signal(signal.SIGINT, signal.default_int_handler)
    yield
    signal.signal(signal.SIGINT, before)


def test_ctrl_c_cancels_a_foreground_run_busy_in_a_statement_on_either_database(db, python_sigint, caplog):
    statement = _long_statement(db.engine)
    inside = threading.Event()

    def run(ctx):
        with ctx.engine.begin() as conn:
            if ctx.engine.dialect.name == "sqlite":
                # SQLite calls this from inside the statement, every 10,000 steps of its program.
                conn.connection.driver_connection.set_progress_handler(lambda: inside.set() or 0, 10_000)
            conn.execute(text(statement))
        return {"done": 1}

    def in_the_statement() -> bool:
        if db.is_pg:  # the server says a session of the run is in the statement
            with db.engine.connect() as probe:
                return bool(probe.execute(text(
                    "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() "
                    "AND state = 'active' AND query = :q"), {"q": statement}).scalar())
        return inside.is_set()

    service = Service(Settings(), db.engine)
    service.runner.jobs = {**JOBS, "cleanup_old_data": replace(JOBS["cleanup_old_data"], run=run)}
    pressed: list[tuple[bool, float]] = []

    def ctrl_c():
        deadline = time.monotonic() + 60
        while not in_the_statement() and time.monotonic() < deadline:
            time.sleep(0.02)
        pressed.append((in_the_statement(), time.monotonic()))
        _thread.interrupt_main()  # what the SIGINT handler does: KeyboardInterrupt on the main thread

    threading.Thread(target=ctrl_c, daemon=True).start()
    with pytest.raises(KeyboardInterrupt):
        service.run_job_in_foreground("cleanup_old_data", actor="op")
    [(was_inside, pressed_at)] = pressed
    assert was_inside, "the run never got into its statement"
    assert time.monotonic() - pressed_at < 15  # stopped soon after Ctrl-C, not at the statement's end
    # The statement was cancelled and the run closed itself: no grace period, no close from here.
    assert "did not stop within" not in caplog.text
    if db.is_pg:
        assert not in_the_statement()
    [run_row] = rows_of(db.engine, JobRun)
    assert (run_row.status, run_row.error, run_row.actor) == ("failed", "interrupted", "op")
    [entry] = rows_of(db.engine, AuditEntry)
    assert entry.outcome == "failed" and "interrupted" in entry.detail


def test_ctrl_c_inside_a_job_on_the_main_thread_closes_the_run_before_it_propagates(db):
    def run(ctx):
        raise KeyboardInterrupt  # Ctrl-C lands in the job's Python code

    jobs = {**JOBS, "update_time_progress": replace(JOBS["update_time_progress"], run=run)}
    runner = JobRunner(Settings(), db.engine, jobs=jobs)
    with pytest.raises(KeyboardInterrupt):
        runner.execute("update_time_progress", "manual", retries=0)
    [run_row] = rows_of(db.engine, JobRun)
    assert (run_row.status, run_row.error) == ("failed", "interrupted")
    lock = runner.locks.try_acquire("job:update_time_progress")
    assert lock is not None  # the job lock went too
    lock.release()


def test_a_manual_run_that_cannot_start_on_sqlite_is_recorded_with_database_is_locked(sqlite_db):
    engine = make_engine(sqlite_db.url)

    @event.listens_for(engine, "connect")
    def short_busy_timeout(dbapi_conn, _record):  # after make_engine's 30 s: the test need not wait it
        dbapi_conn.execute("PRAGMA busy_timeout = 300")

    blocker = sqlite3.connect(sqlite_db.url.removeprefix("sqlite:///"), isolation_level=None)
    blocker.execute("BEGIN IMMEDIATE")  # another writer holds the write lock

    class ReleaseWhenRefused(logging.Handler):
        """The other writer ends once our start has been refused, so the refusal can be recorded."""

        def emit(self, record):
            if "could not start" in record.getMessage() and blocker.in_transaction:
                blocker.rollback()

    handler = ReleaseWhenRefused()
    logging.getLogger("console.scheduler").addHandler(handler)
    try:
        service = Service(Settings(), engine)
        with pytest.raises(RunNotStarted, match="update_time_progress could not start: database is locked") as caught:
            service.run_job("update_time_progress", actor="op")
    finally:
        logging.getLogger("console.scheduler").removeHandler(handler)
        blocker.close()
    [run] = rows_of(engine, JobRun)
    assert run.id == caught.value.run_id
    assert (run.trigger_kind, run.status, run.actor, run.error) == (
        "manual", "failed", "op", "could not start: database is locked")
    [entry] = rows_of(engine, AuditEntry)
    assert (entry.action, entry.job_id, entry.outcome, entry.actor) == (
        "run", "update_time_progress", "not_started", "op")
    assert "database is locked" in entry.detail
    engine.dispose()


def test_jobs_run_that_cannot_start_on_postgresql_is_recorded_and_exits_1_with_one_clear_line(fresh_pg, tmp_path):
    url, engine = fresh_pg
    name = url.rsplit("/", 1)[1]
    with engine.begin() as conn:
        conn.execute(text(f'ALTER DATABASE "{name}" SET lock_timeout = \'500ms\''))
        # A run a dead process left marked running, its row locked by an open transaction.
        conn.execute(insert(JobRun).values(job_id="update_time_progress", trigger_kind="scheduled", status="running",
                                           attempt=1, started_at=datetime.now(timezone.utc), actor="scheduler",
                                           host="elsewhere", pid=1))
    locker = engine.connect()
    tx = locker.begin()
    locker.execute(text("SELECT id FROM job_runs FOR UPDATE"))
    try:
        proc = run_cli(["jobs", "run", "update_time_progress", "--json"], env=cli_env(url), cwd=tmp_path)
    finally:
        tx.rollback()
        locker.close()
    assert proc.returncode == 1, proc.stderr
    assert "Traceback" not in proc.stderr
    last = proc.stderr.strip().splitlines()[-1]
    assert last.startswith("taskconsole: error: update_time_progress could not start: ") and "lock timeout" in last
    assert "recorded as run 2" in last
    assert json.loads(proc.stdout)["status"] == "failed"
    runs = rows_of(engine, JobRun)
    assert [(r.trigger_kind, r.status) for r in runs] == [("scheduled", "running"), ("manual", "failed")]
    assert runs[1].error.startswith("could not start: ") and "lock timeout" in runs[1].error
    [entry] = rows_of(engine, AuditEntry)
    assert (entry.action, entry.outcome) == ("run", "not_started") and "lock timeout" in entry.detail


# -- item 12: the stored scheduler-wide pause ---------------------------------------------------
def jobs_json(cli) -> dict:
    proc = cli("jobs", "list", "--json")
    assert proc.returncode == 0, proc.stderr
    return {j["id"]: j for j in json.loads(proc.stdout)}


def test_scheduler_pause_and_resume_from_the_command_line_show_on_every_job_row(cli, db):
    assert {j["state"] for j in jobs_json(cli).values()} == {"scheduled"}
    proc = cli("scheduler", "pause")
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.strip() == "scheduler paused; no process leads now: the next leader starts paused"
    listed = jobs_json(cli)
    assert {j["state"] for j in listed.values()} == {"paused"}
    # Paused with the whole scheduler, not by their own pause; no next run shown as if it would fire.
    assert all(j["paused"] and j["paused_by"] == "scheduler" and j["next_run_time"] is None for j in listed.values())
    text_rows = cli("jobs", "list").stdout.splitlines()[1:]
    assert len(text_rows) == 4 and all(" paused " in row for row in text_rows)
    [stored] = rows_of(db.engine, SchedulerPause)
    assert stored.paused is True
    proc = cli("scheduler", "resume")
    assert proc.returncode == 0, proc.stderr
    assert {j["state"] for j in jobs_json(cli).values()} == {"scheduled"}
    assert [(a.action, a.job_id, a.outcome) for a in rows_of(db.engine, AuditEntry)] == [
        ("pause", "*", "done"), ("resume", "*", "done")]


def test_the_leader_obeys_a_pause_and_a_resume_stored_by_another_process(db):
    settings = Settings()
    leader = Service(settings, db.engine)
    other = Service(settings, db.engine)  # the command line, another console
    leader.start_scheduler(kind="run")
    try:
        assert leader.scheduler_state == "running"
        other.pause_scheduler(actor="op")
        wait_until(lambda: leader.scheduler_state == "paused", timeout=10, what="the leader to pause")
        wait_until(lambda: getattr(other.cluster()[0], "state", None) == "paused", timeout=10,
                   what="its heartbeat to say paused")
        other.resume_scheduler(actor="op")
        wait_until(lambda: leader.scheduler_state == "running", timeout=10, what="the leader to resume")
    finally:
        leader.stop_scheduler()


def test_p_in_an_attached_console_is_stored_by_the_leader(db):
    leader = Service(Settings(), db.engine)
    attached = Service(Settings(), db.engine)  # what an attached console's P sends
    leader.start_scheduler(kind="run")
    try:
        command = attached.send_command("pause_all", actor="op")
        assert command is not None and command.outcome == "done", command
        assert leader.scheduler_state == "paused"
        assert attached.scheduler_pause().paused and attached.scheduler_pause().actor == "op"
        command = attached.send_command("resume_all", actor="op")
        assert command.outcome == "done" and leader.scheduler_state == "running"
        assert not attached.scheduler_pause().paused
    finally:
        leader.stop_scheduler()


def test_a_new_leader_starts_paused_when_the_pause_is_stored(db):
    first = Service(Settings(), db.engine)
    first.start_scheduler(kind="run")
    first.pause_scheduler(actor="op")  # the console's P, in the leading process
    first.stop_scheduler()
    second = Service(Settings(), db.engine)
    second.start_scheduler(kind="run")
    try:
        assert second.scheduler_state == "paused"
        assert {j.state for j in second.jobs()} == {"paused"}
    finally:
        second.stop_scheduler()


def _status(url: str, cwd: Path) -> dict:
    proc = run_cli(["status", "--json"], env=cli_env(url), cwd=cwd)
    assert proc.returncode == 0, proc.stderr
    return json.loads(proc.stdout)


def test_the_pause_survives_kill_9_of_the_leader_and_the_next_leader_fires_nothing(fresh_pg, tmp_path):
    url, engine = fresh_pg
    processing_tasks(engine, 10)
    config = only("update_time_progress", trigger={"every": 2}, retries=0)
    scheduled = lambda: rows_of(engine, JobRun, JobRun.trigger_kind == "scheduled")  # noqa: E731
    first, first_log = start(["run"], url=url, cwd=tmp_path, name="first", config=config)
    second = None
    try:
        wait_until(lambda: scheduled(), timeout=30, proc=first, log=first_log, what="the first leader to fire")
        proc = run_cli(["scheduler", "pause"], env=cli_env(url), cwd=tmp_path)  # as from another process
        assert proc.returncode == 0, proc.stderr
        assert "the leader (run on " in proc.stdout and f"pid {first.pid}) is paused" in proc.stdout, proc.stdout
        leader = _status(url, tmp_path)["leader"]
        assert (leader["pid"], leader["state"]) == (first.pid, "paused")
        time.sleep(2.5)  # a firing in flight when the pause came has finished
        fired = len(scheduled())

        first.kill()  # kill -9
        assert first.wait(timeout=10) == -signal.SIGKILL
        second, second_log = start(["run"], url=url, cwd=tmp_path, name="second", config=config)
        leader = wait_until(lambda: (lambda s: s["leader"] if s["leader"] and s["leader"]["pid"] == second.pid
                                     else None)(_status(url, tmp_path)), timeout=30, proc=second, log=second_log,
                            what="the second process to lead")
        assert leader["state"] == "paused"
        status = _status(url, tmp_path)
        assert {j["state"] for j in status["jobs"] if j["enabled"]} == {"paused"}
        time.sleep(6)  # three firings' worth
        assert len(scheduled()) == fired, "a job fired while the scheduler was paused"
        assert not rows_of(engine, JobRun, JobRun.pid == second.pid)

        # Resumed from yet another process: the new leader obeys and fires again.
        resumed = run_cli(["scheduler", "resume"], env=cli_env(url), cwd=tmp_path)
        assert resumed.returncode == 0, resumed.stderr
        wait_until(lambda: rows_of(engine, JobRun, JobRun.pid == second.pid, JobRun.trigger_kind == "scheduled"),
                   timeout=15, proc=second, log=second_log, what="the new leader to fire after the resume")
        second.send_signal(signal.SIGTERM)
        assert second.wait(timeout=30) == 0, second_log.read_text()
    finally:
        end(first)
        if second is not None:
            end(second)
