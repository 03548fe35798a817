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


def lock_key(name: str) -> int:
    """A stable signed 64-bit key for ``pg_advisory_lock``."""
    digest = hashlib.sha256(f"taskconsole:{name}".encode()).digest()
    return int.from_bytes(digest[:8], "big", signed=True)


class _PgLock:
    def __init__(self, conn: Connection, key: int):
        self._conn, self._key = conn, key

    def release(self) -> None:
        try:
            self._conn.execute(text("SELECT pg_advisory_unlock(:k)"), {"k": self._key})
            self._conn.commit()
        except Exception:  # noqa: BLE001 - a dead session has dropped the lock already
            pass
        finally:
            self._conn.close()


class _FileLock:
    def __init__(self, fd: int):
        self._fd = fd

    def release(self) -> None:
        try:
            fcntl.flock(self._fd, fcntl.LOCK_UN)
        finally:
            os.close(self._fd)


class _ThreadLock:
    def __init__(self, lock: threading.Lock):
        self._lock = lock

    def release(self) -> None:
        self._lock.release()


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
