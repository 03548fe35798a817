"""The jobs' rules over the task system's columns, as SQL, built once from the mapping.

Each expression is the set-based twin of a function in ``console.domain.rules`` and is written
here only: the jobs, their previews, the console's panels and ``db tune``'s indexes
(``console.db.tuning``, which compiles these very expressions) all use it. ``t`` is the mapping's
``TaskTables`` (``console.db.task_tables``): whatever the task system calls its tables, columns and
status words, ``t.tasks.c.status`` is its status column and ``is_processing(t)`` its test.

What taskconsole keeps per task (the reset stamp that makes a task's warning cycle, rule plans,
rule errors, rules where the task system has no column) is in ``task_state``, its own table.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from sqlalchemy import DateTime, Integer, Interval, and_, case, exists, func, literal, literal_column, or_, select, true
from sqlalchemy.sql.expression import ColumnElement

from console.db.models import TaskState
from console.db.task_tables import TaskTables, has_column, is_periodic, known_status, status_in
from console.db.column_types import WallClockDateTime, clamp, epoch_of, postgresql_only, wall_clock_zone, zone_info
from console.domain.rules import WarningLevel

STATE = TaskState.__table__


def is_processing(t: TaskTables) -> ColumnElement[bool]:
    return status_in(t, "processing")


def is_finished(t: TaskTables) -> ColumnElement[bool]:
    """Completed or closed: a periodic task is reset from either."""
    return status_in(t, "completed", "closed")


def finished_periodic(t: TaskTables) -> ColumnElement[bool]:
    return and_(is_periodic(t), is_finished(t))


def window_ok(t: TaskTables) -> ColumnElement[bool]:
    """A window the rules can use: both ends set. An inverted one too (``raw_time_progress``)."""
    c = t.tasks.c
    return and_(c.expected_start_time.is_not(None), c.expected_end_time.is_not(None))


def no_window(t: TaskTables) -> ColumnElement[bool]:
    c = t.tasks.c
    return or_(c.expected_start_time.is_(None), c.expected_end_time.is_(None))


def progress_ok(t: TaskTables) -> ColumnElement[bool]:
    # Literal bounds, as the words: SQLite uses a partial index only for its very text.
    c = t.tasks.c
    return and_(c.progress.is_not(None), c.progress >= literal_column("0"), c.progress <= literal_column("100"))


def processing_bad(t: TaskTables) -> ColumnElement[bool]:
    """Processing rows the jobs skip (no window, progress outside 0..100): few, counted at every
    run through ``db tune``'s partial index on exactly this."""
    return and_(is_processing(t), or_(no_window(t), ~progress_ok(t)))


def processing_no_handler(t: TaskTables) -> ColumnElement[bool]:
    return and_(is_processing(t), t.tasks.c.current_handler_id.is_(None))


def has_handler(t: TaskTables) -> ColumnElement[bool]:
    """The task's handler is a user that exists. Not just NOT NULL: a writer without foreign keys
    can leave an id whose user is gone, and a notification to it would fail the notifications'
    foreign key and with it the whole run."""
    u = t.users
    return exists(select(u.c.id).where(u.c.id == t.tasks.c.current_handler_id))


def task_cycle(t: TaskTables) -> ColumnElement[int]:
    """The task's warning cycle: the run that last reset it, 0 before any reset (migration 0008).
    A level is warned of once per cycle: a reset starts a new one, a moved deadline does not."""
    # Correlated to the tasks table explicitly: nested in another subquery (the ledger's), SQLAlchemy
    # would otherwise put tasks into this one's FROM and return every task's stamp.
    stamp = (select(STATE.c.last_reset_run_id).where(STATE.c.task_id == t.tasks.c.id)
             .correlate(t.tasks).scalar_subquery())
    return func.coalesce(stamp, 0)


def rule_column(t: TaskTables) -> ColumnElement[str]:
    """A task's own recurrence rule: the task system's column, or task_state's where it has none
    (reads that use it select from ``with_state(t)``)."""
    return t.tasks.c.recurrence if has_column(t, "tasks", "recurrence") else STATE.c.recurrence


def with_state(t: TaskTables):
    """tasks LEFT JOIN task_state: a task without state has NULLs there."""
    return t.tasks.outerjoin(STATE, STATE.c.task_id == t.tasks.c.id)


