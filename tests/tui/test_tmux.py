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


@pytest.fixture
def terminal(tmp_path):
    if shutil.which("tmux") is None:
        unavailable("tmux", "not installed")
    db = tmp_path / "tc.db"
    env = {**os.environ, "TASKCONSOLE_DATABASE_URL": f"sqlite:///{db}", "TERM": "xterm-256color"}
    env.pop("TASKCONSOLE_REDIS_URL", None)
    env.pop("TASKCONSOLE_CONFIG", None)
    subprocess.run([sys.executable, "-m", "console", "demo", "--tasks", "2000"], env=env, cwd=tmp_path,
                   check=True, capture_output=True)
    socket = f"tc-{uuid.uuid4().hex[:8]}"
    exit_file = tmp_path / "exit"
    command = f"{sys.executable} -m console; echo $? > {exit_file}; sleep 30"
    subprocess.run(["tmux", "-L", socket, "-f", "/dev/null", "new-session", "-d", "-s", "tc", "-x", "80", "-y", "24",
                    command], env=env, cwd=tmp_path, check=True)
    try:
        yield socket, db, exit_file
    finally:
        subprocess.run(["tmux", "-L", socket, "kill-server"], capture_output=True)


def test_console_in_a_real_terminal(terminal):
    socket, db, exit_file = terminal
    jobs = ("reset_periodic_tasks", "check_task_warnings", "update_time_progress", "cleanup_old_data")
    screen = wait_screen(socket, lambda s: all(j in s for j in jobs) and "scheduler running" in s)
    assert "Warnings" in screen and "Near thresholds" in screen and "Logs" in screen
    # The jobs table has the focus, on its first row: pause it.
    tmux(socket, "send-keys", "-t", "tc", "p")
    wait_screen(socket, lambda s: any(line.startswith("│ reset_periodic_tasks") and "paused" in line
                                      for line in s.splitlines()))
    # Trigger update_time_progress (third row).
    tmux(socket, "send-keys", "-t", "tc", "Down", "Down", "t")
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline and ("update_time_progress", "success") not in manual_runs(db):
        time.sleep(0.2)
    assert ("update_time_progress", "success") in manual_runs(db)
    wait_screen(socket, lambda s: "job update_time_progress finished" in s)
    tmux(socket, "send-keys", "-t", "tc", "q")
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline and not exit_file.exists():
        time.sleep(0.2)
    assert exit_file.read_text().strip() == "0"
