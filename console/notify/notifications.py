"""Writing notifications.

A job's notifications are written by one ``INSERT ... SELECT``: the template is rendered in SQL
by concatenating its literal text with the selected columns, so sending to 100,000 handlers
costs one statement and no Python objects per row. A title or content longer than its column
(a task system's table may be narrower than ours) is cut to fit, not refused: it is made from
task data, and one long title must not fail the run.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Connection, Integer, String, cast, func, insert, literal, select
from sqlalchemy.sql.expression import ColumnElement, Select

from console.db.schema import text_widths
from console.db.task_tables import TaskTables, flag, has_column, is_set
from console.domain.templates import render, template_parts
from console.settings import Template


def render_sql(template: str, fields: dict[str, ColumnElement]) -> ColumnElement[str]:
    """The template as a SQL text expression; ``fields`` maps placeholder names to columns."""
    expr: ColumnElement[str] | None = None
    for literal_text, field in template_parts(template):
        pieces: list[ColumnElement[str]] = []
        if literal_text:
            pieces.append(literal(literal_text, String))
        if field is not None:
            pieces.append(func.coalesce(cast(fields[field], String), literal("", String)))
        for piece in pieces:
            expr = piece if expr is None else expr + piece  # String + String compiles to ||
    return expr if expr is not None else literal("", String)


def _fit(text: ColumnElement[str], width: int | None) -> ColumnElement[str]:
    return func.substr(text, 1, width) if width else text


def as_whole_number(column: ColumnElement) -> ColumnElement:
    """A number shown without decimals in a notification text (62.5 -> 63)."""
    return cast(func.round(column), Integer)


def _widths(conn: Connection, t: TaskTables) -> tuple[int | None, int | None]:
    n = t.notifications
    widths = text_widths(conn, n.name, (n.c.title.name, n.c.content.name))
    return widths[n.c.title.name], widths[n.c.content.name]


def _target(t: TaskTables) -> list[str]:
    """The notification columns written, by key; ``created_at`` only where the mapping has it
    (else the database's default fills it)."""
    keys = ["user_id", "type", "title", "content", "task_id", "is_read"]
    return keys + (["created_at"] if has_column(t, "notifications", "created_at") else [])


def _values(t: TaskTables, now: datetime) -> list[ColumnElement]:
    n = t.notifications.c
    unread = literal(flag(n.is_read, False), n.is_read.type)
    return [unread] + ([literal(now, n.created_at.type)] if "created_at" in n else [])


def insert_notifications(
    conn: Connection,
    t: TaskTables,
    template: Template,
    rows: Select,
    fields: dict[str, ColumnElement],
    *,
    user_id: ColumnElement,
    task_id: ColumnElement | None,
    now: datetime,
) -> int:
    """Insert one notification per row of ``rows`` (a select whose columns ``fields`` name) into
    the task system's notifications table."""
    title_width, content_width = _widths(conn, t)
    source = rows.with_only_columns(
        user_id,
        literal(template.type, String),
        _fit(render_sql(template.title, fields), title_width),
        _fit(render_sql(template.content, fields), content_width),
        task_id if task_id is not None else literal(None, Integer),
        *_values(t, now),
    )
    n = t.notifications
    stmt = insert(n).from_select([n.c[k] for k in _target(t)], source)
    return conn.execute(stmt).rowcount


def alert_admins(conn: Connection, t: TaskTables, template: Template, *, job_id: str, error: str,
                 now: datetime) -> int:
    """The job-failure notification, to every admin; returns how many were written."""
    values = {"job_id": job_id, "error": error[:500]}
    title_width, content_width = _widths(conn, t)
    u = t.users
    source = select(
        u.c.id,
        literal(template.type, String),
        literal(render(template.title, values)[:title_width], String),
        literal(render(template.content, values)[:content_width], String),
        literal(None, Integer),
        *_values(t, now),
    ).where(is_set(u.c.is_admin))
    n = t.notifications
    return conn.execute(insert(n).from_select([n.c[k] for k in _target(t)], source)).rowcount
