"""INSERT ... ON CONFLICT DO NOTHING for the dialect at hand (both SQLite and PostgreSQL have it)."""

from __future__ import annotations

from sqlalchemy import Connection
from sqlalchemy.dialects import postgresql, sqlite


def insert_or_skip(conn: Connection, table):
    """An insert on ``table`` that leaves out rows whose unique key is already taken."""
    module = postgresql if conn.dialect.name == "postgresql" else sqlite
    return module.insert(table)
