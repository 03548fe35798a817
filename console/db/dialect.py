"""INSERT ... ON CONFLICT (DO NOTHING, DO UPDATE) for the dialect at hand: both SQLite and PostgreSQL
have it. Used by the jobs (the ledger, task_state) and the outbox's totals."""

from __future__ import annotations

from sqlalchemy import Connection
from sqlalchemy.dialects import postgresql, sqlite


def insert_or_skip(conn: Connection, table):
    """An insert on ``table`` that can leave out (``on_conflict_do_nothing``) or update
    (``on_conflict_do_update``) rows whose unique key is already taken."""
    module = postgresql if conn.dialect.name == "postgresql" else sqlite
    return module.insert(table)
