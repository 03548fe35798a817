"""A real terminal: taskconsole started in tmux at 80x24, driven with send-keys, read with capture-pane."""

from __future__ import annotations

import os
import shutil
import sqlite3
import subprocess
import sys
import time
import uuid
from pathlib import Path

import pytest

from tests.conftest import unavailable
from tests.integration.helpers import run_cli


def tmux(socket: str, *args: str) -> str:
    return subprocess.run(["tmux", "-L", socket, *args], capture_output=True, text=True, check=True).stdout


def wait_screen(socket: str, predicate, seconds: float = 20.0) -> str:
    deadline = time.monotonic() + seconds
    screen = ""
    while time.monotonic() < deadline:
        screen = tmux(socket, "capture-pane", "-p", "-t", "tc")
        if predicate(screen):
            return screen
        time.sleep(0.2)
    raise AssertionError(f"screen never matched; last screen:\n{screen}")


def manual_runs(db: Path) -> list[tuple]:
    with sqlite3.connect(db) as conn:
        return conn.execute("SELECT job_id, status FROM job_runs WHERE trigger_kind = 'manual'").fetchall()


def start_console(tmp_path: Path, url: str):
    """taskconsole on demo data at ``url``, in a tmux session of its own at 80x24."""
    if shutil.which("tmux") is None:
        unavailable("tmux", "not installed")
    env = {**os.environ, "TASKCONSOLE_DATABASE_URL": url, "TERM": "xterm-256color"}
    env.pop("TASKCONSOLE_REDIS_URL", None)
    env.pop("TASKCONSOLE_CONFIG", None)
    demo = run_cli(["demo", "--tasks", "2000"], env=env, cwd=tmp_path)  # the data; the console is the process
    assert demo.returncode == 0, demo.stderr
    socket = f"tc-{uuid.uuid4().hex[:8]}"
    exit_file = tmp_path / "exit"
    command = f"{sys.executable} -m console; echo $? > {exit_file}; sleep 30"
    subprocess.run(["tmux", "-L", socket, "-f", "/dev/null", "new-session", "-d", "-s", "tc", "-x", "80", "-y", "24",
                    command], env=env, cwd=tmp_path, check=True)
    return socket, exit_file


@pytest.fixture
def terminal(tmp_path):
    db = tmp_path / "tc.db"
    socket, exit_file = start_console(tmp_path, f"sqlite:///{db}")
    try:
        yield socket, db, exit_file
    finally:
        subprocess.run(["tmux", "-L", socket, "kill-server"], capture_output=True)


def quit_and_check(socket: str, exit_file: Path) -> None:
    tmux(socket, "send-keys", "-t", "tc", "q")
    # A job the scheduler fired meanwhile (a due recurrence rule is looked for every minute) is
    # still running on a loaded machine: the console asks first, and the answer is yes.
    deadline = time.monotonic() + 3
    while time.monotonic() < deadline and not exit_file.exists():
        if "Quit anyway?" in tmux(socket, "capture-pane", "-p", "-t", "tc"):
            tmux(socket, "send-keys", "-t", "tc", "y")
            break
        time.sleep(0.2)
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline and not exit_file.exists():
        time.sleep(0.2)
    if not exit_file.exists():
        raise AssertionError("the console did not quit; last screen:\n" + tmux(socket, "capture-pane", "-p", "-t", "tc"))
    assert exit_file.read_text().strip() == "0"


def rows_of(screen: str, job_id: str) -> list[str]:
    return [line for line in screen.splitlines() if line.startswith(f"│ {job_id}")]


def test_console_in_a_real_terminal(terminal):
    socket, db, exit_file = terminal
    jobs = ("reset_periodic_tasks", "check_task_warnings", "update_time_progress", "cleanup_old_data")
    screen = wait_screen(socket, lambda s: all(j in s for j in jobs) and "leading (running)" in s)
    assert "Warnings" in screen and "Near thresholds" in screen and "Logs" in screen
    lines = screen.splitlines()
    assert "db ok sqlite tc.db" in lines[0]  # the header names the database
    assert lines[-1].lstrip().startswith("⏎") and lines[-2].startswith("╰")  # the logs' border above the footer
    # The jobs table has the focus, on its first row: pause it.
    tmux(socket, "send-keys", "-t", "tc", "p")
    wait_screen(socket, lambda s: any("paused" in line for line in rows_of(s, "reset_periodic_tasks")))
    # Trigger update_time_progress (third row).
    tmux(socket, "send-keys", "-t", "tc", "Down", "Down", "t")
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline and ("update_time_progress", "success") not in manual_runs(db):
        time.sleep(0.2)
    assert ("update_time_progress", "success") in manual_runs(db)
    wait_screen(socket, lambda s: "job update_time_progress finished" in s)
    quit_and_check(socket, exit_file)


