"""Log lines on screen: the handler that feeds them from any thread, the entries they become,
and the Logs panel at the bottom of the main screen.

A line reaches the console two ways: this process's own records (through ``ConsoleLogHandler``,
live), and the run log lines other processes wrote to job_run_logs (read at each refresh), so
an attached console shows the leader's runs too. Both become ``LogEntry``; the panel and the
full-screen log view (``console.tui.log_views``) draw the same entries.
"""

from __future__ import annotations

import logging
from collections import deque
from dataclasses import dataclass
from datetime import datetime, timezone
from zoneinfo import ZoneInfo

from rich.text import Text
from textual.app import App
from textual.widgets import RichLog

from console.domain.text import log_message, printable
from console.service import LogLine, current_run
from console.tui.format import LOG_STYLES
from console.tui.messages import LogRecorded

KEPT = 5000  # entries the console keeps for its views; older ones are in job_run_logs


@dataclass(frozen=True)
class LogEntry:
    at: datetime
    level: str
    message: str
    job_id: str | None = None
    run_id: int | None = None
    remote: bool = False  # written by another process (read from job_run_logs)

    @classmethod
    def from_record(cls, record: logging.LogRecord) -> "LogEntry":
        message = log_message(record, with_error=record.levelno >= logging.ERROR)
        run = getattr(record, "console_run", None)
        return cls(at=datetime.fromtimestamp(record.created, timezone.utc), level=record.levelname, message=message,
                   job_id=run[1] if run else None, run_id=run[0] if run else None)

    @classmethod
    def from_line(cls, line: LogLine) -> "LogEntry":
        return cls(at=line.at, level=line.level, message=line.message, job_id=line.job_id, run_id=line.run_id,
                   remote=True)

    def text(self, tz: ZoneInfo, *, wrap: bool = False) -> Text:
        """The line as shown: time, level, run, message; data shown literally, never as markup."""
        line = Text(no_wrap=not wrap)
        line.append(f"{self.at.astimezone(tz).strftime('%H:%M:%S')} ", style="dim")
        line.append(f"{self.level:<7} ", style=LOG_STYLES.get(self.level, "") or "bold")
        if self.run_id is not None:
            line.append(f"#{self.run_id} ", style="cyan")
        line.append(printable(self.message), style=LOG_STYLES.get(self.level, ""))
        return line


class ConsoleLogHandler(logging.Handler):
    """Posts each record to the app as a message (thread-safe); never writes to the terminal."""

    def __init__(self, app: App, level: int = logging.INFO):
        super().__init__(level)
        self.app = app

    def emit(self, record: logging.LogRecord) -> None:
        try:
            # On the thread that logged: the run it belongs to, if any (console.scheduler.run_logs).
            record.console_run = current_run()
            self.app.post_message(LogRecorded(record))
        except Exception:  # noqa: BLE001 - logging must never raise
            pass


class LogPanel(RichLog):
    """A live tail of scheduler and job logs, coloured by level, shown literally."""

    def __init__(self, tz: ZoneInfo, **kwargs):
        super().__init__(max_lines=1000, wrap=False, highlight=False, markup=False, auto_scroll=True, **kwargs)
        self.tz = tz
        self.entries: deque[LogEntry] = deque(maxlen=KEPT)

    def add(self, record: logging.LogRecord) -> LogEntry:
        return self.add_entry(LogEntry.from_record(record))

    def add_entry(self, entry: LogEntry) -> LogEntry:
        self.entries.append(entry)
        self.write(entry.text(self.tz))
        return entry
