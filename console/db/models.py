"""SQLAlchemy models: taskconsole's own tables, and the demo schema of the task system's three.

``users``, ``tasks`` and ``notifications`` here are the demo's (and a greenfield start's) shape of
the task system's tables; the jobs reach whatever the task system really has through the mapping
(``console.db.task_tables``), never through these classes. Their indexes and the warning-watch
triggers belong to ``db tune`` (``console.db.tuning``), which ``db upgrade`` applies itself only to
tables it created. Everything taskconsole keeps per task lives in its own tables (``task_state``,
the ledgers), keyed by the task id with no foreign key into the task system's tables: no statement
of the task system's can fail because of them.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    Column,
    Float,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    MetaData,
    String,
    Text,
    Unicode,
    UniqueConstraint,
    text,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

from console.db.column_types import UTCDateTime

# A 64-bit key on PostgreSQL; SQLite only auto-increments INTEGER PRIMARY KEY.
BigId = BigInteger().with_variant(Integer(), "sqlite")

NAMING = {
    "ix": "ix_%(table_name)s_%(column_0_N_name)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING)


class User(Base):
    __tablename__ = "users"

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    name: Mapped[str] = mapped_column(String(200))
    is_admin: Mapped[bool] = mapped_column(Boolean, default=False, server_default=text("false"))


class Task(Base):
    __tablename__ = "tasks"

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    title: Mapped[str] = mapped_column(Text)
    category: Mapped[str | None] = mapped_column(String(32))
    status: Mapped[str] = mapped_column(String(16), default="new")
    # No CHECK constraints on purpose: rows written by other systems may be bad, and the jobs
    # must skip and count them rather than be unable to see them.
    progress: Mapped[float | None] = mapped_column(Float, default=0)
    time_progress: Mapped[float | None] = mapped_column(Float, default=0)
    expected_start_time: Mapped[datetime | None] = mapped_column(UTCDateTime)
    expected_end_time: Mapped[datetime | None] = mapped_column(UTCDateTime)
    actual_start_time: Mapped[datetime | None] = mapped_column(UTCDateTime)
    actual_end_time: Mapped[datetime | None] = mapped_column(UTCDateTime)
    current_handler_id: Mapped[int | None] = mapped_column(
        BigId, ForeignKey("users.id", ondelete="SET NULL")
    )
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime)
    # Per-task recurrence (empty: the settings' default period); see console.domain.recurrence.
    recurrence: Mapped[str | None] = mapped_column(String(500))

    # Indexes: ``db tune`` (console.db.tuning) holds them, built from the mapping.


class Notification(Base):
    __tablename__ = "notifications"

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    user_id: Mapped[int] = mapped_column(BigId, ForeignKey("users.id", ondelete="CASCADE"))
    type: Mapped[str] = mapped_column(String(32))
    title: Mapped[str] = mapped_column(Text)
    content: Mapped[str] = mapped_column(Text)
    # SET NULL: a task system's own key may say otherwise; cleanup deletes a task's notifications with it.
    task_id: Mapped[int | None] = mapped_column(BigId, ForeignKey("tasks.id", ondelete="SET NULL"))
    is_read: Mapped[bool] = mapped_column(Boolean, default=False, server_default=text("false"))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)

    # Indexes: ``db tune`` (console.db.tuning).


class WarningSent(Base):
    """The warning ledger: one row per warning sent. Its unique key (task, cycle, level, repeat)
    makes a second send impossible; a moved deadline keeps the key, a reset starts a new one."""

    __tablename__ = "warning_ledger"

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    # No foreign key: the task system's tasks are not ours to constrain; cleanup deletes the rows.
    task_id: Mapped[int] = mapped_column(BigId)
    level: Mapped[int] = mapped_column(Integer)
    # The window warned of, for the record, as the instants it stood for (UTC, whatever clock the task
    # system keeps: migration 0015); not part of the key (migration 0008).
    window_start: Mapped[datetime] = mapped_column(UTCDateTime)
    window_end: Mapped[datetime] = mapped_column(UTCDateTime)
    # The task's cycle when sent: the id of the run that last reset it (task_state.last_reset_run_id),
    # 0 before any reset, -1 for a row of an earlier cycle kept from before migration 0008.
    cycle: Mapped[int] = mapped_column(BigId, default=0, server_default=text("0"))
    # 0 for the first send in a cycle; n for the n-th repeat after ``repeat_after``.
    repeat_no: Mapped[int] = mapped_column(Integer, default=0)
    sent_at: Mapped[datetime] = mapped_column(UTCDateTime)
    run_id: Mapped[int] = mapped_column(BigId)

    __table_args__ = (
        # The warning check probes it (task, cycle, level), and the panels (task, cycle).
        UniqueConstraint("task_id", "cycle", "level", "repeat_no"),
        Index("ix_warning_ledger_run_id", "run_id"),
        Index("ix_warning_ledger_sent_at_level", "sent_at", "level"),  # warning panel, per hour
    )


class TaskState(Base):
    """What taskconsole keeps per task, in a table of its own (migration 0010): the task system's
    tables stay as that system made them. A row exists only for a task that has some state."""

    __tablename__ = "task_state"

    task_id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=False)
    # Which run reset the task last: its warning cycle, and how a reset's notifications find the
    # tasks it reset.
    last_reset_run_id: Mapped[int | None] = mapped_column(BigId)
    # The task's rule, where the task system has no column for it (task_system.columns.tasks.recurrence: null).
    recurrence: Mapped[str | None] = mapped_column(String(500))
    # When a finished rule-driven task is due, and the actual_end_time that plan was made from
    # (a task finished again needs a new plan). recurrence_error holds why a stored rule is unusable.
    next_reset_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    reset_planned_from: Mapped[datetime | None] = mapped_column(UTCDateTime)
    recurrence_error: Mapped[str | None] = mapped_column(Text)

    __table_args__ = (
        Index("ix_task_state_last_reset_run_id", "last_reset_run_id"),
        # The rule poll and the reset: plans that have come due, rules that cannot be used.
        Index("ix_task_state_due", "next_reset_at", postgresql_where=text("next_reset_at IS NOT NULL"),
              sqlite_where=text("next_reset_at IS NOT NULL")),
        Index("ix_task_state_invalid", "task_id", postgresql_where=text("recurrence_error IS NOT NULL"),
              sqlite_where=text("recurrence_error IS NOT NULL")),
    )


class TaskTablesOrigin(Base):
    """Whether taskconsole created the task system's three tables (one row, id 1; migration 0010).

    Only then may ``db upgrade`` apply ``db tune``'s indexes to them by itself."""

    __tablename__ = "task_tables_origin"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)  # always 1
    created_by_taskconsole: Mapped[bool] = mapped_column(Boolean)
    recorded_at: Mapped[datetime] = mapped_column(UTCDateTime)


