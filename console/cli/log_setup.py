"""Logging for services: text or JSON lines, to standard error or a file rotated by size, with
the job and run id on every line of a run, and the job lines in Chinese where asked
(``logging.*`` in settings).

Records are made at INFO whatever is written (the run logs in job_run_logs keep them); the
handler's level decides what reaches the terminal or the file.
"""

from __future__ import annotations

import json
import logging
import os
import socket
import sys
from datetime import datetime, timezone

from console.domain.text import log_message, printable
from console.cli.log_file import LogFile
from console.service import current_run
from console.settings import LoggingSettings, SettingsError

HOST = socket.gethostname()

# The runner's job lines (console.scheduler.runner) in the design document's words.
ZH_JOB_LINES = {
    "job %s started (%s, attempt %d, run %d)": lambda a: f"任务开始: {a[0]}",
    "job %s finished in %.2f s: %s": lambda a: f"任务完成: {a[0]}, 耗时: {a[1]:.2f}秒",
    "job %s failed after %.2f s: %s": lambda a: f"任务失败: {a[0]}, 错误: {a[2]}",
    "job %s failed after %.2f s: %s (%s)": lambda a: f"任务失败: {a[0]}, 错误: {a[2]}",
    "%s: attempt %d failed, retrying in %.0f s (retry %d of %d)": lambda a: f"任务失败，正在重试({a[3]}/{a[4]}): {a[0]}",
    "job %s failed for good; %d admin(s) alerted": lambda a: f"任务失败(已通知{a[1]}位管理员): {a[0]}",
}


class RunContext(logging.Filter):
    """Puts the job and run id of the run logging on this thread (if any) on the record."""

    def filter(self, record: logging.LogRecord) -> bool:
        run = current_run()
        if run:
            record.run_id, record.job_id = run
        else:  # a line about a run logged outside it (a retry's wait, the failure alert) names it itself
            record.run_id, record.job_id = getattr(record, "run_id", None), getattr(record, "job_id", None)
        return True


def message_of(record: logging.LogRecord, locale: str) -> str:
    if locale == "zh_CN" and record.msg in ZH_JOB_LINES and isinstance(record.args, tuple):
        try:
            return ZH_JOB_LINES[record.msg](record.args)
        except Exception:  # noqa: BLE001 - a line that does not fit its template is written as it is
            pass
    return log_message(record)


class TextLines(logging.Formatter):
    """``time LEVEL logger: [job #run] message``; data in it may not act on the terminal."""

    def __init__(self, locale: str):
        super().__init__("%(asctime)s %(levelname)-7s %(name)s: %(message)s")
        self.locale = locale

    def format(self, record: logging.LogRecord) -> str:
        message = message_of(record, self.locale)
        if getattr(record, "job_id", None):
            message = f"[{record.job_id} #{record.run_id}] {message}"
        line = f"{self.formatTime(record)} {record.levelname:<7} {record.name}: {message}"
        return printable(line, keep_newlines=True)


class JsonLines(logging.Formatter):
    """One JSON object a line: a newline or ESC in a title is escaped, never a line of its own."""

    def __init__(self, locale: str):
        super().__init__()
        self.locale = locale

    def format(self, record: logging.LogRecord) -> str:
        return json.dumps({
            "time": datetime.fromtimestamp(record.created, timezone.utc).isoformat(timespec="milliseconds"),
            "level": record.levelname, "logger": record.name, "message": message_of(record, self.locale),
            "job_id": getattr(record, "job_id", None), "run_id": getattr(record, "run_id", None),
            "host": HOST, "pid": os.getpid(),
        }, ensure_ascii=False)


def handler_for(settings: LoggingSettings, level: int, *, to_file: bool = True) -> logging.Handler:
    if settings.file and to_file:
        handler: logging.Handler = LogFile(settings.file, max_bytes=settings.max_bytes, backups=settings.backups)
    else:
        handler = logging.StreamHandler(sys.stderr)
    handler.setLevel(level)
    handler.addFilter(RunContext())
    handler.setFormatter(JsonLines(settings.locale) if settings.format == "json" else TextLines(settings.locale))
    return handler


def configure(settings: LoggingSettings, *, service: bool, verbose: bool) -> None:
    """``service``: run or serve, which write at ``logging.level``; other commands write warnings
    unless ``verbose`` (a job run watched in the foreground)."""
    level = getattr(logging, settings.level) if service else (logging.INFO if verbose else logging.WARNING)
    root = logging.getLogger()
    for old in root.handlers[:]:
        root.removeHandler(old)
        if isinstance(old, LogFile):
            old.close()  # its writer lock goes with it
    # The file is the services' (run, serve): a one-off command (db upgrade, status) answers on
    # the terminal, in the same format.
    root.addHandler(handler_for(settings, level, to_file=service))
    root.setLevel(min(logging.INFO, level))
    logging.getLogger("alembic").setLevel(logging.WARNING)
    logging.getLogger("apscheduler").setLevel(logging.INFO if verbose or service else logging.WARNING)
