"""Fixtures for the fault tests: real processes, real signals, a real database and Redis.

Nothing here is mocked. A ``taskconsole`` process is started exactly as an operator would start
it, and the fault is caused for real: ``kill -9``, SIGTERM, Redis shut down. To make the moment of
the fault certain rather than a race, a test may hold a row lock from another session (an
ordinary competing transaction): the job then waits inside a transaction it has begun, and the
fault lands while that transaction is open.
"""

from __future__ import annotations

from contextlib import contextmanager

import os
import signal
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable

import pytest
from sqlalchemy import Connection, Engine, create_engine, text

from tests.conftest import fresh_pg_database

# Sessions of the processes under test call themselves "taskconsole..." (console.db.engine);
# the test's own sessions use this name, so the two are told apart in pg_stat_activity.
PROBE_APP = "taskconsole-fault-probe"


@dataclass
class FaultDb:
    """A fresh, migrated PostgreSQL database of this test only, and the test's own engine on it."""

    url: str
    engine: Engine

    def scalar(self, sql: str, **params) -> Any:
        with self.engine.connect() as conn:
            return conn.execute(text(sql), params).scalar()

    def rows(self, sql: str, **params) -> list:
        with self.engine.connect() as conn:
            return conn.execute(text(sql), params).all()

    def execute(self, sql: str, **params) -> None:
        with self.engine.begin() as conn:
            conn.execute(text(sql), params)

    def running_run(self, job_id: str) -> int | None:
        """The id of the run of ``job_id`` marked running in the run ledger, if any."""
        return self.scalar("SELECT id FROM job_runs WHERE job_id = :j AND status = 'running'", j=job_id)

    def run_status(self, run_id: int) -> str:
        return self.scalar("SELECT status FROM job_runs WHERE id = :r", r=run_id)

    def sessions_of_processes(self) -> list:
        """Sessions the processes under test hold on this database: pid, state, wait, query."""
        return self.rows(
            "SELECT pid, state, wait_event_type, query FROM pg_stat_activity "
            "WHERE datname = current_database() AND application_name LIKE 'taskconsole%' "
            "AND application_name <> :probe", probe=PROBE_APP)

    def waiting_on_lock(self, statement_start: str) -> bool:
        """Whether a process's session is blocked on a lock in a statement that starts so."""
        return any(s.wait_event_type == "Lock" and s.query.lstrip().upper().startswith(statement_start.upper())
                   for s in self.sessions_of_processes())


@pytest.fixture
def pg() -> FaultDb:
    with fresh_pg_database("taskconsole_fault", migrated=True) as url:
        engine = create_engine(url, connect_args={"application_name": PROBE_APP})
        try:
            yield FaultDb(url, engine)
        finally:
            engine.dispose()


class RowLock:
    """A competing transaction holding row locks (``SELECT ... FOR UPDATE``) until released."""

    def __init__(self, engine: Engine, select_for_update: str, **params):
        self._conn: Connection | None = engine.connect()
        self._tx = self._conn.begin()
        locked = self._conn.execute(text(select_for_update), params).all()
        assert locked, f"nothing to lock: {select_for_update}"

    def release(self) -> None:
        if self._conn is not None:
            self._tx.rollback()
            self._conn.close()
            self._conn = None


@pytest.fixture
def row_lock(pg: FaultDb):
    held: list[RowLock] = []

    def take(select_for_update: str, **params) -> RowLock:
        lock = RowLock(pg.engine, select_for_update, **params)
        held.append(lock)
        return lock

    yield take
    for lock in held:
        lock.release()