class LedgerWindowRepair(Base):
    """Ledger rows an earlier release may have written with a wall clock's naive window read as UTC
    (migration 0015): those with ids up to ``below_id``. One row at most (id 1); the first warning
    check repairs what it can know and deletes it (console.jobs.ledger_windows)."""

    __tablename__ = "ledger_window_repair"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=False)  # always 1
    below_id: Mapped[int] = mapped_column(BigId)


class JobRun(Base):
    """The run ledger: every execution of every job, however it was started."""

    __tablename__ = "job_runs"

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    job_id: Mapped[str] = mapped_column(String(64))
    trigger_kind: Mapped[str] = mapped_column(String(16))  # scheduled | manual | retry
    status: Mapped[str] = mapped_column(String(16))  # running | success | failed | missed | skipped | abandoned
    attempt: Mapped[int] = mapped_column(Integer, default=1)
    scheduled_for: Mapped[datetime | None] = mapped_column(UTCDateTime)
    started_at: Mapped[datetime] = mapped_column(UTCDateTime)
    finished_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    duration_s: Mapped[float | None] = mapped_column(Float)
    counts: Mapped[dict | None] = mapped_column(JSON)
    error: Mapped[str | None] = mapped_column(Text)
    traceback: Mapped[str | None] = mapped_column(Text)
    actor: Mapped[str | None] = mapped_column(String(128))
    host: Mapped[str | None] = mapped_column(String(255))
    pid: Mapped[int | None] = mapped_column(Integer)
    # The failed run no retry follows, the one that alerted admins (migration 0014).
    failed_for_good: Mapped[bool | None] = mapped_column(Boolean)

    __table_args__ = (
        Index("ix_job_runs_job_id_id", "job_id", "id"),
        Index(
            "ix_job_runs_running",
            "job_id",
            postgresql_where=text("status = 'running'"),
            sqlite_where=text("status = 'running'"),
        ),
    )


