"""The warning ledger's windows written by earlier releases in the wrong clock, repaired once.

Until migration 0015 the warning check copied a task's window into the ledger as stored. Where the
task system keeps naive wall-clock times (``naive_timestamps: local``), the ledger's UTC columns then
held 11:59+00 for a task starting 11:59 in Shanghai, eight hours off. Migration 0015 cannot tell:
Alembic runs without the settings, and the mapping (which columns, which clock) is theirs. It marks
the ledger rows written so far (``ledger_window_repair``), and the first warning check, which knows
the mapping, repairs them in its own transaction and deletes the mark: once, whoever runs first (the
mark's row lock lets one check in; a check that rolls back leaves it for the next).

A row can be repaired only where it is known what it was written from: a task that still has the
same window, in its own clock, as the row holds read as UTC. Its window becomes the instants the
task's window stands for. The other rows (a task whose window moved since, or is gone) keep what was
written; the window is the record's only, never a decision's (the key is task, cycle and level).
"""

from __future__ import annotations

from sqlalchemy import Connection, and_, delete, exists, select, update

from console.db.column_types import instant_of, wall_clock_zone
from console.db.models import LedgerWindowRepair, WarningSent
from console.db.task_tables import TaskTables


def repair_ledger_windows(conn: Connection, t: TaskTables) -> int:
    """Repair what 0015 marked, if marked (inside the warning check's transaction); returns how many
    rows were rewritten."""
    marks = LedgerWindowRepair.__table__
    below = conn.execute(delete(marks).where(marks.c.id == 1).returning(marks.c.below_id)).scalar()
    c = t.tasks.c
    if below is None or (wall_clock_zone(c.expected_start_time) is None and wall_clock_zone(c.expected_end_time) is None):
        return 0
    w = WarningSent.__table__
    # As the old writer stored it: the naive value taken as UTC (PostgreSQL sessions run in UTC; on
    # SQLite the very text).
    same_window = and_(c.id == w.c.task_id, w.c.window_start == c.expected_start_time,
                       w.c.window_end == c.expected_end_time)

    def instant(column):
        return select(instant_of(column)).where(same_window).correlate(w).scalar_subquery()

    return conn.execute(
        update(w).where(w.c.id <= below, exists(select(c.id).where(same_window).correlate(w)))
        .values(window_start=instant(c.expected_start_time), window_end=instant(c.expected_end_time))
        .execution_options(synchronize_session=False)
    ).rowcount
