"""Writing notifications.

A job's notifications are written by one ``INSERT ... SELECT``: the template is rendered in SQL
by concatenating its literal text with the selected columns, so sending to 100,000 handlers
costs one statement and no Python objects per row. A title or content longer than its column
(a task system's table may be narrower than ours) is cut to fit, not refused: it is made from
task data, and one long title must not fail the run.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Connection, Integer, String, cast, false, func, insert, literal, select
from sqlalchemy.sql.expression import ColumnElement, Select

from console.db.models import Notification, User
from console.db.schema import text_widths
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


def insert_notifications(
    conn: Connection,
    template: Template,
    rows: Select,
    fields: dict[str, ColumnElement],
    *,
    user_id: ColumnElement,
    task_id: ColumnElement | None,
    now: datetime,
) -> int:
    """Insert one notification per row of ``rows`` (a select whose columns ``fields`` name)."""
    widths = text_widths(conn, "notifications", ("title", "content"))
    source = rows.with_only_columns(
        user_id,
        literal(template.type, String),
        _fit(render_sql(template.title, fields), widths["title"]),
        _fit(render_sql(template.content, fields), widths["content"]),
        task_id if task_id is not None else literal(None, Integer),
        false(),
        literal(now, Notification.__table__.c.created_at.type),
    )
    stmt = insert(Notification).from_select(
        ["user_id", "type", "title", "content", "task_id", "is_read", "created_at"], source
    )
    return conn.execute(stmt).rowcount


def alert_admins(conn: Connection, template: Template, *, job_id: str, error: str, now: datetime) -> int:
    """The job-failure notification, to every admin; returns how many were written."""
    values = {"job_id": job_id, "error": error[:500]}
    widths = text_widths(conn, "notifications", ("title", "content"))
    source = select(
        User.id,
        literal(template.type, String),
        literal(render(template.title, values)[: widths["title"]], String),
        literal(render(template.content, values)[: widths["content"]], String),
        literal(None, Integer),
        false(),
        literal(now, Notification.__table__.c.created_at.type),
    ).where(User.is_admin.is_(True))
    stmt = insert(Notification).from_select(
        ["user_id", "type", "title", "content", "task_id", "is_read", "created_at"], source
    )
    return conn.execute(stmt).rowcount