class RunLogLine(Base):
    """One log line of a job run, kept so that any console (leading or attached) shows the live
    tail and the whole log of a run. Bounded by ``run_logs.keep`` and ``run_logs.lines_per_run``."""

    __tablename__ = "job_run_logs"

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    run_id: Mapped[int] = mapped_column(BigInteger)
    job_id: Mapped[str] = mapped_column(String(64))
    at: Mapped[datetime] = mapped_column(UTCDateTime)
    level: Mapped[str] = mapped_column(String(8))
    logger: Mapped[str] = mapped_column(String(64))
    message: Mapped[str] = mapped_column(Text)
    host: Mapped[str] = mapped_column(String(255))  # the process that wrote it: its own console
    pid: Mapped[int] = mapped_column(Integer)  # shows the line live, not from here

    __table_args__ = (Index("ix_job_run_logs_run_id_id", "run_id", "id"), Index("ix_job_run_logs_at", "at"))


class AuditEntry(Base):
    """Manual actions: who did what to which job, from where, and how it ended."""

    __tablename__ = "audit_log"

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    at: Mapped[datetime] = mapped_column(UTCDateTime)
    actor: Mapped[str] = mapped_column(String(128))
    host: Mapped[str] = mapped_column(String(255))
    action: Mapped[str] = mapped_column(String(32))  # run | pause | resume
    job_id: Mapped[str] = mapped_column(String(64))
    outcome: Mapped[str] = mapped_column(String(32))
    detail: Mapped[str | None] = mapped_column(Text)

    __table_args__ = (Index("ix_audit_log_at", "at"),)


class SchedulerJob(Base):
    """APScheduler's SQLAlchemyJobStore table, created here so that Alembic owns the schema."""

    __tablename__ = "apscheduler_jobs"

    id: Mapped[str] = mapped_column(Unicode(191), primary_key=True)
    next_run_time: Mapped[float | None] = mapped_column(Float(25), index=True)
    job_state: Mapped[bytes] = mapped_column(LargeBinary, nullable=False)


class SchedulerNode(Base):
    """Every scheduler process (headless or console) and its role; the leader holds the lock.

    The leader lock itself (a PostgreSQL advisory lock, a file lock on SQLite) decides who leads;
    these rows only say who is there, refreshed by each process's heartbeat, for ``status``.
    """

    __tablename__ = "scheduler_nodes"

    id: Mapped[str] = mapped_column(String(96), primary_key=True)  # host:pid:random
    host: Mapped[str] = mapped_column(String(255))
    pid: Mapped[int] = mapped_column(Integer)
    kind: Mapped[str] = mapped_column(String(16))  # run | console
    role: Mapped[str] = mapped_column(String(16))  # leader | standby
    state: Mapped[str] = mapped_column(String(16))  # the leader's scheduler: running | paused; else standby
    started_at: Mapped[datetime] = mapped_column(UTCDateTime)
    heartbeat_at: Mapped[datetime] = mapped_column(UTCDateTime)
    leader_since: Mapped[datetime | None] = mapped_column(UTCDateTime)


class SchedulerCommand(Base):
    """Trigger, pause and resume sent to whichever process leads (durable; Redis only wakes it)."""

    __tablename__ = "scheduler_commands"

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    action: Mapped[str] = mapped_column(String(16))  # run | pause | resume | pause_all | resume_all
    job_id: Mapped[str | None] = mapped_column(String(64))
    actor: Mapped[str] = mapped_column(String(128))
    host: Mapped[str] = mapped_column(String(255))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
    taken_by: Mapped[str | None] = mapped_column(String(96))
    taken_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    done_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    outcome: Mapped[str | None] = mapped_column(String(32))  # done | failed | already_running | expired | abandoned
    detail: Mapped[str | None] = mapped_column(Text)

    __table_args__ = (
        # The leader's poll: open commands only.
        Index("ix_scheduler_commands_open", "id", postgresql_where=text("done_at IS NULL"),
              sqlite_where=text("done_at IS NULL")),
    )


