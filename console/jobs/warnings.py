"""check_task_warnings: notify handlers of tasks whose time runs out faster than their work.

One INSERT ... SELECT ... ON CONFLICT DO NOTHING writes the warning ledger for every task that
reached a level; the ledger's unique key (task, cycle, level, repeat number) makes a second
send impossible even with two runs at once. A second INSERT ... SELECT writes the notifications
for exactly the ledger rows this run inserted. Both commit together. The console's panels read
the same tasks and the ledger (``console.service.dashboard``); nothing else is kept in step.

A level is sent once per task and cycle, and again after ``warnings.repeat_after`` (0: never).
A task's cycle is the run that last reset it (``task_state.last_reset_run_id``; 0 before any reset):
a reset starts a new cycle, a moved deadline does not, whatever the window now (migration 0008).
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Column, Connection, Integer, MetaData, Table, and_, delete, exists, func, insert, literal, select, true
from sqlalchemy.sql.expression import Select

from console.db.engine import describe_error, outside_transaction, read_only
from console.db.models import BigId, WarningSent
from console.db.task_sql import (
    count_unknown_status,
    crossed_between,
    has_handler,
    is_processing,
    level_of,
    past_lowest_threshold,
    progress_ok,
    raw_time_progress,
    skipped_rows,
    task_cycle,
    time_progress,
    window_ok,
)
from console.db.column_types import UTCDateTime, instant_of
from console.domain.runs import JobId
from console.jobs.base import Counts, JobContext, JobSpec, Preview
from console.db.dialect import insert_or_skip
from console.jobs.ledger_windows import repair_ledger_windows
from console.domain.deliveries import DeliveryEvent
from console.notify.notifications import as_whole_number, insert_notifications
from console.notify.outbox import queue_task_event

W = WarningSent


def _staging_table() -> Table:
    """A temporary table for this run's warnings due (a new Table each run: they share no metadata)."""
    return Table("warning_pending", MetaData(), Column("task_id", BigId), Column("level", Integer),
                 Column("ws", UTCDateTime), Column("we", UTCDateTime), Column("cycle", BigId),
                 Column("repeat_no", Integer), prefixes=["TEMPORARY"])


def _pending(ctx: JobContext, crossed_since: datetime | None = None) -> Select:
    """Tasks that reached a level whose warning is not yet sent (or is due again); with
    ``crossed_since``, only those whose threshold (or deadline) instant lies between it and now."""
    levels = ctx.settings.warnings.levels
    t = ctx.tables
    c = t.tasks.c
    which = past_lowest_threshold(t, ctx.now, levels)  # read through ix_tasks_warn_from (db tune)
    if crossed_since is not None:
        which = crossed_between(t, crossed_since, ctx.now, levels)  # each level's instant index
    # Time progress is computed once per row in an inner query (OFFSET 0 keeps the database from
    # inlining it and recomputing it in every test of the level expression).
    timed = (
        # The window as the instants it stands for, whatever clock the task system keeps (the
        # ledger's columns are UTC): a naive local 11:59 in Shanghai is 03:59Z, not 11:59Z.
        select(c.id, c.progress, instant_of(c.expected_start_time).label("expected_start_time"),
               instant_of(c.expected_end_time).label("expected_end_time"),
               task_cycle(t).label("cycle"), raw_time_progress(t, ctx.now).label("tp"))
        .where(is_processing(t), window_ok(t), progress_ok(t), c.current_handler_id.is_not(None), which)
        .offset(0)
        .subquery("timed")
    )
    level = level_of(timed.c.tp, timed.c.progress, levels)
    cand = (
        select(
            timed.c.id.label("task_id"),
            level.label("level"),
            timed.c.expected_start_time.label("ws"),
            timed.c.expected_end_time.label("we"),
            timed.c.cycle,
        )
        .where(timed.c.tp >= min(lv.at for lv in levels), level.is_not(None))
        .subquery("cand")
    )
    # The ledger's unique key but the repeat number (an index probe): the window is not in it.
    same_key = and_(
        W.task_id == cand.c.task_id,
        W.cycle == cand.c.cycle,
        W.level == cand.c.level,
    )
    repeat_after = ctx.settings.warnings.repeat_after
    recent = select(W.id).where(same_key)
    if repeat_after.total_seconds() > 0:
        recent = recent.where(W.sent_at > ctx.now - repeat_after)
    next_no = select(func.coalesce(func.max(W.repeat_no) + 1, 0)).where(same_key).scalar_subquery()
    return select(
        cand.c.task_id,
        cand.c.level,
        cand.c.ws,
        cand.c.we,
        cand.c.cycle,
        next_no.label("repeat_no"),
    ).where(cand.c.level.is_not(None), ~exists(recent))


