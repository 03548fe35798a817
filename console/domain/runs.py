"""The words of the run ledger: how a run ended (or that it is running), and what started it.

Both are part of the contract (``jobs history --json``, the HTTP API, the metrics' labels), so
they are written here once; members are ``str``, so they are stored and compared as the words.
"""

from __future__ import annotations

from enum import StrEnum


class RunStatus(StrEnum):
    RUNNING = "running"
    SUCCESS = "success"
    FAILED = "failed"  # also a run interrupted or stopped: its error says which
    MISSED = "missed"
    SKIPPED = "skipped"
    ABANDONED = "abandoned"


class TriggerKind(StrEnum):
    SCHEDULED = "scheduled"
    MANUAL = "manual"
    RETRY = "retry"