def raw_time_progress(t: TaskTables, now: datetime) -> ColumnElement[float]:
    """Elapsed share of the window in percent, unclamped; only valid where ``window_ok``. An inverted
    window is at 100 once its deadline has passed, else at 0 (``console.domain.rules.time_progress``:
    a deadline passed is 100 %, whatever the start; a normal window's share is 100 or more then)."""
    c = t.tasks.c
    start, end = epoch_of(c.expected_start_time), epoch_of(c.expected_end_time)
    overdue = case((end <= literal(now.timestamp()), literal_column("100.0")), else_=literal_column("0.0"))
    return case((end <= start, overdue), else_=elapsed_share(now, start, end))


def elapsed_share(now: datetime, start: ColumnElement[float], end: ColumnElement[float]) -> ColumnElement[float]:
    """The same share from a window in epoch seconds; the one formula, so every reader agrees to the bit."""
    return (literal(now.timestamp()) - start) * 100.0 / (end - start)


def time_progress(t: TaskTables, now: datetime) -> ColumnElement[float]:
    return clamp(raw_time_progress(t, now))


def warning_level(t: TaskTables, now: datetime, levels: tuple[WarningLevel, ...]) -> ColumnElement[int]:
    """The most severe level reached, or NULL (``console.domain.rules.warning_level``)."""
    # Clamping cannot change a ">= at" test for at <= 100, so the raw share will do.
    return level_of(raw_time_progress(t, now), t.tasks.c.progress, levels)


def level_of(tp: ColumnElement[float], progress: ColumnElement[float],
             levels: tuple[WarningLevel, ...]) -> ColumnElement[int]:
    """The warning level for a time progress and a work progress expression."""
    whens = [
        (and_(tp >= lv.at, progress < lv.at), literal(lv.level, Integer))
        for lv in sorted(levels, key=lambda lv: lv.at, reverse=True)
    ]
    return case(*whens, else_=literal(None, Integer))


# The lowest-threshold instant and the time-progress test it stands in front of round differently,
# so the index is asked for a second more and the exact test decides.
PREFILTER_SLACK_S = 1.0
# The lowest level ``db tune``'s index on the threshold instant is built for (the default 80 %).
INDEXED_LOWEST = 0.8


def warn_from(t: TaskTables, fraction: float = INDEXED_LOWEST) -> ColumnElement[float]:
    """The instant (epoch seconds) a task's time reaches ``fraction`` of its window, in the form of
    ``db tune``'s expression index ix_tasks_warn_from."""
    c = t.tasks.c
    start = epoch_of(c.expected_start_time, indexable=True)
    end = epoch_of(c.expected_end_time, indexable=True)
    return start + (end - start) * fraction


# A wall clock's hours may repeat or be skipped (daylight saving): its arithmetic is trusted to
# within this much, and the exact test follows.
WALL_CLOCK_SLACK = timedelta(hours=3)


def past_lowest_threshold(t: TaskTables, now: datetime, levels: tuple[WarningLevel, ...]) -> ColumnElement[bool]:
    """now >= start + lowest% of the window, or the deadline has passed (100 %, whatever the start):
    read through ix_tasks_warn_from when the lowest level is the default 80 % (the planner matches
    the index's expression), and the processing window index for the deadline. On PostgreSQL a test in the
    column's own clock comes with it: without that index (``db tune``) the scan runs it first
    (cheaper: no zone arithmetic), and the exact one only for the tasks it lets through."""
    lowest = min(lv.at for lv in levels) / 100.0
    exact = literal(now.timestamp() + PREFILTER_SLACK_S) >= warn_from(t, lowest)
    c = t.tasks.c
    clock = _column_clock(c.expected_start_time, now + _clock_slack(c.expected_start_time))
    share = (c.expected_end_time - c.expected_start_time).self_group().op("*", return_type=Interval())(
        literal_column(repr(lowest)))
    cheap = c.expected_start_time + share <= clock
    # 'infinity' has no arithmetic (PostgreSQL refuses it): such a window is left to the exact test.
    finite = and_(func.isfinite(c.expected_start_time), func.isfinite(c.expected_end_time))
    started = and_(postgresql_only(case((finite, cheap), else_=true())), exact)
    # A deadline passed is 100 % whatever the start (an inverted window's 80 % instant may lie
    # ahead): read through the processing window index, which leads with the deadline.
    overdue = and_(postgresql_only(c.expected_end_time <= clock),
                   epoch_of(c.expected_end_time) <= literal(now.timestamp() + PREFILTER_SLACK_S))
    return or_(started, overdue)


