"""Processing tasks nearest their next warning threshold (or already past one).

A task whose window holds a timestamp Python cannot read ('infinity', year 200000, 4000 BC, or
text on SQLite) is left out and counted (``NearTasks.skipped``): one such row must not blank the
panel, nor fail `tasks near`.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timezone

from sqlalchemy import Engine, String, and_, case, cast, literal, null, or_, select
from sqlalchemy.sql.expression import ColumnElement

from console.db.engine import read_only
from console.db.models import WarningSent
from console.db.readable import all_readable
from console.db.task_sql import is_processing, level_of, past_lowest_threshold, progress_ok, task_cycle, \
    time_progress, warning_level, window_ok
from console.db.task_tables import TaskTables
from console.db.column_types import epoch_of
from console.domain.rules import WarningLevel


# ``near_tasks(show=AHEAD)``: only tasks not yet in a level, with a threshold still ahead.
AHEAD = "ahead"

# How much of the deadline order a level is looked for in before its own index read (see below).
PREFIX = 5000


def _deadline(t: TaskTables) -> tuple:
    """Deadline order: soonest end first, ties by start, then id (the window index's order)."""
    c = t.tasks.c
    return (c.expected_end_time, c.expected_start_time, c.id)


@dataclass(frozen=True)
class NearTask:
    task_id: int
    title: str
    handler: str | None
    progress: float
    time_progress: float
    level: int | None
    next_level: int | None
    next_at: datetime | None
    window_start: datetime
    window_end: datetime
    notified_levels: list[int] = field(default_factory=list)


class NearTasks(list):
    """The tasks to show, in order; ``skipped`` says how many tasks would have been among them
    but were left out because a timestamp of their window is outside years 1 to 9999."""

    skipped: int = 0


def _next_threshold_epoch(t: TaskTables, now: datetime, levels: tuple[WarningLevel, ...]):
    c = t.tasks.c
    start = epoch_of(c.expected_start_time)
    end = epoch_of(c.expected_end_time)
    tp = time_progress(t, now)
    ordered = sorted(levels, key=lambda lv: lv.at)
    # An inverted window is at 0 % until its deadline, then at 100 % (console.domain.rules): its next
    # threshold is the deadline, and the level it reaches there the most severe its work is behind.
    at_deadline = level_of(literal(100.0), c.progress, levels)
    jumps = and_(end <= start, literal(now.timestamp()) < end, at_deadline.is_not(None))
    instant = case(
        (jumps, end),
        *[(and_(end > start, tp < lv.at, c.progress < lv.at), start + (end - start) * (lv.at / 100.0))
          for lv in ordered],
        else_=literal(None),
    )
    level = case(
        (jumps, at_deadline),
        *[(and_(end > start, tp < lv.at, c.progress < lv.at), literal(lv.level)) for lv in ordered],
        else_=literal(None),
    )
    return instant, level


def _window_readable(t: TaskTables) -> ColumnElement[bool]:
    return all_readable(t.tasks.c.expected_start_time, t.tasks.c.expected_end_time)


def _in_level_ids(conn, t: TaskTables, now: datetime, levels: tuple[WarningLevel, ...], by_severity: list[int],
                  limit: int, readable_only: bool, known_empty: frozenset[int]) -> list[int]:
    """The ids of up to ``limit`` tasks in a level: most severe level first, then by deadline.
    A level in ``known_empty`` is not read on its own (the prefix may still hold rows of it)."""
    level = warning_level(t, now, levels)
    guard = [_window_readable(t)] if readable_only else []
    prefix = (select(t.tasks.c.id, level.label("level"))
              .where(is_processing(t), window_ok(t), progress_ok(t), *guard)
              .order_by(*_deadline(t)).limit(PREFIX).subquery())
    seen: dict[int, list[int]] = {}
    for task_id, lv in conn.execute(select(prefix.c.id, prefix.c.level).where(prefix.c.level.is_not(None))):
        if len(seen.setdefault(lv, [])) < limit:
            seen[lv].append(task_id)  # rows come in deadline order
    # Levels are needed in severity order until the rows known so far fill ``limit``; a level whose
    # prefix rows cover what is still needed is answered (what is still needed is counted low, from
    # prefix rows only, so the test errs towards reading).
    sparse, remaining = [], limit
    for lv in by_severity:
        if remaining <= 0:
            break
        got = len(seen.get(lv, []))
        if got < remaining and lv not in known_empty:
            sparse.append(lv)
        remaining -= got
    if sparse:
        for lv in sparse:
            seen[lv] = []  # read again, whole, below
        for task_id, lv in conn.execute(_sparse_levels(t, now, levels, sparse, limit, readable_only)):
            seen[lv].append(task_id)
    ids: list[int] = []
    for lv in by_severity:
        ids += seen.get(lv, [])[: limit - len(ids)]
    return ids


def _sparse_levels(t: TaskTables, now: datetime, levels: tuple[WarningLevel, ...], sparse: list[int],
                   limit: int, readable_only: bool):
    """Up to ``limit`` tasks of the ``sparse`` levels, in severity then deadline order, read among
    the processing tasks past the lowest threshold (through ``db tune``'s index on that instant)."""
    c = t.tasks.c
    level = warning_level(t, now, levels)
    guard = [_window_readable(t)] if readable_only else []
    both = (select(c.id, level.label("level"), epoch_of(c.expected_end_time).label("end_s"),
                   epoch_of(c.expected_start_time).label("start_s"))
            .where(is_processing(t), past_lowest_threshold(t, now, levels), window_ok(t), progress_ok(t), *guard)
            .subquery())
    rank = case(*[(both.c.level == lv, literal(i)) for i, lv in enumerate(sparse)])
    # OFFSET 0: the level is computed once per row, and the planner does not walk the whole
    # deadline order looking for a sparse level.
    found = select(both.c.id, both.c.level, rank.label("rank"), both.c.end_s, both.c.start_s).where(
        both.c.level.in_(sparse)).offset(0).subquery()
    return (select(found.c.id, found.c.level)
            .order_by(found.c.rank, found.c.end_s, found.c.start_s, found.c.id).limit(limit))


def near_tasks(engine: Engine, t: TaskTables, now: datetime, levels: tuple[WarningLevel, ...], limit: int = 20,
               in_level: dict[int, int] | None = None, show: int | str | None = None) -> NearTasks:
    """Tasks in a warning level first (most severe first), then those with a threshold still ahead.

    No read sorts every processing task, and only the rows shown are read whole. The first
    ``PREFIX`` tasks in deadline order (read from the window index, a few columns each) are looked
    at first: a level with ``limit`` of them in it has its answer, since a prefix of the order was
    read. The other levels' tasks are found, in one read, among those past the lowest threshold
    (``db tune``'s index on that instant), a cost that follows how many tasks are near a deadline,
    not N. The tasks with a threshold ahead are read in deadline order and stop at ``limit``.
    ``in_level`` (tasks per level, when the caller has just counted them) spares the read of the
    levels it says are empty (it counts the same tasks, with or without a handler); it never hides
    a task the prefix found in one (one whose window is unreadable, which the count leaves out).

    The choice is made once over every task, reading the window only where it is readable; if
    unreadable ones were chosen, they are counted as skipped and the choice is made again among
    the readable ones. So the healthy case costs nothing more, and ``skipped`` is the number of
    tasks an out-of-range timestamp kept off this list.

    ``show``: a level (only the tasks in it), ``AHEAD`` (only those with a threshold still ahead,
    soonest first), or None for both.
    """
    by_severity = [lv.level for lv in sorted(levels, key=lambda lv: lv.at, reverse=True)]
    if show == AHEAD:
        by_severity = []
    elif show is not None:
        by_severity = [lv for lv in by_severity if lv == show]
    known_empty = frozenset(lv for lv in by_severity if in_level is not None and not in_level.get(lv))
    with read_only(engine).connect() as conn:
        ahead = show is None or show == AHEAD
        rows = _chosen(conn, t, now, levels, by_severity, known_empty, limit, readable_only=False, ahead=ahead)
        skipped = sum(1 for r in rows if not r.readable)
        if skipped:
            rows = _chosen(conn, t, now, levels, by_severity, known_empty, limit, readable_only=True,
                           ahead=ahead)
        shown = _as_near(conn, rows)
    shown.skipped = skipped
    return shown


def find_tasks(engine: Engine, t: TaskTables, now: datetime, levels: tuple[WarningLevel, ...], text: str,
               limit: int = 50) -> NearTasks:
    """Processing tasks whose title holds ``text`` (any case), or whose id it is, soonest deadline
    first: the console's search of the whole table, not of the rows it shows. A title search reads
    every processing task unless an index serves ``ILIKE '%…%'`` (a trigram index, see db tune)."""
    c = t.tasks.c
    text = text.strip()
    pattern = "%" + text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_") + "%"
    match = c.title.ilike(pattern, escape="\\")
    if text.isdigit() and len(text) < 19:
        match = or_(match, c.id == int(text))
    with read_only(engine).connect() as conn:
        query = _columns(t, now, levels, readable_only=True)
        rows = conn.execute(query.where(match).order_by(*_deadline(t)).limit(limit)).all()
        return _as_near(conn, rows)


def task_exists(engine: Engine, t: TaskTables, task_id: int) -> bool:
    with read_only(engine).connect() as conn:
        return conn.execute(select(t.tasks.c.id).where(t.tasks.c.id == task_id)).first() is not None


def _as_near(conn, rows) -> NearTasks:
    """The rows as NearTasks, with the levels already sent in each task's current cycle."""
    ids = [r.id for r in rows]
    notified: dict[tuple, set[int]] = {}
    if ids:  # the levels sent in each task's cycle (console.db.task_sql.task_cycle), whatever its window
        for task_id, lv, cycle in conn.execute(
            select(WarningSent.task_id, WarningSent.level, WarningSent.cycle).where(WarningSent.task_id.in_(ids))
        ):
            notified.setdefault((task_id, cycle), set()).add(lv)
    return NearTasks(
        NearTask(
            task_id=r.id, title=r.title, handler=r.handler, progress=float(r.progress),
            time_progress=round(float(r.tp), 2), level=r.level, next_level=r.next_level,
            next_at=datetime.fromtimestamp(r.next_epoch, timezone.utc) if r.next_epoch is not None else None,
            window_start=r.expected_start_time, window_end=r.expected_end_time,
            notified_levels=sorted(notified.get((r.id, r.cycle), set())),
        )
        for r in rows
    )


def handler_name(t: TaskTables) -> ColumnElement:
    """What the console shows for a task's handler: the user's name, or its id where the mapping
    gives users no name column."""
    u = t.users.c
    return u.name if "name" in u else cast(u.id, String)


def _columns(t: TaskTables, now: datetime, levels: tuple[WarningLevel, ...], *, readable_only: bool):
    """What a shown row reads, over the processing tasks the jobs would look at. Each row says
    whether its window is ``readable``; an unreadable one's window is read as NULL."""
    c, u = t.tasks.c, t.users.c
    level = warning_level(t, now, levels)
    next_epoch, next_level = _next_threshold_epoch(t, now, levels)
    readable = _window_readable(t)

    def window(column) -> ColumnElement:
        return case((readable, column), else_=null()).label(column.key)

    return select(
        c.id, c.title, handler_name(t).label("handler"), c.progress,
        time_progress(t, now).label("tp"), level.label("level"), next_level.label("next_level"),
        next_epoch.label("next_epoch"), window(c.expected_start_time), window(c.expected_end_time),
        task_cycle(t).label("cycle"), readable.label("readable"),
    ).select_from(t.tasks).outerjoin(t.users, u.id == c.current_handler_id).where(
        is_processing(t), window_ok(t), progress_ok(t), *([readable] if readable_only else [])
    )


def _chosen(conn, t: TaskTables, now: datetime, levels: tuple[WarningLevel, ...], by_severity: list[int],
            known_empty: frozenset[int], limit: int, *, readable_only: bool, ahead: bool = True) -> list:
    """The rows to show, whole: those in a level, then (if ``ahead``) those with a threshold ahead."""
    c = t.tasks.c
    level = warning_level(t, now, levels)
    next_epoch, _ = _next_threshold_epoch(t, now, levels)
    columns = _columns(t, now, levels, readable_only=readable_only)
    rows: list = []
    if by_severity:
        chosen = _in_level_ids(conn, t, now, levels, by_severity, limit, readable_only, known_empty)
        if chosen:
            found = {r.id: r for r in conn.execute(columns.where(c.id.in_(chosen)))}
            rows = [found[i] for i in chosen if i in found]
    if ahead and len(rows) < limit:
        ahead = conn.execute(
            columns.where(level.is_(None), next_epoch.is_not(None)).order_by(*_deadline(t)).limit(limit - len(rows))
        ).all()
        rows += sorted(ahead, key=lambda r: r.next_epoch)
    return rows