class Proc:
    """A ``taskconsole`` process; its output goes to files (no pipe can fill up and stall it)."""

    def __init__(self, args: tuple[str, ...], *, cwd: Path, env: dict[str, str], name: str):
        self.args = args
        self.out_path, self.err_path = cwd / f"{name}.out", cwd / f"{name}.err"
        with open(self.out_path, "wb") as out, open(self.err_path, "wb") as err:
            self.popen = subprocess.Popen([sys.executable, "-m", "console", *args], cwd=cwd, env=env,
                                          stdout=out, stderr=err, stdin=subprocess.DEVNULL)

    @property
    def pid(self) -> int:
        return self.popen.pid

    def alive(self) -> bool:
        return self.popen.poll() is None

    def signal(self, signum: int) -> None:
        os.kill(self.popen.pid, signum)

    def wait(self, timeout: float) -> int:
        return self.popen.wait(timeout=timeout)

    @property
    def stdout(self) -> str:
        return self.out_path.read_text(errors="replace")

    @property
    def stderr(self) -> str:
        return self.err_path.read_text(errors="replace")

    def end(self) -> None:
        """Kill it if it still runs (only this process, by its id) and reap it."""
        if self.popen.poll() is None:
            self.popen.kill()
        try:
            self.popen.wait(timeout=10)
        except subprocess.TimeoutExpired:
            pass


@contextmanager
def processes(url: str, cwd: Path):
    """Starts ``python -m console ARGS`` on the database at ``url``; every process is ended on leaving.

    ``config`` is a settings mapping written to a YAML file (TASKCONSOLE_CONFIG), ``redis_url``
    goes to TASKCONSOLE_REDIS_URL.
    """
    started: list[Proc] = []

    def start(*args: str, config: dict | None = None, redis_url: str | None = None) -> Proc:
        import yaml

        env = {k: v for k, v in os.environ.items() if not k.startswith("TASKCONSOLE_")}
        env["TASKCONSOLE_DATABASE_URL"] = url
        if config is not None:
            path = cwd / f"settings-{len(started)}.yaml"
            path.write_text(yaml.safe_dump(config), encoding="utf-8")
            env["TASKCONSOLE_CONFIG"] = str(path)
        if redis_url is not None:
            env["TASKCONSOLE_REDIS_URL"] = redis_url
        proc = Proc(args, cwd=cwd, env=env, name=f"proc{len(started)}")
        started.append(proc)
        return proc

    try:
        yield start
    finally:
        for proc in started:
            proc.end()


@pytest.fixture
def taskconsole(pg: FaultDb, tmp_path: Path):
    """``processes`` on the test's PostgreSQL database."""
    with processes(pg.url, tmp_path) as start:
        yield start


def wait_for(condition: Callable[[], Any], *, timeout: float, what: str, proc: Proc | None = None,
             every: float = 0.02) -> Any:
    """Polls ``condition`` until it returns something true; fails naming ``what`` otherwise."""
    deadline = time.monotonic() + timeout
    while True:
        value = condition()
        if value:
            return value
        if proc is not None and not proc.alive():
            value = condition()  # it may have happened just before the process ended
            if value:
                return value
            pytest.fail(f"the process ended (exit {proc.popen.returncode}) before {what}\n{proc.stderr[-3000:]}")
        if time.monotonic() > deadline:
            tail = f"\n{proc.stderr[-3000:]}" if proc is not None else ""
            pytest.fail(f"timed out after {timeout} s waiting for {what}{tail}")
        time.sleep(every)


def kill_9(proc: Proc, pg: FaultDb, *, release: RowLock | None = None) -> None:
    """SIGKILL ``proc``; then free the lock it waited on and wait until its sessions are gone.

    A session whose client was killed while it waited on a lock goes on once the lock is free, and
    can only then find its client gone; its transaction never gets a COMMIT, so it rolls back.
    Only when every session of the dead process has ended is the database in its after-crash state.
    """
    proc.signal(signal.SIGKILL)
    assert proc.wait(timeout=10) == -signal.SIGKILL
    if release is not None:
        release.release()
    wait_for(lambda: not pg.sessions_of_processes(), timeout=15,
             what="the killed process's database sessions to end")
