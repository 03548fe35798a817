"""Fixtures shared by every test: a database per backend, a frozen clock, factories for rows.

``db`` is parametrised over SQLite and PostgreSQL, so each case that takes it runs on both
(like APScheduler's own job-store tests). PostgreSQL and Redis tests skip with a reason when the
server is absent, and fail instead when ``CI`` is set.
"""

from __future__ import annotations

import fcntl
import os
import shutil
import tempfile
import uuid
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest
from sqlalchemy import Engine, create_engine, insert, text

from console.db import schema
from console.db.engine import make_engine
from console.db.models import Task, TaskState, User
from console.db.task_tables import TaskSystemSettings, build_tables
from console.scheduler.schedule_table import ScheduleTable
from console.scheduler.schedulers import table_scheduler
from console.settings import Settings

PG_ADMIN_URL = os.environ.get("TASKCONSOLE_TEST_PG", "postgresql+psycopg2://root@127.0.0.1:5432/postgres")
REDIS_URL = os.environ.get("TASKCONSOLE_TEST_REDIS", "redis://127.0.0.1:6379/15")
NOW = datetime(2026, 11, 28, 8, 0, tzinfo=timezone.utc)  # 16:00 in Asia/Shanghai
TABLES = ("warning_ledger", "task_state", "notifications", "tasks", "users", "job_runs", "audit_log",
          "apscheduler_jobs", "scheduler_nodes", "scheduler_commands", "scheduler_pause", "api_tokens",
          "deliveries", "delivery_totals", "warning_pass", "warning_outlook")
# The demo schema's tables as the jobs see them (the default mapping).
DEMO_TABLES = build_tables(TaskSystemSettings())
# taskconsole's state about a task, kept in task_state (migration 0010); Rows.task writes it there.
STATE_COLUMNS = ("last_reset_run_id", "next_reset_at", "reset_planned_from", "recurrence_error")


# Every test of every run on this machine holds this lock shared; a test marked ``exclusive``
# (it stops or restarts the PostgreSQL or Redis server the others use) holds it exclusively, so
# no other test (of this run's xdist workers or of another run) meets the server down. A test that
# wants it exclusively first takes the turnstile, so a stream of shared holders cannot starve it.
# (Per user: another user's file may not be writable here, and only root may restart a server.)
SERVERS_LOCK = Path(tempfile.gettempdir()) / f"taskconsole-tests-servers-{os.getuid()}.lock"
SERVERS_TURNSTILE = Path(tempfile.gettempdir()) / f"taskconsole-tests-servers-{os.getuid()}.turnstile"


def _open_lock(path: Path) -> int:
    return os.open(path, os.O_RDWR | os.O_CREAT, 0o666)


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_protocol(item, nextitem):
    exclusive = item.get_closest_marker("exclusive") is not None
    turnstile, lock = _open_lock(SERVERS_TURNSTILE), _open_lock(SERVERS_LOCK)
    try:
        fcntl.flock(turnstile, fcntl.LOCK_EX)
        if exclusive:
            fcntl.flock(lock, fcntl.LOCK_EX)
            fcntl.flock(turnstile, fcntl.LOCK_UN)
        else:
            fcntl.flock(turnstile, fcntl.LOCK_UN)
            fcntl.flock(lock, fcntl.LOCK_SH)
        yield
    finally:
        os.close(lock)  # closing releases the locks
        os.close(turnstile)


def pytest_collection_modifyitems(config, items):
    # The longest tests first: with xdist's work stealing the others fill the workers around them,
    # where one started last would keep the run going alone for its whole length.
    items.sort(key=lambda item: item.get_closest_marker("slow") is None)


def unavailable(what: str, why: str) -> None:
    """Skip on a laptop without the server; fail on CI, where it must be there."""
    message = f"{what} is not reachable ({why})"
    if os.environ.get("CI"):
        pytest.fail(f"{message}, and CI is set: the test environment must provide it")
    pytest.skip(message)


def _pg_url(name: str) -> str:
    return PG_ADMIN_URL.rsplit("/", 1)[0] + f"/{name}"


def _pg_admin() -> Engine:
    try:
        admin = create_engine(PG_ADMIN_URL, isolation_level="AUTOCOMMIT", pool_pre_ping=True,
                              connect_args={"connect_timeout": 3})
        with admin.connect() as conn:
            conn.execute(text("SELECT 1"))
    except Exception as exc:  # noqa: BLE001
        unavailable("PostgreSQL", type(exc).__name__)
    return admin


# This process's migrated template database (one per xdist worker), made on first use and
# dropped at the end of the session: CREATE DATABASE ... TEMPLATE copies it in a fraction of the
# time the migrations take (0.07 s against 0.4 s here).
_pg_template: list[str] = []


def _migrated_template(admin: Engine) -> str:
    if not _pg_template:
        name = f"taskconsole_tmpl_{uuid.uuid4().hex[:10]}"
        with admin.connect() as conn:
            conn.execute(text(f'CREATE DATABASE "{name}"'))
        engine = make_engine(_pg_url(name))
        try:
            schema.upgrade(engine)
        except BaseException:  # a half-migrated template is no template: gone, and tried again next time
            engine.dispose()
            with admin.connect() as conn:
                conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
            raise
        engine.dispose()
        _pg_template.append(name)
    return _pg_template[0]


def pytest_sessionfinish(session, exitstatus):
    if _pg_template:
        admin = create_engine(PG_ADMIN_URL, isolation_level="AUTOCOMMIT", connect_args={"connect_timeout": 3})
        try:
            with admin.connect() as conn:
                conn.execute(text(f'DROP DATABASE IF EXISTS "{_pg_template.pop()}" WITH (FORCE)'))
        except Exception:  # noqa: BLE001 - the server may be gone; the name is unique, nothing reuses it
            pass
        admin.dispose()


