"""The recent-logs panel and the logging handler that feeds it from any thread."""

from __future__ import annotations

import logging
from datetime import datetime
from zoneinfo import ZoneInfo

from rich.text import Text
from textual.app import App
from textual.widgets import RichLog

from console.domain.text import printable
from console.tui.format import LOG_STYLES
from console.tui.messages import LogRecorded


class ConsoleLogHandler(logging.Handler):
    """Posts each record to the app as a message (thread-safe); never writes to the terminal."""

    def __init__(self, app: App, level: int = logging.INFO):
        super().__init__(level)
        self.app = app

    def emit(self, record: logging.LogRecord) -> None:
        try:
            self.app.post_message(LogRecorded(record))
        except Exception:  # noqa: BLE001 - logging must never raise
            pass


class LogPanel(RichLog):
    """A live tail of scheduler and job logs, coloured by level, shown literally."""

    def __init__(self, tz: ZoneInfo, **kwargs):
        super().__init__(max_lines=1000, wrap=False, highlight=False, markup=False, auto_scroll=True, **kwargs)
        self.tz = tz

    def add(self, record: logging.LogRecord) -> None:
        when = datetime.fromtimestamp(record.created, self.tz).strftime("%H:%M:%S")
        message = record.getMessage()
        if record.exc_info and record.levelno >= logging.ERROR:
            message += f" ({record.exc_info[1]!s})"
        line = Text(no_wrap=True)
        line.append(f"{when} ", style="dim")
        line.append(f"{record.levelname:<7} ", style=LOG_STYLES.get(record.levelname, "") or "bold")
        line.append(printable(message), style=LOG_STYLES.get(record.levelname, ""))
        self.write(line)