def any_crossed(conn: Connection, ctx: JobContext, since: datetime) -> bool:
    """Whether a task that may be warned crossed a threshold (or its deadline) since ``since``: one
    probe of the threshold indexes, so that a pass that finds nothing costs little more (a
    statement whose form never changes: compiled once per process)."""
    t = ctx.tables
    c = t.tasks.c
    # A count, not LIMIT 1: with a limit PostgreSQL hopes to find a row early in some other order,
    # and walks the table (3 s at a million tasks) when there is none.
    probe = (select(func.count()).select_from(t.tasks)
             .where(is_processing(t), window_ok(t), progress_ok(t), c.current_handler_id.is_not(None),
                    crossed_between(t, since, ctx.now, ctx.settings.warnings.levels)))
    return conn.execute(probe).scalar_one() > 0


def _skipped(conn, ctx: JobContext) -> Counts:
    counts = skipped_rows(conn, ctx.tables, ctx.now, ctx.settings.warnings.levels)
    counts["skipped_unknown_status"] = count_unknown_status(conn, ctx.tables)
    return counts


def run(ctx: JobContext) -> Counts:
    with ctx.engine.begin() as conn:
        repair_ledger_windows(conn, ctx.tables)
        counts = _skipped(conn, ctx)
        written = write_warnings(conn, ctx)
    counts["skipped_no_handler"] += written.pop("skipped_no_handler")
    counts.update(written)
    if counts["sent"]:
        keep_visible(ctx)
    del counts["sent"]
    _log_sent(ctx, counts)
    return counts


def write_warnings(conn: Connection, ctx: JobContext, crossed_since: datetime | None = None) -> Counts:
    """Write the ledger rows and notifications of the warnings due now (of those that crossed since
    ``crossed_since`` only, if given), in ``conn``'s transaction. Counts: ``sent`` (ledger rows),
    ``notified``, ``skipped_no_handler`` (ledger rows taken back: their handler is gone) and
    ``level_<n>`` per level."""
    counts: Counts = {"skipped_no_handler": 0}
    # The warnings due are worked out in full before the first ledger row is written. In one
    # INSERT ... SELECT the per-task ledger lookups run while the ledger grows, and a planner
    # that saw the ledger (nearly) empty scans it for each: 100,000 new warnings then took
    # 132 s instead of 4 (PostgreSQL, a ledger analyzed while empty).
    t = ctx.tables
    c = t.tasks.c
    pending = _staging_table()
    pending.create(conn)
    conn.execute(insert(pending).from_select([c.name for c in pending.columns], _pending(ctx, crossed_since)))
    source = select(
        pending.c.task_id,
        pending.c.level,
        pending.c.ws,
        pending.c.we,
        pending.c.cycle,
        pending.c.repeat_no,
        literal(ctx.now, W.__table__.c.sent_at.type),
        literal(ctx.run_id, W.__table__.c.run_id.type),
    ).where(true()).order_by(pending.c.task_id)  # SQLite needs a WHERE before ON CONFLICT after a SELECT
    stmt = (
        insert_or_skip(conn, W)
        .from_select(["task_id", "level", "window_start", "window_end", "cycle", "repeat_no", "sent_at", "run_id"],
                     source)
        .on_conflict_do_nothing()
    )
    sent = conn.execute(stmt).rowcount
    pending.drop(conn)
    rows = (select(c.id).select_from(W).join(t.tasks, c.id == W.task_id)
            .where(W.run_id == ctx.run_id, has_handler(t)))
    template = ctx.settings.notifications.warning
    fields = {
        "title": c.title,
        "task_id": c.id,
        "level": W.level,
        "progress": as_whole_number(c.progress),
    }
    notified = insert_notifications(
        conn, t, template, rows, fields, user_id=c.current_handler_id, task_id=c.id, now=ctx.now
    )
    # The deliveries of these warnings to the channels, in this transaction (issue #28).
    queued = queue_task_event(conn, t, ctx.settings, DeliveryEvent.WARNING, rows, now=ctx.now,
                              run_id=ctx.run_id, level=W.level, deadline=W.window_end)
    removed = 0
    if notified < sent:
        # Handler ids whose user is gone (written without foreign keys): no notification can
        # reach them, so their ledger rows go too; they are counted with the tasks without one.
        removed = conn.execute(
            delete(W).where(W.run_id == ctx.run_id,
                            exists(select(c.id).where(c.id == W.task_id, ~has_handler(t))))
            .execution_options(synchronize_session=False)
        ).rowcount
        counts["skipped_no_handler"] = removed
    by_level = dict(
        conn.execute(select(W.level, func.count()).where(W.run_id == ctx.run_id).group_by(W.level)).all()
    ) if sent else {}
    counts["sent"] = sent - removed
    counts["notified"] = notified
    if ctx.settings.delivery_channels:
        counts["deliveries_queued"] = queued
    for lv in ctx.settings.warnings.levels:
        counts[f"level_{lv.level}"] = int(by_level.get(lv.level, 0))
    return counts


