"""The scheduler-wide pause, stored in ``scheduler_pause`` so that it survives a hand-over.

Whoever pauses (the console's ``P``, ``taskconsole scheduler pause``, a command to the leader)
writes the row; the leading process reads it when elected and at every heartbeat, and pauses or
resumes its APScheduler to match (``LiveScheduler.obey_pause``). Per-job pauses live in the job
store's rows already; this is the one pause APScheduler keeps only in memory.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import Engine, select
from sqlalchemy.exc import IntegrityError

from console.db.engine import read_only
from console.db.models import SchedulerPause
from console.db.single_row import ROW_ID, put_row
from console.scheduler.ledger import HOST, utcnow


@dataclass(frozen=True)
class PauseState:
    paused: bool
    changed_at: datetime | None = None
    actor: str | None = None
    host: str | None = None


def stored_pause(engine: Engine) -> PauseState:
    """The stored scheduler-wide pause (not paused when nobody ever paused)."""
    with read_only(engine).connect() as conn:
        row = conn.execute(select(SchedulerPause).where(SchedulerPause.id == ROW_ID)).first()
    if row is None:
        return PauseState(False)
    return PauseState(bool(row.paused), row.changed_at, row.actor, row.host)


def store_pause(engine: Engine, paused: bool, actor: str) -> PauseState:
    """Record that the whole scheduler is paused (or not), by whom and from where."""
    values = dict(paused=paused, changed_at=utcnow(), actor=actor[:128], host=HOST[:255])
    for attempt in (1, 2):
        try:
            with engine.begin() as conn:
                put_row(conn, SchedulerPause, values)
            break
        except IntegrityError:
            if attempt == 2:
                raise
            # Another process inserted the row between our UPDATE and INSERT: update it now.
    return PauseState(**values)
