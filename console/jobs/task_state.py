"""Writing what taskconsole keeps per task (``task_state``) and what a reset writes into a task.

``task_state`` is taskconsole's own table (migration 0010), so the task system's tables keep only
their own columns. A task has a row once it has some state; every write here is an upsert, and a
set-based one where the tasks are given as a SELECT of ids.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import Column, Connection, MetaData, Table, literal, null, select, true
from sqlalchemy.sql.expression import ColumnElement, Select

from console.db.models import BigId
from console.db.task_sql import STATE
from console.db.task_tables import TaskTables, has_column, status_word
from console.db.column_types import UTCDateTime
from console.db.dialect import insert_or_skip


def upsert_statement(conn: Connection, rows: Select, values: dict[str, ColumnElement[Any]]):
    """For each task id ``rows`` selects (one column), set ``values`` (state column -> expression of
    literals, bind parameters or scalar subqueries) in its task_state row, creating it if need be.
    Bind parameters make it a statement for an executemany."""
    columns = ["task_id", *values]
    ids = rows.subquery("ids")
    source = select(ids.c[0], *values.values()).where(true())  # SQLite: a WHERE before ON CONFLICT
    stmt = insert_or_skip(conn, STATE).from_select(columns, source)
    return stmt.on_conflict_do_update(index_elements=[STATE.c.task_id],
                                      set_={name: stmt.excluded[name] for name in values})


def upsert(conn: Connection, rows: Select, values: dict[str, ColumnElement[Any]]) -> int:
    """``upsert_statement``, executed once; returns how many state rows were written."""
    return conn.execute(upsert_statement(conn, rows, values)).rowcount


def stamp_reset(conn: Connection, rows: Select, run_id: int) -> int:
    """The tasks ``rows`` selects were reset by run ``run_id``: a new warning cycle, and no plan left."""
    return upsert(conn, rows, {
        "last_reset_run_id": literal(run_id, STATE.c.last_reset_run_id.type),
        "next_reset_at": literal(None, UTCDateTime()),
        "reset_planned_from": literal(None, UTCDateTime()),
    })


def reset_values(t: TaskTables, now: datetime, start: Any, end: Any) -> dict:
    """What a reset writes into a task: back to new, no progress, no actual times, the new window
    (``start`` and ``end``: datetimes or bind parameters), updated now. Columns the mapping leaves
    out are not written."""
    c = t.tasks.c
    values: dict = {c.status: status_word(t, "new"), c.progress: 0, c.actual_end_time: null(),
                    c.expected_start_time: start, c.expected_end_time: end, c.updated_at: now}
    if has_column(t, "tasks", "time_progress"):
        values[c.time_progress] = 0
    if has_column(t, "tasks", "actual_start_time"):
        values[c.actual_start_time] = null()
    return values


def staging_table(conn: Connection, name: str):
    """A temporary table of task ids for this transaction's work (a fresh ``Table`` each time);
    the caller drops it before the commit (a rollback takes it away by itself)."""
    table = Table(name, MetaData(), Column("task_id", BigId, primary_key=True), prefixes=["TEMPORARY"])
    table.create(conn)
    return table