def _log_sent(ctx: JobContext, counts: Counts) -> None:
    ctx.log.info("check_task_warnings: %d warnings sent (%s)", counts["notified"],
                 ", ".join(f"{lv.level}%: {counts[f'level_{lv.level}']}" for lv in ctx.settings.warnings.levels))


def keep_visible(ctx: JobContext) -> None:
    """VACUUM the ledger after a run that wrote to it: the warning panel's sent-per-hour counts are
    an index-only scan of ix_warning_ledger_sent_at_level, which reads the table for every page not
    marked all-visible, and autovacuum may come much later, or be off. SKIP_LOCKED: never wait for a
    vacuum already at work. The warnings are committed by now, so a failure is only logged."""
    if ctx.engine.dialect.name != "postgresql":
        return  # SQLite reads a covering index without visibility checks
    try:
        outside_transaction(ctx.engine, "VACUUM (SKIP_LOCKED) warning_ledger")
    except Exception as exc:  # noqa: BLE001 - housekeeping after the commit must not fail the run
        ctx.log.warning("check_task_warnings: vacuum of warning_ledger skipped: %s",
                        describe_error(exc, ctx.engine.url))


def preview(ctx: JobContext) -> Preview:
    with read_only(ctx.engine).connect() as conn:
        counts = _skipped(conn, ctx)
        t = ctx.tables
        c = t.tasks.c
        pending = _pending(ctx).subquery("pending")
        handler_gone = select(func.count()).select_from(pending).join(t.tasks, c.id == pending.c.task_id)
        counts["skipped_no_handler"] += int(conn.execute(handler_gone.where(~has_handler(t))).scalar_one())
        by_level = dict(conn.execute(
            select(pending.c.level, func.count()).join(t.tasks, c.id == pending.c.task_id).where(has_handler(t))
            .group_by(pending.c.level)
        ).all())
        for lv in ctx.settings.warnings.levels:
            counts[f"level_{lv.level}"] = int(by_level.get(lv.level, 0))
        counts["would_notify"] = sum(int(v) for v in by_level.values())
        samples = conn.execute(
            select(
                c.id.label("task_id"),
                c.title,
                pending.c.level,
                c.progress,
                time_progress(t, ctx.now).label("time_progress"),
                c.current_handler_id.label("handler_id"),
            )
            .select_from(pending)
            .join(t.tasks, c.id == pending.c.task_id)
            .where(has_handler(t))
            .order_by(pending.c.level, c.id)
            .limit(10)
        ).mappings().all()
    return Preview(counts=counts, samples=[dict(r) for r in samples])


WARNINGS = JobSpec(
    id=JobId.CHECK_TASK_WARNINGS,
    name="Warn handlers of tasks running out of time (20%, 10%, 5% left)",
    short="warn 20/10/5%",
    run=run,
    preview=preview,
)