def _column_clock(column, at: datetime):
    """``at`` as a literal in ``column``'s own clock (a wall clock's naive time, or an instant)."""
    zone = wall_clock_zone(column)
    local = at.astimezone(zone_info(zone or "UTC"))
    if isinstance(column.type, WallClockDateTime):
        return literal(local.replace(tzinfo=None), DateTime())
    return literal(local, DateTime(timezone=True))


def _clock_slack(column) -> timedelta:
    return WALL_CLOCK_SLACK if wall_clock_zone(column) is not None else timedelta(seconds=PREFILTER_SLACK_S)


def crossed_between(t: TaskTables, since: datetime, now: datetime,
                    levels: tuple[WarningLevel, ...]) -> ColumnElement[bool]:
    """Some level's threshold instant, or the deadline (100 %, whatever the start), lies in
    (since, now]: the tasks that crossed a threshold in between. Each instant is ``warn_from``'s
    expression, so on PostgreSQL each level reads ``db tune``'s index on its instant (a range scan of
    the few tasks that crossed) and the deadline the processing window index; the level itself is
    decided by the exact test afterwards, as for any other check. Without those indexes each test
    in the columns' own clock comes first (no zone arithmetic: a scan of a million tasks is then
    a fraction of a second), and the exact one only for the tasks it lets through."""
    low = literal(since.timestamp() - PREFILTER_SLACK_S)
    high = literal(now.timestamp() + PREFILTER_SLACK_S)
    c = t.tasks.c
    start, end = c.expected_start_time, c.expected_end_time
    slack = _clock_slack(start)
    lo_clock, hi_clock = _column_clock(start, since - slack), _column_clock(start, now + slack)
    finite = and_(func.isfinite(start), func.isfinite(end))
    crossed = []
    for lv in levels:
        instant = warn_from(t, lv.at / 100.0)
        share = (end - start).self_group().op("*", return_type=Interval())(literal_column(repr(lv.at / 100.0)))
        cheap = and_(start + share > lo_clock, start + share <= hi_clock)
        crossed.append(and_(postgresql_only(case((finite, cheap), else_=true())), instant > low, instant <= high))
    # The deadline through the processing window index, which leads with the column itself.
    deadline = epoch_of(end)
    crossed.append(and_(postgresql_only(and_(end > lo_clock, end <= hi_clock)), deadline > low, deadline <= high))
    return or_(*crossed)


def old_closed(t: TaskTables, cutoff: datetime) -> ColumnElement[bool]:
    """Closed tasks not updated since ``cutoff``: cleanup deletes them."""
    return and_(status_in(t, "closed"), t.tasks.c.updated_at < cutoff)


def unknown_status(t: TaskTables) -> ColumnElement[bool]:
    """A status (or NULL) the mapping names no meaning for: such a row is never any job's."""
    return or_(t.tasks.c.status.is_(None), ~known_status(t))


def count_unknown_status(conn, t: TaskTables) -> int:
    """Tasks whose status the mapping does not name: no job will ever touch them (``db tune``'s
    partial index on exactly this makes the count cheap)."""
    return int(conn.execute(select(func.count()).select_from(t.tasks).where(unknown_status(t))).scalar_one())


def count_if(condition: ColumnElement[bool]) -> ColumnElement[int]:
    """SUM(CASE WHEN condition THEN 1 ELSE 0 END), for one-scan summaries."""
    return func.coalesce(func.sum(case((condition, 1), else_=0)), 0)


def skipped_rows(conn, t: TaskTables, now: datetime | None = None,
                 levels: tuple[WarningLevel, ...] | None = None) -> dict[str, int]:
    """Processing tasks a job skips, by reason, read through the small partial indexes on them.

    With ``levels``, also those that reached a level but have no handler to notify.
    """
    row = conn.execute(
        select(
            count_if(no_window(t)).label("no_window"),
            count_if(and_(window_ok(t), ~progress_ok(t))).label("bad_progress"),
        ).select_from(t.tasks).where(processing_bad(t))
    ).one()
    counts = {
        "skipped_no_window": int(row.no_window),
        "skipped_bad_progress": int(row.bad_progress),
    }
    if levels is not None and now is not None:
        counts["skipped_no_handler"] = int(conn.execute(
            select(count_if(warning_level(t, now, levels).is_not(None))).select_from(t.tasks)
            .where(processing_no_handler(t), window_ok(t), progress_ok(t))
        ).scalar_one())
    return counts