class SchedulerPause(Base):
    """The scheduler-wide pause (``P``, ``taskconsole scheduler pause``): at most one row, id 1.

    Kept in the database rather than in the leading process, so that whichever process leads,
    now or after a hand-over, obeys it. No row means not paused.
    """

    __tablename__ = "scheduler_pause"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)  # always 1
    paused: Mapped[bool] = mapped_column(Boolean)
    changed_at: Mapped[datetime] = mapped_column(UTCDateTime)
    actor: Mapped[str] = mapped_column(String(128))
    host: Mapped[str] = mapped_column(String(255))


class ApiToken(Base):
    """A token of the HTTP API (migration 0011): only its SHA-256 hash is kept, and it is good only
    while not revoked and while its user is an admin (checked at every request)."""

    __tablename__ = "api_tokens"

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    name: Mapped[str] = mapped_column(String(100))
    user_id: Mapped[int] = mapped_column(BigInteger)  # the task system's users id; no foreign key
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
    created_by: Mapped[str] = mapped_column(String(128))
    revoked_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    # The name of the user it was made for (migration 0013): an id reused by another user does not revive it.
    user_name: Mapped[str | None] = mapped_column(String(255))


class TuneObject(Base):
    """An object ``db tune`` made on the task system's tables (migration 0013): ``db untune``
    removes exactly these, whatever the mapping says now."""

    __tablename__ = "tune_objects"
    __table_args__ = (UniqueConstraint("kind", "name", "table_name"),)

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    kind: Mapped[str] = mapped_column(String(16))  # index, trigger, function, option
    name: Mapped[str] = mapped_column(String(255))
    table_name: Mapped[str | None] = mapped_column(String(255))
    definition: Mapped[str] = mapped_column(Text)
    made_at: Mapped[datetime] = mapped_column(UTCDateTime)


class LeaderTerm(Base):
    """One row each time a process takes the lead (migration 0014): leader changes, counted."""

    __tablename__ = "leader_terms"

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    node_id: Mapped[str] = mapped_column(String(96))
    host: Mapped[str] = mapped_column(String(255))
    pid: Mapped[int] = mapped_column(Integer)
    began_at: Mapped[datetime] = mapped_column(UTCDateTime)


# The upper bounds (seconds) of the run-duration histogram; job_run_totals has a column per bound
# (migration 0014), so changing them needs a migration.
DURATION_BUCKETS = (0.1, 0.5, 1, 5, 15, 30, 60, 120, 300, 600, 1800, 3600)


class JobRunTotal(Base):
    """What the runs deleted by the run history's retention counted, per job, status and trigger
    kind (migration 0014): the metrics add it to the live rows, so no counter falls."""

    __tablename__ = "job_run_totals"

    job_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    status: Mapped[str] = mapped_column(String(16), primary_key=True)
    trigger_kind: Mapped[str] = mapped_column(String(16), primary_key=True)
    runs: Mapped[int] = mapped_column(BigInteger)
    failed_for_good: Mapped[int] = mapped_column(BigInteger)
    duration_count: Mapped[int] = mapped_column(BigInteger)
    duration_sum: Mapped[float] = mapped_column(Float)


for _i in range(len(DURATION_BUCKETS)):  # bucket_<i>: runs of at most DURATION_BUCKETS[i] seconds
    JobRunTotal.__table__.append_column(Column(f"bucket_{_i}", BigInteger, nullable=False))


class WarningsSentTotal(Base):
    """Warnings sent by the warning check's runs deleted by retention, per level (migration 0014)."""

    __tablename__ = "warnings_sent_totals"

    level: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=False)
    sent: Mapped[int] = mapped_column(BigInteger)


