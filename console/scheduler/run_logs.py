"""The log lines of job runs, kept in job_run_logs so that any console shows them.

While a run executes, ``RunLogSink.capturing`` marks its thread (a context variable); one
handler on the ``console`` logger hands that thread's records to the sink. The sink writes them
in batches, never on the job's thread while its transaction is open: at the run's end, and on
PostgreSQL also every second from a flusher thread, so an attached console follows a long run
live. On SQLite, where a second writer would wait on the job's lock, lines are written at the
run's end only.

Memory stays bounded: the queue holds at most ``QUEUE`` lines (the oldest go first while the
database is away), and a run keeps at most ``run_logs.lines_per_run`` lines: the first half
and the last half, with one line between saying how many were dropped. Lines older than ``run_logs.keep`` are deleted once an hour.
"""

from __future__ import annotations

import logging
import os
import socket
import threading
import time
from collections import deque
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import Iterator

from sqlalchemy import Engine, and_, delete, insert, not_, select

from console.db.models import RunLogLine
from console.domain.text import log_message
from console.settings import Settings

QUEUE = 10_000
FLUSH_EVERY_S = 1.0
PRUNE_EVERY_S = 3600.0
MESSAGE_CHARS = 8000  # a line longer than this is cut: a log line, not a data dump

_CURRENT: ContextVar[tuple["RunLogSink", int, str] | None] = ContextVar("console_run", default=None)
HOST = socket.gethostname()[:255]


@dataclass(frozen=True)
class LogLine:
    id: int
    run_id: int
    job_id: str
    at: datetime
    level: str
    logger: str
    message: str


class _Capture(logging.Handler):
    """Hands each record logged on a run's thread to that run's sink."""

    def emit(self, record: logging.LogRecord) -> None:
        current = _CURRENT.get()
        if current is not None:
            sink, run_id, job_id = current
            sink.add(run_id, job_id, record)


_capture = _Capture(logging.INFO)
_installed = threading.Lock()


def _install() -> None:
    with _installed:
        root = logging.getLogger("console")
        if _capture not in root.handlers:
            root.addHandler(_capture)
        # A run's log keeps its INFO lines (started, finished, what changed), so they must be made
        # even where the process logs at WARNING; what reaches a terminal is its handlers' choice.
        if root.getEffectiveLevel() > logging.INFO:
            root.setLevel(logging.INFO)


def current_run() -> tuple[int, str] | None:
    """(run id, job id) of the run executing on this thread, if any."""
    current = _CURRENT.get()
    return (current[1], current[2]) if current else None


