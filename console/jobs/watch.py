"""warning_watch's side of the warning check: marking what a run warned of, and keeping the
table's pages all-visible so that the warning panels read its index alone (migration 0007).

warning_watch is kept by triggers on the task system's tasks table, which only ``db tune``
installs (``console.db.tuning``); without them the check marks nothing and the panels read tasks."""

from __future__ import annotations

import time

from sqlalchemy import and_, func, select, text, update
from sqlalchemy.exc import OperationalError
from sqlalchemy.sql.expression import ColumnElement

from console.db.engine import describe_error, outside_transaction
from console.db.tuning import watch_installed  # noqa: F401 - the jobs ask here whether to mark
from console.db.models import WarningSent as W
from console.db.models import WarningWatch
from console.jobs.base import JobContext

# How long after its commit a run keeps trying to mark rows a writer of tasks held.
MARK_RETRY_S = 10.0
LOCK_NOT_AVAILABLE = "55P03"  # PostgreSQL's SQLSTATE for lock_timeout


def mark_warned(conn, run_id: int, *, skip_locked: bool = False) -> int:
    """Mark this run's warnings in warning_watch, for the warning panels; returns how many were marked.

    Only rows still in the cycle warned of, whatever their window now (a moved deadline keeps the
    cycle and its warnings; a task reset meanwhile keeps the mark its trigger read from the ledger).
    ``skip_locked``: leave rows a writer of tasks holds.
    """
    ww = WarningWatch
    stmt = update(ww).where(_unmarked_of_run(run_id)).values(warned_level=W.level)
    if skip_locked:  # row locks taken first: dearer (about twice), so only after a conflict
        this_run = select(W.task_id).where(W.run_id == run_id)
        stmt = stmt.where(ww.task_id.in_(
            select(ww.task_id).where(ww.task_id.in_(this_run)).with_for_update(skip_locked=True)))
    return conn.execute(stmt).rowcount


def mark_in_run(conn, run_id: int) -> int | None:
    """Mark within the run's transaction; None when a writer of tasks held one of the rows.

    Never wait long for a row: that writer's trigger may be waiting for this run (it waits for the
    run's marks before reading the ledger), and waiting back would deadlock. A tenth of a second
    lets short writes pass; past it the marks are left to ``finish_marks`` after the commit.
    """
    if conn.dialect.name != "postgresql":
        return mark_warned(conn, run_id)  # SQLite: one writer at a time
    try:
        with conn.begin_nested():
            conn.execute(text("SET LOCAL lock_timeout = '100ms'"))
            marked = mark_warned(conn, run_id)
            conn.execute(text("SET LOCAL lock_timeout = DEFAULT"))
            return marked
    except OperationalError as exc:
        if getattr(exc.orig, "pgcode", None) == LOCK_NOT_AVAILABLE:
            return None
        raise


def _unmarked_of_run(run_id: int) -> ColumnElement[bool]:
    """A warning_watch row and a ledger row of this run for its current cycle, not yet marked."""
    ww = WarningWatch
    return and_(ww.task_id == W.task_id, W.run_id == run_id, ww.cycle == W.cycle,
                ww.warned_level.is_distinct_from(W.level))


def _unmarked(conn, run_id: int) -> int:
    return int(conn.execute(select(func.count()).select_from(W).join(WarningWatch, _unmarked_of_run(run_id)))
               .scalar_one())


def finish_marks(ctx: JobContext) -> None:
    """After the commit, mark what the run could not because a writer of tasks held the rows.

    Such a writer's trigger read the ledger before this run committed, so it may have left them
    unmarked; they are marked once it lets go, skipping held rows each try so that this never
    waits either (a few seconds of tries; the warnings themselves are sent and committed).
    """
    deadline = time.monotonic() + MARK_RETRY_S
    while True:
        with ctx.engine.begin() as conn:
            mark_warned(conn, ctx.run_id, skip_locked=True)
            left = _unmarked(conn, ctx.run_id)
        if not left:
            return
        if time.monotonic() > deadline:
            ctx.log.warning("check_task_warnings: %d tasks stay marked as not yet warned in the console's "
                            "panels until they change: their rows were held by other writers", left)
            return
        time.sleep(0.2)


def keep_visible(ctx: JobContext) -> None:
    """VACUUM the two tables the warning panels read with index-only scans.

    An index-only scan reads the table for every page not marked all-visible, and each page written
    since the last vacuum lost that mark; autovacuum may come much later, or be off. SKIP_LOCKED: never wait
    for a vacuum already at work. The warnings are committed by now, so a failure here is logged
    and the run still succeeds.
    """
    if ctx.engine.dialect.name != "postgresql":
        return  # SQLite reads a covering index without visibility checks
    # Every run, not only one that sent warnings: the task system's writes clear the marks too.
    # A vacuum of pages still all-visible skips them, so a quiet hour costs a few milliseconds.
    try:
        outside_transaction(ctx.engine, "VACUUM (SKIP_LOCKED) warning_watch, warning_ledger")
    except Exception as exc:  # noqa: BLE001 - housekeeping after the commit must not fail the run
        ctx.log.warning("check_task_warnings: vacuum of warning_watch skipped: %s",
                        describe_error(exc, ctx.engine.url))
