"""Small helpers for integration tests: running a job at a given instant, reading tables."""

from __future__ import annotations

import itertools
import threading
from contextlib import contextmanager
import os
import subprocess
import sys
from datetime import datetime

from pathlib import Path

from sqlalchemy import Engine, func, select

from console.db.models import Notification, Task, TaskState, WarningSent
from console.jobs import JOBS, JobContext
from console.settings import Settings

_run_ids = itertools.count(1000)


def run_job(job_id: str, engine: Engine, settings: Settings, now: datetime, run_id: int | None = None) -> dict:
    """One execution of a job's statements, as the runner would do it (fresh run id)."""
    ctx = JobContext(engine=engine, settings=settings, now=now, run_id=run_id or next(_run_ids))
    return JOBS[job_id].run(ctx)


def preview_job(job_id: str, engine: Engine, settings: Settings, now: datetime):
    return JOBS[job_id].preview(JobContext(engine=engine, settings=settings, now=now, run_id=-1))


def notifications(engine: Engine, type_: str | None = None) -> list:
    query = select(Notification).order_by(Notification.id)
    if type_:
        query = query.where(Notification.type == type_)
    with engine.connect() as conn:
        return conn.execute(query).all()


def ledger(engine: Engine) -> list:
    with engine.connect() as conn:
        return conn.execute(select(WarningSent).order_by(WarningSent.id)).all()


STATE_COLUMNS = ("last_reset_run_id", "next_reset_at", "reset_planned_from", "recurrence_error")


def task(engine: Engine, task_id: int):
    """A task's row with taskconsole's state about it (task_state's columns; NULL where it has none)."""
    state = [TaskState.__table__.c[c] for c in STATE_COLUMNS]
    with engine.connect() as conn:
        return conn.execute(select(*Task.__table__.c, *state)
                            .select_from(Task.__table__.outerjoin(TaskState, TaskState.task_id == Task.id))
                            .where(Task.id == task_id)).one()


def count(engine: Engine, model) -> int:
    with engine.connect() as conn:
        return conn.execute(select(func.count()).select_from(model)).scalar_one()


def invoke(args, *, url: str, cwd: Path, config: Path | None = None, timeout: float = 60):
    env = {k: v for k, v in os.environ.items() if not k.startswith("TASKCONSOLE_")}
    env["TASKCONSOLE_DATABASE_URL"] = url
    if config is not None:
        env["TASKCONSOLE_CONFIG"] = str(config)
    return subprocess.run([sys.executable, "-m", "console", *args], cwd=cwd, env=env,
                          capture_output=True, text=True, timeout=timeout)


def assert_one_clean_error(proc, *, code: int = 2) -> str:
    assert proc.returncode == code, (proc.stdout, proc.stderr)
    assert "Traceback" not in proc.stderr + proc.stdout
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1, proc.stderr
    return lines[0]


@contextmanager
def failing_inserts_into(engine: Engine, table: str):
    """Every INSERT INTO ``table`` on ``engine`` fails while inside (a real fault, mid-transaction)."""
    from sqlalchemy import event

    def fail(conn, cursor, statement, *args):
        if statement.lstrip().upper().startswith(f"INSERT INTO {table.upper()}"):
            raise RuntimeError("injected failure")

    event.listen(engine, "before_cursor_execute", fail)
    try:
        yield
    finally:
        event.remove(engine, "before_cursor_execute", fail)


def together(target, n: int = 4) -> None:
    """Calls ``target(i)`` for i in 0..n-1 on n threads released at once; fails with their errors."""
    barrier = threading.Barrier(n)
    errors = []

    def go(i):
        try:
            barrier.wait()
            target(i)
        except Exception as exc:  # noqa: BLE001
            errors.append(exc)

    threads = [threading.Thread(target=go, args=(i,)) for i in range(n)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    assert not errors, errors
