"""update_time_progress: store the current time progress of every processing task with a window.

One UPDATE; only rows whose stored value changes are written, so tasks not yet started or
already past their end cost nothing after the first run.
"""

from __future__ import annotations

from sqlalchemy import and_, select, true, update

from console.db.engine import read_only
from console.db.models import Task
from console.db.types import round2
from console.jobs.base import Counts, JobContext, JobSpec, Preview
from console.jobs.sql import count_if, is_processing, skipped_rows, time_progress, window_ok


def _new_value(ctx: JobContext):
    return round2(time_progress(ctx.now))


def _changing(ctx: JobContext):
    return and_(is_processing(), window_ok(), Task.time_progress.is_distinct_from(_new_value(ctx)))


def _skipped(conn) -> Counts:
    counts = skipped_rows(conn)
    counts.pop("skipped_bad_progress")  # progress does not matter to time progress
    return counts


def run(ctx: JobContext) -> Counts:
    with ctx.engine.begin() as conn:
        counts = _skipped(conn)
        updated = conn.execute(
            update(Task)
            .where(_changing(ctx))
            .values(time_progress=_new_value(ctx))
            .execution_options(synchronize_session=False)
        ).rowcount
    counts["updated"] = updated
    ctx.log.info("update_time_progress: %d tasks updated", updated)
    return counts


def preview(ctx: JobContext) -> Preview:
    with read_only(ctx.engine).connect() as conn:
        counts = _skipped(conn)
        counts["would_update"] = int(conn.execute(select(count_if(true())).where(_changing(ctx))).scalar_one())
        samples = conn.execute(
            select(
                Task.id.label("task_id"),
                Task.title,
                Task.time_progress.label("stored"),
                _new_value(ctx).label("new"),
            )
            .where(_changing(ctx))
            .order_by(Task.id)
            .limit(10)
        ).mappings().all()
    return Preview(counts=counts, samples=[dict(r) for r in samples])


PROGRESS = JobSpec(
    id="update_time_progress",
    name="Store the time progress of processing tasks",
    short="time progress",
    run=run,
    preview=preview,
)
