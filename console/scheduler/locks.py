"""Per-job locks that hold across processes and vanish with the process that held them.

PostgreSQL: a session-level advisory lock on a connection kept for the run; the server drops it
when that session ends, however the process died. SQLite: ``flock`` on a file beside the
database; the kernel drops it with the process. So a lock is never left behind by a crash, and
a run found marked ``running`` while its lock is free was abandoned.
"""

from __future__ import annotations

import fcntl
import hashlib
import os
import threading
from pathlib import Path
from typing import Protocol

from sqlalchemy import Connection, Engine, text


class HeldLock(Protocol):
    def release(self) -> None: ...

    def alive(self) -> bool: ...


def lock_key(name: str) -> int:
    """A stable signed 64-bit key for ``pg_advisory_lock``."""
    digest = hashlib.sha256(f"taskconsole:{name}".encode()).digest()
    return int.from_bytes(digest[:8], "big", signed=True)


class _PgLock:
    def __init__(self, conn: Connection, key: int):
        self._conn, self._key = conn, key
        # The leader's lock is checked from the node's thread and before each scheduled firing;
        # a SQLAlchemy connection is not to be used by two threads at once.
        self._guard = threading.Lock()

    def release(self) -> None:
        with self._guard:
            try:
                self._conn.execute(text("SELECT pg_advisory_unlock(:k)"), {"k": self._key})
                self._conn.commit()
            except Exception:  # noqa: BLE001 - a dead session has dropped the lock already
                # A live one may not have: never hand it back to the pool still holding the lock.
                self._conn.invalidate()
            finally:
                self._conn.close()

    def alive(self) -> bool:
        """Whether the session holding the lock still answers (if it does, the lock is still ours)."""
        with self._guard:
            try:
                self._conn.execute(text("SELECT 1"))
                self._conn.commit()
                return True
            except Exception:  # noqa: BLE001 - a lost session means a lost lock
                return False


class _FileLock:
    def __init__(self, fd: int):
        self._fd = fd

    def release(self) -> None:
        try:
            fcntl.flock(self._fd, fcntl.LOCK_UN)
        finally:
            os.close(self._fd)

    def alive(self) -> bool:
        return True  # held by this process's open file until it closes or the process ends


class _ThreadLock:
    def __init__(self, lock: threading.Lock):
        self._lock = lock

    def release(self) -> None:
        self._lock.release()

    def alive(self) -> bool:
        return True


_memory_locks: dict[str, threading.Lock] = {}
_memory_guard = threading.Lock()


class JobLocks:
    """``try_acquire(name)`` returns a held lock, or None when someone else holds it."""

    def __init__(self, engine: Engine):
        self._engine = engine
        database = engine.url.database if engine.dialect.name == "sqlite" else None
        self._folder: Path | None = None
        self._stem = ""
        if database and database != ":memory:":
            path = Path(database).expanduser().resolve()
            self._folder, self._stem = path.parent, path.name

    def try_acquire(self, name: str) -> HeldLock | None:
        if self._engine.dialect.name == "postgresql":
            return self._pg(name)
        if self._folder is not None:
            return self._file(name)
        return self._memory(name)

    def _pg(self, name: str) -> HeldLock | None:
        key = lock_key(name)
        conn = self._engine.connect()
        try:
            got = conn.execute(text("SELECT pg_try_advisory_lock(:k)"), {"k": key}).scalar_one()
            conn.commit()  # the lock is the session's; no transaction stays open
        except BaseException:
            conn.close()
            raise
        if got:
            return _PgLock(conn, key)
        conn.close()
        return None

    def _file(self, name: str) -> HeldLock | None:
        assert self._folder is not None
        path = self._folder / f".{self._stem}.{name}.lock"
        fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o600)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            os.close(fd)
            return None
        return _FileLock(fd)

    def _memory(self, name: str) -> HeldLock | None:
        with _memory_guard:
            lock = _memory_locks.setdefault(f"{id(self._engine)}:{name}", threading.Lock())
        return _ThreadLock(lock) if lock.acquire(blocking=False) else None


# The leader's session tells the server to drop it (and so the lock) within about 11 s of its host
# going silent, and tells this process as fast when the server goes silent; the defaults are hours.
_KEEPALIVE_SQL = ("SET tcp_keepalives_idle = 5; SET tcp_keepalives_interval = 2; SET tcp_keepalives_count = 3; "
                  "SET tcp_user_timeout = 10000")
_KEEPALIVE_ARGS = {"keepalives": 1, "keepalives_idle": 5, "keepalives_interval": 2, "keepalives_count": 3,
                   "tcp_user_timeout": 10000, "connect_timeout": 5, "application_name": "taskconsole leader"}


class LeaderLock:
    """The one lock that makes a process the leader: ``try_acquire()``, ``alive()``, ``release()``.

    PostgreSQL: a session advisory lock on a connection of its own (not from the pool), with TCP
    keepalives both ways, so a dead leader, its lost host or its lost connection frees it within
    seconds. SQLite: ``flock`` on a file beside the database, which the kernel frees with the
    process.
    """

    def __init__(self, engine: Engine):
        self._engine = engine
        self._held: HeldLock | None = None
        self._session_engine: Engine | None = None
        self._probe: Connection | None = None

    @property
    def held(self) -> bool:
        return self._held is not None

    def try_acquire(self) -> bool:
        if self._held is not None:
            return True
        if self._engine.dialect.name != "postgresql":
            self._held = JobLocks(self._engine).try_acquire("leader")
            return self._held is not None
        from sqlalchemy import create_engine
        from sqlalchemy.pool import NullPool

        if self._session_engine is None:
            self._session_engine = create_engine(self._engine.url, poolclass=NullPool, hide_parameters=True,
                                                 connect_args=_KEEPALIVE_ARGS)
        # A standby asks every few seconds on the same session rather than connecting each time.
        fresh = self._probe is None
        if fresh:
            self._probe = self._session_engine.connect()
        conn = self._probe
        try:
            if fresh:
                conn.exec_driver_sql(_KEEPALIVE_SQL)
            got = conn.execute(text("SELECT pg_try_advisory_lock(:k)"), {"k": lock_key("leader")}).scalar_one()
            conn.commit()
        except BaseException:
            self._probe = None
            conn.close()
            raise
        if not got:
            return False
        self._probe = None
        self._held = _PgLock(conn, lock_key("leader"))
        return True

    def alive(self) -> bool:
        return self._held is not None and self._held.alive()

    def release(self) -> None:
        held, self._held = self._held, None
        if held is not None:
            held.release()

    def close(self) -> None:
        """Release, and end the standby's session too."""
        self.release()
        probe, self._probe = self._probe, None
        if probe is not None:
            probe.close()
