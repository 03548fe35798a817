"""SQL forms of the domain rules, shared by the jobs, their previews and the console's queries.

Each expression is the set-based twin of a function in ``console.domain.rules``; the tests run
both over the same rows.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Integer, and_, case, exists, func, literal, literal_column, or_, select, text
from sqlalchemy.sql.expression import ColumnElement

from console.db.models import PROCESSING_BAD, PROCESSING_NO_HANDLER, Task, User, WarningWatch
from console.db.types import clamp, epoch_seconds, indexable_epoch_seconds
from console.domain.rules import PROCESSING
from console.settings import WarningLevel


def is_processing() -> ColumnElement[bool]:
    return Task.status == PROCESSING


def window_ok() -> ColumnElement[bool]:
    return and_(
        Task.expected_start_time.is_not(None),
        Task.expected_end_time.is_not(None),
        Task.expected_end_time > Task.expected_start_time,
    )


def no_window() -> ColumnElement[bool]:
    return or_(Task.expected_start_time.is_(None), Task.expected_end_time.is_(None))


def inverted_window() -> ColumnElement[bool]:
    return and_(
        Task.expected_start_time.is_not(None),
        Task.expected_end_time.is_not(None),
        Task.expected_end_time <= Task.expected_start_time,
    )


def has_handler() -> ColumnElement[bool]:
    """The task's handler is a user that exists. Not just NOT NULL: a writer without foreign keys
    (SQLite's default) can leave an id whose user is gone, and a notification to it would fail
    the notifications' foreign key and with it the whole run."""
    return exists(select(User.id).where(User.id == Task.current_handler_id))


def task_cycle() -> ColumnElement[int]:
    """The task's warning cycle: the run that last reset it, 0 before any reset (migration 0008).
    A level is warned of once per cycle: a reset starts a new one, a moved deadline does not."""
    return func.coalesce(Task.last_reset_run_id, 0)


def progress_ok() -> ColumnElement[bool]:
    return and_(Task.progress.is_not(None), Task.progress >= 0, Task.progress <= 100)


def raw_time_progress(now: datetime) -> ColumnElement[float]:
    """Elapsed share of the window in percent, unclamped; only valid where ``window_ok()``."""
    return elapsed_share(now, epoch_seconds(Task.expected_start_time), epoch_seconds(Task.expected_end_time))


def elapsed_share(now: datetime, start: ColumnElement[float], end: ColumnElement[float]) -> ColumnElement[float]:
    """The same share from a window in epoch seconds; the one formula, so every reader agrees to the bit."""
    return (literal(now.timestamp()) - start) * 100.0 / (end - start)


def time_progress(now: datetime) -> ColumnElement[float]:
    return clamp(raw_time_progress(now))


def warning_level(now: datetime, levels: tuple[WarningLevel, ...]) -> ColumnElement[int]:
    """The most severe level reached, or NULL (``console.domain.rules.warning_level``)."""
    # Clamping cannot change a ">= at" test for at <= 100, so the raw share will do.
    return level_of(raw_time_progress(now), Task.progress, levels)


def level_of(tp: ColumnElement[float], progress: ColumnElement[float],
             levels: tuple[WarningLevel, ...]) -> ColumnElement[int]:
    """The warning level for a time progress and a work progress expression."""
    whens = [
        (and_(tp >= lv.at, progress < lv.at), literal(lv.level, Integer))
        for lv in sorted(levels, key=lambda lv: lv.at, reverse=True)
    ]
    return case(*whens, else_=literal(None, Integer))


def warning_candidates(now: datetime, levels: tuple[WarningLevel, ...]) -> ColumnElement[bool]:
    """Processing tasks with a good window and progress that reached some level now."""
    return and_(
        is_processing(),
        window_ok(),
        progress_ok(),
        Task.current_handler_id.is_not(None),
        past_lowest_threshold(now, levels),
        or_(*[and_(raw_time_progress(now) >= lv.at, Task.progress < lv.at) for lv in levels]),
    )


# The lowest-threshold instant and the time-progress test it stands in front of round differently,
# so the index is asked for a second more and the exact test decides.
PREFILTER_SLACK_S = 1.0


def past_lowest_threshold(now: datetime, levels: tuple[WarningLevel, ...]) -> ColumnElement[bool]:
    """now >= start + lowest% of the window: in the very form of ix_tasks_warn_from (migration 0005),
    so PostgreSQL reads only the tasks past it when the lowest level is the default 80 %."""
    lowest = min(lv.at for lv in levels)
    start = indexable_epoch_seconds(Task.expected_start_time)
    end = indexable_epoch_seconds(Task.expected_end_time)
    return literal(now.timestamp() + PREFILTER_SLACK_S) >= start + (end - start) * (lowest / 100.0)


def watched_level(now: datetime, levels: tuple[WarningLevel, ...]) -> ColumnElement[int]:
    """``warning_level`` of a warning_watch row (migration 0007): the same formula on its stored window."""
    ww = WarningWatch
    return level_of(elapsed_share(now, ww.start_s, ww.end_s), ww.progress, levels)


def watch_past_lowest_threshold(now: datetime, levels: tuple[WarningLevel, ...]) -> ColumnElement[bool]:
    """``past_lowest_threshold`` for warning_watch rows, in the very form of ix_warning_watch_from
    (a literal factor: SQLite matches an expression index only against literal text)."""
    ww = WarningWatch
    lowest = min(lv.at for lv in levels)
    return (ww.start_s + (ww.end_s - ww.start_s) * literal_column(repr(lowest / 100.0))
            <= now.timestamp() + PREFILTER_SLACK_S)


def count_if(condition: ColumnElement[bool]) -> ColumnElement[int]:
    """SUM(CASE WHEN condition THEN 1 ELSE 0 END), for one-scan summaries."""
    return func.coalesce(func.sum(case((condition, 1), else_=0)), 0)


def skipped_rows(conn, now: datetime | None = None, levels: tuple[WarningLevel, ...] | None = None) -> dict[str, int]:
    """Processing tasks a job skips, by reason, read through the small partial indexes on them.

    With ``levels``, also those that reached a level but have no handler to notify.
    """
    row = conn.execute(
        select(
            count_if(no_window()).label("no_window"),
            count_if(inverted_window()).label("inverted_window"),
            count_if(and_(window_ok(), ~progress_ok())).label("bad_progress"),
        ).where(text(PROCESSING_BAD))
    ).one()
    counts = {
        "skipped_no_window": int(row.no_window),
        "skipped_inverted_window": int(row.inverted_window),
        "skipped_bad_progress": int(row.bad_progress),
    }
    if levels is not None and now is not None:
        counts["skipped_no_handler"] = int(conn.execute(
            select(count_if(warning_level(now, levels).is_not(None)))
            .where(text(PROCESSING_NO_HANDLER), window_ok(), progress_ok())
        ).scalar_one())
    return counts
