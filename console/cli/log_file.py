"""``logging.file``: the services' rotating log file, as a guest on the host's disk.

- One writer per file: the handler holds an ``flock`` on ``<file>.lock`` (with its pid in it) for
  the life of the process. A second process naming the same file is refused (exit 2, naming the
  first's pid): two RotatingFileHandlers on one file rotate it under each other, and one goes on
  writing into ``.1`` (deleted in time by the other's rotation).
- A file that cannot be written (disk full, removed permissions) costs one line on stderr at most
  once a minute, not a traceback per record; the process goes on, and lines come back when the
  file can be written again.
- Files are created 0640 (the operator's group may read them; others may not).
"""

from __future__ import annotations

import fcntl
import logging.handlers
import os
import sys
import time
from pathlib import Path

from console.domain.text import printable
from console.settings import SettingsError

MODE = 0o640
COMPLAIN_EVERY_S = 60.0


def writable_problem(file: str) -> str | None:
    """Why ``file`` cannot be written as a log file (None: it can), without creating it."""
    path = Path(file)
    folder = path.parent if str(path.parent) else Path(".")
    if path.is_dir():
        return f"{printable(file)} is a directory"
    if path.exists():
        return None if os.access(path, os.W_OK) else f"{printable(file)} is not writable by this user"
    if not folder.is_dir():
        return f"its folder {printable(str(folder))} does not exist"
    if not os.access(folder, os.W_OK | os.X_OK):
        return f"its folder {printable(str(folder))} is not writable by this user"
    return None


class LogFile(logging.handlers.RotatingFileHandler):
    def __init__(self, file: str, *, max_bytes: int, backups: int):
        problem = writable_problem(file)
        if problem:
            raise SettingsError(f"logging.file: cannot write {printable(file)}: {problem}")
        self._lock_fd = _hold(file)
        self._complained = float("-inf")
        try:
            super().__init__(file, maxBytes=max_bytes, backupCount=backups, encoding="utf-8")
        except OSError as exc:
            os.close(self._lock_fd)
            raise SettingsError(f"logging.file: cannot write {printable(file)}: {exc.strerror}") from None

    def _open(self):
        # Created 0640 whatever the umask; an existing file keeps its mode.
        fd = os.open(self.baseFilename, os.O_WRONLY | os.O_APPEND | os.O_CREAT, MODE)
        try:
            if os.fstat(fd).st_size == 0:
                os.fchmod(fd, MODE)
        except OSError:
            pass
        return open(fd, self.mode, encoding=self.encoding, errors=self.errors)

    def handleError(self, record: logging.LogRecord) -> None:  # noqa: N802 - logging's name
        now = time.monotonic()
        if now - self._complained < COMPLAIN_EVERY_S:
            return
        self._complained = now
        error = sys.exc_info()[1]
        why = getattr(error, "strerror", None) or type(error).__name__
        try:
            sys.stderr.write(f"taskconsole: cannot write the log file {printable(self.baseFilename)}: {why}; "
                             "its lines are lost until it can be written (said at most once a minute)\n")
        except Exception:  # noqa: BLE001 - nowhere left to say it
            pass

    def close(self) -> None:
        try:
            super().close()
        finally:
            if self._lock_fd is not None:
                os.close(self._lock_fd)  # the flock goes with it
                self._lock_fd = None


def _hold(file: str) -> int:
    """The writer's lock on ``<file>.lock``; refuses when another process holds it."""
    lock = f"{file}.lock"
    try:
        fd = os.open(lock, os.O_RDWR | os.O_CREAT, MODE)
    except OSError as exc:
        raise SettingsError(f"logging.file: cannot write {printable(lock)}: {exc.strerror}") from None
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        try:
            holder = os.pread(fd, 32, 0).decode(errors="replace").strip() or "?"
        finally:
            os.close(fd)
        raise SettingsError(f"logging.file: {printable(file)} is written by another taskconsole process (pid "
                            f"{printable(holder)}); give each process its own logging.file") from None
    os.ftruncate(fd, 0)
    os.pwrite(fd, f"{os.getpid()}\n".encode(), 0)
    return fd
