"""The words of runs and jobs: how a run ended (or that it is running), what started it, the job
ids, a job's and the scheduler's state, and what an operator asked for and how that ended.

They are part of the contract (``jobs history --json``, the HTTP API, the metrics' labels, the
audit), so they are written here once and everywhere else by member (a test reads every module
for a stray word); members are ``str``, so they are stored, compared and shown as the words.
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
    # The leader's frequent look for thresholds crossed since the last (warnings.check_every):
    # recorded only when it sent something.
    PRECISE = "precise"


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


class SchedulerState(StrEnum):
    """What this process's scheduler is doing (``status``, the console's status bar, a node's row)."""

    STARTING = "starting"
    RUNNING = "running"  # leading and firing
    PAUSED = "paused"  # leading, the whole scheduler paused
    STOPPED = "stopped"
    STANDBY = "standby"  # in the election, another process leads
    ATTACHED = "attached"  # a console following the leader
    FENCED = "fenced"  # the schema fence holds it: this release does not know the database's revision


class Action(StrEnum):
    """What an operator asks of a job or of the whole scheduler (the audit's and the queue's words)."""

    RUN = "run"
    PAUSE = "pause"
    RESUME = "resume"
    PAUSE_ALL = "pause_all"
    RESUME_ALL = "resume_all"
    SET_RECURRENCE = "set-recurrence"  # a task's own recurrence rule (audited; never queued)


class Outcome(StrEnum):
    """How an operator's action, or the command that carried it to the leader, ended.

    One set of words for both: the audit, the command queue's rows and the answers of the faces.
    A run's outcome is its status (``success`` or ``failed``, the same words as ``RunStatus``).
    """

    DONE = "done"
    SUCCESS = "success"  # a run
    FAILED = "failed"
    ALREADY_RUNNING = "already_running"
    NOT_STARTED = "not_started"
    QUEUED = "queued"  # sent to the leader, not taken within the wait
    STARTED = "started"  # a run the leader took and is carrying out
    REQUESTED = "requested"  # asked over the HTTP API (the audit's first line; the outcome follows)
    EXPIRED = "expired"  # a queued command no leader took within its time: not carried out late
    ABANDONED = "abandoned"  # a command the leader that took it never finished (it ended first)
