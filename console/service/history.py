"""What was done and what was sent: the audit of manual actions, and the notifications the jobs
wrote to the task system's notifications table. Read for the console's views, newest first."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import func, Engine, select

from console.db.engine import read_only
from console.db.models import AuditEntry
from console.db.task_tables import TaskTables
from console.service.dashboard import _timestamp, _timestamps
from console.service.near import handler_name


@dataclass(frozen=True)
class AuditLine:
    id: int
    at: datetime
    actor: str
    host: str
    action: str
    job_id: str
    outcome: str
    detail: str | None


@dataclass(frozen=True)
class SentNote:
    id: int
    created_at: datetime | object | None  # OutOfRange where the stored value cannot be read
    type: str | None
    to: str | None
    task_id: int | None
    title: str | None


def audit_lines(engine: Engine, limit: int = 500) -> list[AuditLine]:
    with read_only(engine).connect() as conn:
        rows = conn.execute(select(AuditEntry).order_by(AuditEntry.id.desc()).limit(limit)).all()
    return [AuditLine(id=r.id, at=r.at, actor=r.actor, host=r.host, action=r.action, job_id=r.job_id,
                      outcome=r.outcome, detail=r.detail) for r in rows]


# How far count_sent_notes counts: past it a capped list says "of 100,000+" (a count of millions
# would read the whole table at every load).
COUNT_CAP = 100_000


def count_sent_notes(engine: Engine, t: TaskTables, *, kind: str | None = None, task_id: int | None = None) -> int:
    """How many notifications ``sent_notes`` would list without its limit, up to COUNT_CAP + 1."""
    n = t.notifications.c
    query = select(n.id).select_from(t.notifications)
    if kind is not None:
        query = query.where(n.type == kind)
    if task_id is not None:
        query = query.where(n.task_id == task_id)
    with read_only(engine).connect() as conn:
        return int(conn.execute(select(func.count()).select_from(query.limit(COUNT_CAP + 1).subquery())).scalar_one())


def sent_notes(engine: Engine, t: TaskTables, *, kind: str | None = None, task_id: int | None = None,
               limit: int = 500) -> list[SentNote]:
    """Notifications in the task system's table, newest first (by id: its primary key's index),
    of one ``kind`` (their type column) and of one task, where given."""
    n, u = t.notifications.c, t.users.c
    created = _timestamp(n.created_at, "created_at") if "created_at" in n else ()
    # Labelled: under a mapping the columns carry the task system's own names.
    query = (select(n.id.label("id"), *created, n.type.label("type"), handler_name(t).label("to"),
                    n.task_id.label("task_id"), n.title.label("title"))
             .select_from(t.notifications).outerjoin(t.users, u.id == n.user_id))
    if kind is not None:
        query = query.where(n.type == kind)
    if task_id is not None:
        query = query.where(n.task_id == task_id)
    with read_only(engine).connect() as conn:
        rows = conn.execute(query.order_by(n.id.desc()).limit(limit)).mappings().all()
    out = []
    for row in rows:
        row = _timestamps(row, ("created_at",)) if "created_at" in n else {**row, "created_at": None}
        out.append(SentNote(id=row["id"], created_at=row["created_at"], type=row["type"], to=row["to"],
                            task_id=row["task_id"], title=row["title"]))
    return out