class Delivery(Base):
    """The outbox (migration 0016, issue #28): one row per event per channel (per recipient for a
    personal channel), written in the transaction of the notification or run end it copies, and
    sent by the leader (console.notify.sender). What a message says is copied here as data (the
    task's title, level, deadline, progress; a job's id and error) and rendered when sent."""

    __tablename__ = "deliveries"

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    channel: Mapped[str] = mapped_column(String(64))
    event: Mapped[str] = mapped_column(String(16))
    # The handler (or admin) it is for; the address from users.email for a personal channel.
    user_id: Mapped[int | None] = mapped_column(BigId, nullable=True)
    address: Mapped[str | None] = mapped_column(Text, nullable=True)
    task_id: Mapped[int | None] = mapped_column(BigId, nullable=True)
    subject: Mapped[str | None] = mapped_column(Text, nullable=True)  # a task's title, a job's id
    level: Mapped[int | None] = mapped_column(Integer, nullable=True)
    deadline: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    progress: Mapped[float | None] = mapped_column(Float, nullable=True)
    detail: Mapped[str | None] = mapped_column(Text, nullable=True)  # a job's error, a missed firing's time
    run_id: Mapped[int | None] = mapped_column(BigId, nullable=True)
    state: Mapped[str] = mapped_column(String(16))
    tries: Mapped[int] = mapped_column(Integer, default=0)
    held: Mapped[bool] = mapped_column(Boolean, default=False)  # by quiet hours: goes out as a digest
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
    next_try_at: Mapped[datetime] = mapped_column(UTCDateTime)
    claimed_by: Mapped[str | None] = mapped_column(String(128), nullable=True)
    claimed_until: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    sent_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    last_error: Mapped[str | None] = mapped_column(Text, nullable=True)
    # A job event's fields as JSON, for a channel with ``fields`` (the failure webhook): migration 0018.
    fields: Mapped[str | None] = mapped_column(Text, nullable=True)

    __table_args__ = (
        Index("ix_deliveries_state_next_try_at", "state", "next_try_at"),  # the sender's claim
        Index("ix_deliveries_channel_state", "channel", "state"),  # the metrics and a digest's rows
        Index("ix_deliveries_claimed_by", "claimed_by"),
    )


class DeliveryTotal(Base):
    """Deliveries counted past the rows (migration 0016): given-up rows sent again by ``deliveries
    retry`` and rows deleted by retention, per channel and state, so taskconsole_deliveries_total
    never falls."""

    __tablename__ = "delivery_totals"

    channel: Mapped[str] = mapped_column(String(64), primary_key=True)
    state: Mapped[str] = mapped_column(String(16), primary_key=True)
    count: Mapped[int] = mapped_column(BigInteger)


class WarningPass(Base):
    """The last pass of the leader's frequent look for thresholds crossed (``warnings.check_every``,
    migration 0017): one row, id 1. The next pass, whichever process leads, looks from ``looked_at``."""

    __tablename__ = "warning_pass"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=False)  # always 1
    looked_at: Mapped[datetime] = mapped_column(UTCDateTime)
    since: Mapped[datetime] = mapped_column(UTCDateTime)
    sent: Mapped[int] = mapped_column(Integer)
    # The run of check_task_warnings (trigger kind precise) it recorded; None when it sent nothing.
    run_id: Mapped[int | None] = mapped_column(BigInteger)
    duration_s: Mapped[float] = mapped_column(Float)
    host: Mapped[str] = mapped_column(String(255))
    pid: Mapped[int] = mapped_column(Integer)


class WarningOutlook(Base):
    """The warning counts and the next day's forecast as the leader counted them after its last
    pass (migration 0017): one row, id 1 (console.service.outlook)."""

    __tablename__ = "warning_outlook"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=False)  # always 1
    computed_at: Mapped[datetime] = mapped_column(UTCDateTime)
    took_s: Mapped[float] = mapped_column(Float)
    # {level: [in the level now, pending, without a handler]}
    counts: Mapped[dict] = mapped_column(JSON)
    # {"start": hour 0's start (epoch seconds), "hours": n, "rows": [[hour, level, count], ...]}
    forecast: Mapped[dict] = mapped_column(JSON)