class RunLogSink:
    def __init__(self, engine: Engine, settings: Settings):
        self.engine = engine
        self.keep = settings.run_logs.keep
        self.per_run = settings.run_logs.lines_per_run
        self.live = engine.url.get_backend_name() != "sqlite"
        self._queue: deque[dict] = deque(maxlen=QUEUE)
        self._lines: dict[int, int] = {}  # run id -> lines taken
        self._tails: dict[int, deque[dict]] = {}  # run id -> its newest lines past the head
        self._lock = threading.Lock()
        self._write = threading.Lock()
        self._pruned = 0.0
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self.failures = 0  # batches the database refused (kept queued, retried)
        _install()

    @contextmanager
    def capturing(self, run_id: int, job_id: str) -> Iterator[None]:
        if self.live and self._thread is None:
            self._thread = threading.Thread(target=self._loop, name="run-log-flusher", daemon=True)
            self._thread.start()
        token = _CURRENT.set((self, run_id, job_id))
        try:
            yield
        finally:
            _CURRENT.reset(token)
            self._end_run(run_id, job_id)
            self.flush()

    def add(self, run_id: int, job_id: str, record: logging.LogRecord) -> None:
        row = self._row(run_id, job_id, record.created, record.levelname, record.name, log_message(record))
        with self._lock:
            taken = self._lines.get(run_id, 0)
            self._lines[run_id] = taken + 1
            if taken < self.per_run // 2:
                self._queue.append(row)  # the head: written as it comes
                return
            # Past the head, the newest lines are held (bounded) and written when the run ends,
            # so a chatty run keeps how it began and how it ended.
            tail = self._tails.setdefault(run_id, deque(maxlen=self.per_run - self.per_run // 2))
            tail.append(row)

    def _row(self, run_id: int, job_id: str, created: float, level: str, logger: str, message: str) -> dict:
        return {"run_id": run_id, "job_id": job_id[:64], "at": datetime.fromtimestamp(created, timezone.utc),
                "level": level[:8], "logger": logger[:64], "message": message[:MESSAGE_CHARS], "host": HOST,
                "pid": os.getpid()}

    def _end_run(self, run_id: int, job_id: str) -> None:
        with self._lock:
            taken = self._lines.pop(run_id, 0)
            tail = self._tails.pop(run_id, deque())
            dropped = taken - self.per_run // 2 - len(tail)
            if dropped > 0:
                first = tail[0]["at"].timestamp() if tail else time.time()
                self._queue.append(self._row(run_id, job_id, first, "WARNING", "console.scheduler",
                                             f"{dropped} log line(s) of this run dropped here "
                                             f"(run_logs.lines_per_run is {self.per_run})"))
            self._queue.extend(tail)

    def flush(self) -> None:
        """Write what is queued, in one statement; kept queued if the database refuses it."""
        with self._write:
            with self._lock:
                rows = list(self._queue)
                self._queue.clear()
            if not rows:
                return
            try:
                with self.engine.begin() as conn:
                    conn.execute(insert(RunLogLine), rows)
                    if time.monotonic() - self._pruned >= PRUNE_EVERY_S:
                        conn.execute(delete(RunLogLine).where(RunLogLine.at < datetime.now(timezone.utc) - self.keep))
                        self._pruned = time.monotonic()
            except Exception:  # noqa: BLE001 - the database is away: keep the lines (bounded) for later
                self.failures += 1
                with self._lock:
                    kept = rows + list(self._queue)
                    self._queue.clear()
                    self._queue.extend(kept)  # past QUEUE lines, the oldest go

    def _loop(self) -> None:
        while not self._stop.wait(FLUSH_EVERY_S):
            self.flush()

    def close(self) -> None:
        self._stop.set()
        self.flush()


def run_log(engine: Engine, run_id: int, limit: int = 100_000) -> list[LogLine]:
    """Every kept line of one run, in order."""
    with engine.connect() as conn:
        rows = conn.execute(select(RunLogLine).where(RunLogLine.run_id == run_id)
                            .order_by(RunLogLine.id).limit(limit)).all()
    return [_line(r) for r in rows]


def log_tail(engine: Engine, after_id: int | None, *, others_only: bool = True, limit: int = 500) -> list[LogLine]:
    """Lines written after ``after_id`` (the newest ``limit`` when None), oldest first. With
    ``others_only``, not those this process wrote: its own console shows them live."""
    query = select(RunLogLine)
    if others_only:
        query = query.where(not_(and_(RunLogLine.host == HOST, RunLogLine.pid == os.getpid())))
    with engine.connect() as conn:
        if after_id is None:
            rows = conn.execute(query.order_by(RunLogLine.id.desc()).limit(limit)).all()[::-1]
        else:
            rows = conn.execute(query.where(RunLogLine.id > after_id).order_by(RunLogLine.id).limit(limit)).all()
    return [_line(r) for r in rows]


def last_line_id(engine: Engine) -> int:
    with engine.connect() as conn:
        return conn.execute(select(RunLogLine.id).order_by(RunLogLine.id.desc()).limit(1)).scalar() or 0


def _line(r) -> LogLine:
    return LogLine(id=r.id, run_id=r.run_id, job_id=r.job_id, at=r.at, level=r.level, logger=r.logger,
                   message=r.message)
