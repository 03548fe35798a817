"""What a job is given and what it gives back."""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Callable

from sqlalchemy import Engine

from console.db.task_tables import TaskTables, tables_for
from console.settings import Settings

Counts = dict[str, int]


@dataclass
class JobContext:
    """One execution of a job: where, when (``now``, aware), and the run ledger id it writes as."""

    engine: Engine
    settings: Settings
    now: datetime
    run_id: int
    log: logging.Logger = field(default_factory=lambda: logging.getLogger("console.jobs"))
    # Long jobs check this between batches so that a graceful stop does not wait for them.
    should_stop: Callable[[], bool] = lambda: False
    # The task system's tables under the settings' mapping, with their live types.
    tables: TaskTables | None = None

    def __post_init__(self) -> None:
        if self.tables is None:
            self.tables = tables_for(self.engine, self.settings)


class RowsRefused(Exception):
    """The database refused some rows; the others were written and committed.

    Raised by a job at the end of its run so that the run is recorded ``failed`` (retried, then
    alerted) while keeping the counts of what it did write; the message names the refused rows.
    """

    def __init__(self, message: str, counts: Counts):
        super().__init__(message)
        self.counts = counts


@dataclass
class Preview:
    """What a job would change now: counts and a few sample rows. Nothing is written."""

    counts: Counts
    samples: list[dict[str, Any]]


@dataclass(frozen=True)
class JobSpec:
    id: str
    name: str
    short: str  # a few words for narrow tables
    run: Callable[[JobContext], Counts]
    preview: Callable[[JobContext], Preview]

    def __post_init__(self) -> None:
        # Given as a JobId member, kept as its plain word: an id travels into APScheduler's pickled
        # jobs, logs and reprs, where the enum's class has no business.
        object.__setattr__(self, "id", str(self.id))