def test_after_a_refresh_failed_on_a_stopped_database_p_pauses_the_job_chosen_before(tmp_path):
    from sqlalchemy import create_engine, text

    from tests.conftest import PG_ADMIN_URL, fresh_pg_database

    with fresh_pg_database("tc_tmux") as url:
        socket, exit_file = start_console(tmp_path, url)
        admin = create_engine(PG_ADMIN_URL, isolation_level="AUTOCOMMIT")
        name = url.rsplit("/", 1)[1]

        def stop(allow: bool) -> None:
            with admin.connect() as conn:
                conn.execute(text(f'ALTER DATABASE "{name}" ALLOW_CONNECTIONS {str(allow).lower()}'))
                if not allow:
                    conn.execute(text("SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = :n"),
                                 {"n": name})

        try:
            wait_screen(socket, lambda s: "leading (running)" in s and "update_time_progress" in s)
            tmux(socket, "send-keys", "-t", "tc", "Down", "Down")  # the third job
            stop(False)  # the database stops taking connections: a refresh fails
            try:
                wait_screen(socket, lambda s: "stale since" in s and "db down" in s.splitlines()[0], seconds=30)
            finally:
                stop(True)
            wait_screen(socket, lambda s: "stale since" not in s and "db ok" in s.splitlines()[0], seconds=30)
            tmux(socket, "send-keys", "-t", "tc", "p")
            wait_screen(socket, lambda s: any("paused" in line for line in rows_of(s, "update_time_progress")))
            engine = create_engine(url)
            with engine.connect() as conn:
                paused = [j for j, in conn.execute(text("SELECT id FROM apscheduler_jobs WHERE next_run_time IS NULL"))]
            engine.dispose()
            assert paused == ["update_time_progress"]  # the chosen job, not the row the cursor fell to
            quit_and_check(socket, exit_file)
        finally:
            stop(True)
            subprocess.run(["tmux", "-L", socket, "kill-server"], capture_output=True)
            admin.dispose()


def test_quitting_during_a_run_can_leave_it_to_the_next_leader_which_marks_it_abandoned(tmp_path):
    from sqlalchemy import create_engine, text

    from tests.conftest import fresh_pg_database
    from tests.faults.conftest import RowLock, processes, wait_for

    with fresh_pg_database("tc_tmux_leave") as url:
        socket, exit_file = start_console(tmp_path, url)
        engine = create_engine(url)
        lock = None
        try:
            wait_screen(socket, lambda s: "leading (running)" in s and "update_time_progress" in s)
            # Another transaction holds every processing task: the run blocks in its UPDATE.
            lock = RowLock(engine, "SELECT id FROM tasks WHERE status = 'processing' FOR UPDATE")
            tmux(socket, "send-keys", "-t", "tc", "Down", "Down", "t")
            wait_screen(socket, lambda s: any("running" in line for line in rows_of(s, "update_time_progress")))
            tmux(socket, "send-keys", "-t", "tc", "q")
            wait_screen(socket, lambda s: "is running. Quit anyway?" in s)
            tmux(socket, "send-keys", "-t", "tc", "y")
            wait_screen(socket, lambda s: "waiting for update_time_progress (running for" in s)
            tmux(socket, "send-keys", "-t", "tc", "q")
            wait_screen(socket, lambda s: "Leave the run and quit now?" in s)
            tmux(socket, "send-keys", "-t", "tc", "y")
            deadline = time.monotonic() + 20
            while time.monotonic() < deadline and not exit_file.exists():
                time.sleep(0.2)
            assert exit_file.read_text().strip() == "0"  # it quit without waiting for the run
            with engine.connect() as conn:
                [(run_id, status)] = conn.execute(text(
                    "SELECT id, status FROM job_runs WHERE job_id = 'update_time_progress' AND trigger_kind = 'manual'"
                )).all()
            assert status == "running"  # left as a crash leaves it
            lock.release()
            with processes(url, tmp_path) as start:
                leader = start("run")

                def abandoned():
                    with engine.connect() as conn:
                        return conn.execute(text("SELECT status FROM job_runs WHERE id = :i"), {"i": run_id}).scalar() \
                            == "abandoned"

                wait_for(abandoned, timeout=60, what="the next leader to mark the left run abandoned", proc=leader)
        finally:
            if lock is not None:
                lock.release()
            subprocess.run(["tmux", "-L", socket, "kill-server"], capture_output=True)
            engine.dispose()
