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


class JobId(StrEnum):
    """The four jobs, in the settings' (and the console's) order."""

    RESET_PERIODIC_TASKS = "reset_periodic_tasks"
    CHECK_TASK_WARNINGS = "check_task_warnings"
    UPDATE_TIME_PROGRESS = "update_time_progress"
    CLEANUP_OLD_DATA = "cleanup_old_data"


class JobState(StrEnum):
    """What a job is doing, as ``jobs list`` and the console show it."""

    SCHEDULED = "scheduled"
    PAUSED = "paused"  # the job, or the whole scheduler
    RUNNING = "running"
    DISABLED = "disabled"  # by settings
    REFUSED = "refused"  # its job store row would not load: it does not fire


class Action(StrEnum):
    """What an operator asks of a job or of the whole scheduler (the audit's and the queue's words)."""

    RUN = "run"
    PAUSE = "pause"
    RESUME = "resume"
    PAUSE_ALL = "pause_all"
    RESUME_ALL = "resume_all"


class Outcome(StrEnum):
    """How an operator's action ended (a run's own status aside)."""

    DONE = "done"
    SUCCESS = "success"  # a run
    FAILED = "failed"
    ALREADY_RUNNING = "already_running"
    NOT_STARTED = "not_started"
    QUEUED = "queued"  # sent to the leader, not taken within the wait
    STARTED = "started"  # a run the leader took and is carrying out
    REQUESTED = "requested"  # asked over the HTTP API (the audit's first line; the outcome follows)
