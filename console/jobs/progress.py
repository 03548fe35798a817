"""update_time_progress: store the current time progress of every processing task with a window.

One UPDATE; only rows whose stored value changes are written, so tasks not yet started or
already past their end cost nothing after the first run.

On PostgreSQL a large table is rewritten by several connections at once (``time_progress.parallel``),
each over its own range of ids: the rewrite of a million rows is bound by one backend's CPU.
Ranges of ids rather than of pages: a row that another writer moves to a new page meanwhile is
still followed to its new version and written, as by one statement (a range of pages would skip
it when the new version lands in another range). Each range commits on its own; the value is
derived, so a range that fails is simply written by the next run.
"""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor

from sqlalchemy import Integer, and_, cast, func, select, text, true, update
from sqlalchemy.sql.expression import ColumnElement

from console.db.engine import read_only
from console.db.task_sql import count_if, is_processing, skipped_rows, time_progress, window_ok
from console.db.task_tables import TaskTables, has_column
from console.db.column_types import round2
from console.domain.runs import JobId
from console.jobs.base import Counts, JobContext, JobSpec, Preview


def _stores(ctx: JobContext) -> bool:
    """Whether the task system has a time_progress column to store into (it may be null)."""
    return has_column(ctx.tables, "tasks", "time_progress")


def _new_value(ctx: JobContext):
    """Two decimals, or a whole percentage for an integer column."""
    value = time_progress(ctx.tables, ctx.now)
    if isinstance(ctx.tables.tasks.c.time_progress.type, Integer):
        return cast(func.round(value), Integer)
    return round2(value)


def _changing(ctx: JobContext):
    t = ctx.tables
    return and_(is_processing(t), window_ok(t), t.tasks.c.time_progress.is_distinct_from(_new_value(ctx)))


def _skipped(conn, ctx: JobContext) -> Counts:
    counts = skipped_rows(conn, ctx.tables)
    counts.pop("skipped_bad_progress")  # progress does not matter to time progress
    return counts


# A range smaller than this many pages of the table (8 MB) is not worth a connection of its own.
MIN_PAGES_PER_RANGE = 1024

IdRange = tuple[int | None, int | None]  # first id, id after the last; None: open


def id_ranges(conn, t: TaskTables, parallel: int) -> list[IdRange]:
    """The tasks' ids cut into at most ``parallel`` ranges of equal span, one per 8 MB of table at
    least; the first and last are open-ended, so tasks added meanwhile are still covered."""
    if conn.dialect.name != "postgresql" or parallel < 2:
        return [(None, None)]
    pages = int(conn.execute(text(
        "SELECT pg_relation_size(CAST(:table AS regclass)) / current_setting('block_size')::int"),
        {"table": conn.dialect.identifier_preparer.format_table(t.tasks)}).scalar_one())
    parts = min(parallel, pages // MIN_PAGES_PER_RANGE)
    if parts < 2:
        return [(None, None)]
    low, high = conn.execute(select(func.min(t.tasks.c.id), func.max(t.tasks.c.id))).one()
    if low is None:
        return [(None, None)]  # pages without live rows
    cuts = sorted({low + (high - low + 1) * i // parts for i in range(1, parts)} - {low})
    return list(zip([None, *cuts], [*cuts, None]))


def _in_range(ctx: JobContext, ids: IdRange) -> ColumnElement[bool]:
    key = ctx.tables.tasks.c.id
    first, after = ids
    bounds = []
    if first is not None:
        bounds.append(key >= first)
    if after is not None:
        bounds.append(key < after)
    return and_(true(), *bounds)


def _rewrite(ctx: JobContext, ids: IdRange) -> int:
    with ctx.engine.begin() as conn:
        return conn.execute(
            update(ctx.tables.tasks)
            .where(_changing(ctx), _in_range(ctx, ids))
            .values({ctx.tables.tasks.c.time_progress: _new_value(ctx)})
            .execution_options(synchronize_session=False)
        ).rowcount


def run(ctx: JobContext) -> Counts:
    with ctx.engine.begin() as conn:
        counts = _skipped(conn, ctx)
        ranges = id_ranges(conn, ctx.tables, ctx.settings.time_progress.parallel)
    if not _stores(ctx):
        counts["updated"] = 0
        ctx.log.info("update_time_progress: the task system has no time_progress column "
                     "(task_system.columns.tasks.time_progress: null); nothing to store")
        return counts
    if len(ranges) == 1:
        updated = _rewrite(ctx, ranges[0])
    else:
        with ThreadPoolExecutor(len(ranges), thread_name_prefix="time-progress") as pool:
            # Every range runs to its end before a failure is raised: what committed stays counted
            # in the log, and the run is recorded as failed.
            futures = [pool.submit(_rewrite, ctx, ids) for ids in ranges]
        errors = [f.exception() for f in futures]
        updated = sum(f.result() for f, error in zip(futures, errors) if error is None)
        failed = [error for error in errors if error is not None]
        if failed:
            ctx.log.warning("update_time_progress: %d of %d id ranges failed; %d tasks updated by the rest",
                            len(failed), len(ranges), updated)
            raise failed[0]
    counts["updated"] = updated
    ctx.log.info("update_time_progress: %d tasks updated", updated)
    return counts


def preview(ctx: JobContext) -> Preview:
    with read_only(ctx.engine).connect() as conn:
        counts = _skipped(conn, ctx)
        if not _stores(ctx):
            return Preview(counts={**counts, "would_update": 0}, samples=[])
        c = ctx.tables.tasks.c
        counts["would_update"] = int(conn.execute(
            select(count_if(true())).select_from(ctx.tables.tasks).where(_changing(ctx))).scalar_one())
        samples = conn.execute(
            select(
                c.id.label("task_id"),
                c.title,
                c.time_progress.label("stored"),
                _new_value(ctx).label("new"),
            )
            .where(_changing(ctx))
            .order_by(c.id)
            .limit(10)
        ).mappings().all()
    return Preview(counts=counts, samples=[dict(r) for r in samples])


PROGRESS = JobSpec(
    id=JobId.UPDATE_TIME_PROGRESS,
    name="Store the time progress of processing tasks",
    short="time progress",
    run=run,
    preview=preview,
)
