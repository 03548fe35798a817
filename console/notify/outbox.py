"""Writing the outbox (``deliveries``, issue #28): one row per event for each channel that takes
it, in the caller's transaction, so a delivery exists exactly when the notification (or the run's
end) it copies was committed.

Set-based like the notifications: one ``INSERT ... SELECT`` per channel over the same rows the
notifications were written from, joined to the users for a personal channel's address. No Python
object per warning; the message is rendered when it is sent (console.notify.messages), from the
data copied here (title, level, deadline, progress).

When a row may go is decided here, once for the statement: now; the end of the channel's digest
window (``digest``); or, for a personal channel in its quiet hours, their end (``held``: it goes
out with the others held as one digest). Job events are never held nor gathered.
"""

from __future__ import annotations

import json
from datetime import datetime

from sqlalchemy import Boolean, Connection, Float, Integer, String, Text, and_, cast, insert, literal, select
from sqlalchemy.sql.expression import ColumnElement, Select

from console.db.column_types import UTCDateTime
from console.db.dialect import insert_or_skip
from console.db.models import BigId, Delivery, DeliveryTotal
from console.db.task_tables import TaskTables, is_set
from console.domain.deliveries import ChannelTarget, DeliveryEvent, DeliveryState, digest_end, quiet_until
from console.settings import ChannelSettings, Settings

D = Delivery.__table__
COLUMNS = ["channel", "event", "user_id", "address", "task_id", "subject", "level", "deadline", "progress",
           "detail", "run_id", "state", "tries", "held", "created_at", "next_try_at", "fields"]


def channels_for(settings: Settings, event: DeliveryEvent) -> list[ChannelSettings]:
    return [c for c in settings.delivery_channels if event in c.events]


def first_try(settings: Settings, channel: ChannelSettings, event: DeliveryEvent, now: datetime) -> tuple[datetime, bool]:
    """(when the rows written now may first be tried, whether quiet hours hold them)."""
    if event in (DeliveryEvent.JOB_FAILURE, DeliveryEvent.JOB_MISSED):
        return now, False  # an admin's alert is never held, nor waits for a digest
    at, held = now, False
    if channel.digest is not None:
        at = digest_end(now, channel.digest, settings.tz)
    quiet_end = quiet_until(now, channel.quiet, settings.tz) if channel.to == ChannelTarget.HANDLER else None
    if quiet_end is not None:
        at, held = max(at, quiet_end), True
    return at, held


def _has_address(column: ColumnElement) -> ColumnElement[bool]:
    return and_(column.is_not(None), column != literal("", String))


def _common(channel: ChannelSettings, event: DeliveryEvent, now: datetime, at: datetime, held: bool,
            run_id: int | None) -> dict[str, ColumnElement]:
    return {
        "channel": literal(channel.name, String), "event": literal(str(event), String),
        "run_id": literal(run_id, BigId), "state": literal(str(DeliveryState.PENDING), String),
        "tries": literal(0, Integer), "held": literal(held, Boolean),
        "created_at": literal(now, UTCDateTime()), "next_try_at": literal(at, UTCDateTime()),
        "fields": literal(None, Text),
    }


def queue_task_event(conn: Connection, t: TaskTables, settings: Settings, event: DeliveryEvent, rows: Select, *,
                     now: datetime, run_id: int | None, level: ColumnElement | None = None,
                     deadline: ColumnElement | None = None) -> int:
    """Queue ``event`` for every task ``rows`` selects (a select over ``t.tasks``, of tasks whose
    handler exists), for each channel that takes it; returns the rows written."""
    c, u = t.tasks.c, t.users
    written = 0
    for channel in channels_for(settings, event):
        query = rows
        if level is not None and channel.levels:
            query = query.where(level.in_(channel.levels))
        address: ColumnElement = literal(None, Text)
        if channel.to == ChannelTarget.HANDLER:
            # An alias: ``rows`` may test the handler's existence in a subquery over users, which
            # the outer users would otherwise correlate away.
            to = u.alias("recipient")
            query = query.join(to, to.c.id == c.current_handler_id).where(_has_address(to.c.email))
            address = cast(to.c.email, Text)
        at, held = first_try(settings, channel, event, now)
        values = {
            **_common(channel, event, now, at, held, run_id),
            "user_id": c.current_handler_id, "address": address, "task_id": c.id,
            "subject": cast(c.title, Text),
            "level": level if level is not None else literal(None, Integer),
            "deadline": deadline if deadline is not None else literal(None, UTCDateTime()),
            "progress": cast(c.progress, Float), "detail": literal(None, Text),
        }
        source = query.with_only_columns(*(values[k] for k in COLUMNS))
        written += conn.execute(insert(D).from_select(COLUMNS, source)).rowcount
    return written


def queue_job_event(conn: Connection, t: TaskTables, settings: Settings, event: DeliveryEvent, *, job_id: str,
                    detail: str, run_id: int | None, now: datetime, fields: dict | None = None) -> int:
    """Queue a job's failure or missed firing: one row for a room, one per admin with an address
    for a personal channel; returns the rows written. ``fields`` (the failure webhook's body:
    event, job_id, at, host ...) are kept for the channels that post them (``fields: true``)."""
    u = t.users
    written = 0
    for channel in channels_for(settings, event):
        values = {
            **_common(channel, event, now, now, False, run_id),
            "user_id": literal(None, BigId), "address": literal(None, Text), "task_id": literal(None, BigId),
            "subject": literal(job_id, Text), "level": literal(None, Integer),
            "deadline": literal(None, UTCDateTime()), "progress": literal(None, Float),
            "detail": literal(detail[:2000], Text),
        }
        if channel.fields and fields is not None:
            values["fields"] = literal(json.dumps(fields, ensure_ascii=False, default=str), Text)
        if channel.to == ChannelTarget.HANDLER:
            values["user_id"], values["address"] = u.c.id, cast(u.c.email, Text)
            source = select(*(values[k] for k in COLUMNS)).where(is_set(u.c.is_admin), _has_address(u.c.email))
        else:
            source = select(*(values[k] for k in COLUMNS))
        written += conn.execute(insert(D).from_select(COLUMNS, source)).rowcount
    return written


def add_total(conn: Connection, channel: str, state: str, n: int) -> None:
    """Count ``n`` deliveries of ``channel`` that ended in ``state`` and are leaving it (sent again,
    or deleted by retention) in ``delivery_totals``, so ``taskconsole_deliveries_total`` never falls."""
    t = DeliveryTotal.__table__
    # One upsert: a retry and retention adding the first total at once cannot collide on the key.
    stmt = insert_or_skip(conn, t).values(channel=channel, state=state, count=n)
    conn.execute(stmt.on_conflict_do_update(index_elements=[t.c.channel, t.c.state],
                                            set_={"count": t.c.count + stmt.excluded.count}))