@contextmanager
def fresh_pg_database(prefix: str, *, migrated: bool = False):
    """A new PostgreSQL database, dropped afterwards; yields its URL (skips if no server).

    Empty, or with ``migrated`` at the schema's head (a copy of this process's template)."""
    admin = _pg_admin()
    name = f"{prefix}_{uuid.uuid4().hex[:10]}"
    template = f' TEMPLATE "{_migrated_template(admin)}"' if migrated else ""
    with admin.connect() as conn:
        conn.execute(text(f'CREATE DATABASE "{name}"{template}'))
    try:
        yield _pg_url(name)
    finally:
        with admin.connect() as conn:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()


@pytest.fixture(scope="session")
def pg_server() -> str:
    """A migrated PostgreSQL database for this session; yields its URL."""
    with fresh_pg_database("taskconsole_test", migrated=True) as url:
        yield url


@pytest.fixture(scope="session")
def sqlite_template(tmp_path_factory) -> Path:
    """A SQLite file migrated once per session (per xdist worker), for ``copy_migrated``."""
    path = tmp_path_factory.mktemp("sqlite-template") / "migrated.db"
    engine = make_engine(f"sqlite:///{path}")
    schema.upgrade(engine)
    engine.dispose()  # the last connection closed: the WAL is checkpointed into the file and removed
    return path


def copy_migrated(template: Path, to: Path) -> str:
    """A migrated, empty SQLite database at ``to`` (a copy of the template, 0600 as
    taskconsole makes it); returns its URL."""
    shutil.copyfile(template, to)
    os.chmod(to, 0o600)
    return f"sqlite:///{to}"


@dataclass
class Db:
    """A migrated, empty database of one backend."""

    backend: str
    url: str
    engine: Engine

    @property
    def is_pg(self) -> bool:
        return self.backend == "postgresql"


@pytest.fixture(params=["sqlite", "postgresql"])
def db(request, tmp_path: Path) -> Db:
    if request.param == "sqlite":
        url = copy_migrated(request.getfixturevalue("sqlite_template"), tmp_path / "test.db")
        engine = make_engine(url)
    else:
        url = request.getfixturevalue("pg_server")
        engine = make_engine(url)
        with engine.begin() as conn:
            conn.execute(text(f"TRUNCATE {', '.join(TABLES)} RESTART IDENTITY CASCADE"))
    yield Db(request.param, url, engine)
    engine.dispose()


@pytest.fixture
def sqlite_db(tmp_path: Path, sqlite_template: Path) -> Db:
    url = copy_migrated(sqlite_template, tmp_path / "test.db")
    engine = make_engine(url)
    yield Db("sqlite", url, engine)
    engine.dispose()


@pytest.fixture
def redis_url() -> str:
    try:
        import redis

        client = redis.Redis.from_url(REDIS_URL, socket_connect_timeout=1)
        client.ping()
        client.close()
    except Exception as exc:  # noqa: BLE001
        unavailable("Redis", type(exc).__name__)
    return REDIS_URL


@pytest.fixture
def settings() -> Settings:
    return Settings()


class Rows:
    """Factories for users and tasks, with sensible defaults around NOW."""

    def __init__(self, engine: Engine, now: datetime = NOW):
        self.engine, self.now = engine, now
        self._user = 0

    def user(self, name: str | None = None, *, admin: bool = False) -> int:
        with self.engine.begin() as conn:
            return conn.execute(
                insert(User).values(name=name or f"user{self._next()}", is_admin=admin).returning(User.id)
            ).scalar_one()

    def _next(self) -> int:
        self._user += 1
        return self._user

    def task(self, **values) -> int:
        row = dict(
            title="task", category="normal", status="processing", progress=0.0, time_progress=0.0,
            expected_start_time=None, expected_end_time=None, actual_start_time=None, actual_end_time=None,
            current_handler_id=None, created_at=self.now - timedelta(days=30), updated_at=self.now - timedelta(days=1),
        )
        row.update(values)
        state = {k: row.pop(k) for k in STATE_COLUMNS if k in row}
        with self.engine.begin() as conn:
            task_id = conn.execute(insert(Task).values(**row).returning(Task.id)).scalar_one()
            if any(v is not None for v in state.values()):
                conn.execute(insert(TaskState).values(task_id=task_id, **state))
            return task_id

    def state(self, task_id: int, **values) -> None:
        """Set taskconsole's state about a task (task_state), as the reset job or a plan writes it."""
        set_state(self.engine, task_id, **values)

    def processing(self, *, time_pct: float, progress: float, handler: int | None, hours: float = 100.0,
                   **values) -> int:
        """A processing task whose window is ``time_pct`` percent elapsed at NOW."""
        length = timedelta(hours=hours)
        start = self.now - length * (time_pct / 100.0)
        values.setdefault("status", "processing")
        return self.task(progress=progress, expected_start_time=start, expected_end_time=start + length,
                         current_handler_id=handler, **values)


def schedule_table(settings: Settings, engine: Engine) -> ScheduleTable:
    """The job store's rows as the command line sees them (no scheduler fires here)."""
    return ScheduleTable(settings, *table_scheduler(settings, engine))


def set_state(engine: Engine, task_id: int, **values) -> None:
    """Upsert ``values`` (task_state columns) into the task's task_state row."""
    from sqlalchemy import select, update

    with engine.begin() as conn:
        if conn.execute(select(TaskState.task_id).where(TaskState.task_id == task_id)).first() is None:
            conn.execute(insert(TaskState).values(task_id=task_id, **values))
        else:
            conn.execute(update(TaskState).where(TaskState.task_id == task_id).values(**values))


@pytest.fixture
def rows(db: Db) -> Rows:
    return Rows(db.engine)
