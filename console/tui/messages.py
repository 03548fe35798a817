"""Messages the console posts to itself, named as past events.

Workers and scheduler threads never touch widgets: they post one of these, and the app's
handlers (on the UI thread) update the screen.
"""

from __future__ import annotations

import logging
from typing import Any

from textual.message import Message

from console.service.facade import Dashboard


class DashboardLoaded(Message):
    """A refresh finished; only the newest one matters, so a backlog folds into one."""

    def __init__(self, dashboard: Dashboard, lines: list | None = None, high: int | None = None,
                 rows: Any = None) -> None:
        super().__init__()
        self.dashboard = dashboard
        self.rows = rows  # the tables' rows, made on the worker (console.tui.widgets.PanelRows)
        self.lines = lines or []  # run log lines of other processes read with it
        self.high = high  # on the first read: the newest line id in job_run_logs, any process's

    def can_replace(self, message: Message) -> bool:
        # Never one that brought log lines: they would not be read again.
        return isinstance(message, DashboardLoaded) and not message.lines and message.high is None


class RunEventReceived(Message):
    """A job run started or finished (from the runner, on a scheduler thread)."""

    def __init__(self, event: dict[str, Any]) -> None:
        super().__init__()
        self.event = event


class LogRecorded(Message):
    """A log record from any thread, for the logs panel."""

    def __init__(self, record: logging.LogRecord) -> None:
        super().__init__()
        self.record = record
