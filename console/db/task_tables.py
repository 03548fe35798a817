"""The task system's three tables as SQLAlchemy Core ``Table`` objects, built from the mapping.

Settings section ``task_system`` says what the task system calls its tables and columns. Each
column is built as ``Column(<its real name>, <type>, key=<taskconsole's name>)``, so code writes
``tables.tasks.c.status`` whatever the column is called, and SQLAlchemy quotes the real name. A
column mapped to null is left out (``has_column`` says whether it is there).

Types are either taskconsole's own (``console.db.models``, the demo schema: ``build_tables``) or
the live schema's (``reflect_types`` / ``live_tables``), where a ``timestamp without time zone``
column (and every SQLite timestamp) is read and written as the wall clock ``naive_timestamps``
names: UTC, or the settings' timezone.

The helpers at the end turn the mapping's words into predicates (``status_in``, ``is_periodic``)
and say which word to write (``status_word``, ``periodic_word``), so no caller spells a status.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from sqlalchemy import Boolean, Column, Connection, DateTime, MetaData, String, Table, inspect, literal_column, or_
from sqlalchemy.sql.elements import ColumnElement
from sqlalchemy.types import NullType, TypeEngine

from console.db.engine import read_only
from console.db.column_types import UTCDateTime, WallClockDateTime  # noqa: F401 - WallClockDateTime: re-exported
from console.settings import Settings
from console.settings.task_system import STATUS_NAMES, TaskSystemSettings

TABLES = ("tasks", "users", "notifications")
# The primary key of each table (integer, as the jobs compare and join on it).
_KEYS = {"tasks": "id", "users": "id", "notifications": "id"}


@dataclass(frozen=True)
class TaskTables:
    """The three tables, under taskconsole's names, and the mapping they were built from."""

    mapping: TaskSystemSettings
    tasks: Table
    users: Table
    notifications: Table

    def table(self, name: str) -> Table:
        """One of the three tables by taskconsole's name (``tasks``, ``users``, ``notifications``)."""
        if name not in TABLES:
            raise KeyError(name)
        return getattr(self, name)


def mapped_columns(mapping: TaskSystemSettings, table: str) -> dict[str, str | None]:
    """taskconsole's name -> the task system's name (None: not there) of each column of ``table``."""
    return dict(getattr(mapping.columns, table))


def default_types() -> dict[str, dict[str, TypeEngine[Any]]]:
    """The types of taskconsole's own schema (``console.db.models``), per table and column."""
    from console.db.models import Base

    out: dict[str, dict[str, TypeEngine[Any]]] = {}
    for table in TABLES:
        model = Base.metadata.tables[table]
        # A column the demo schema lacks (users.email, null by default) is text.
        out[table] = {key: model.c[key].type if key in model.c else String()
                      for key in mapped_columns(TaskSystemSettings(), table)}
    return out


def build_tables(mapping: TaskSystemSettings,
                 types: dict[str, dict[str, TypeEngine[Any]]] | None = None,
                 metadata: MetaData | None = None) -> TaskTables:
    """The three tables under ``mapping``, with ``types`` (default: ``default_types()``; a table
    or column missing from ``types`` keeps its default type)."""
    defaults = default_types()
    metadata = metadata if metadata is not None else MetaData()
    built = {}
    for table in TABLES:
        given = (types or {}).get(table, {})
        columns = [
            Column(name, given.get(key, defaults[table].get(key, String())), key=key, primary_key=key == _KEYS[table])
            for key, name in mapped_columns(mapping, table).items() if name is not None
        ]
        built[table] = Table(getattr(mapping.tables, table), metadata, *columns)
    return TaskTables(mapping=mapping, **built)


class LiveColumns(dict):
    """A live table's columns (the inspector's dicts) by name. ``find`` matches a name as the
    database does: exactly on PostgreSQL (a quoted name), regardless of ASCII case on SQLite."""

    def __init__(self, columns: list[dict[str, Any]], dialect: str):
        super().__init__((c["name"], c) for c in columns)
        self._folded = {c["name"].lower(): c for c in columns} if dialect == "sqlite" else {}

    def find(self, name: str | None) -> dict[str, Any] | None:
        if name is None:
            return None
        return self.get(name) or self._folded.get(name.lower())


def live_columns(conn: Connection, table: str) -> LiveColumns:
    """The columns of ``table`` as the inspector reads them."""
    return LiveColumns(inspect(conn).get_columns(table), conn.dialect.name)


def reflect_types(conn: Connection, mapping: TaskSystemSettings,
                  zone: str = "UTC") -> dict[str, dict[str, TypeEngine[Any]]]:
    """The live schema's type of every mapped column that exists, per table and column.

    A timestamp column with a time zone is read as ``UTCDateTime``; one without (every SQLite
    timestamp) as ``WallClockDateTime`` of UTC, or of ``zone`` when ``naive_timestamps`` is
    ``local``. A type SQLAlchemy cannot name is left out (the default type is used)."""
    wall_clock = "UTC" if mapping.naive_timestamps == "utc" else zone
    inspector = inspect(conn)
    out: dict[str, dict[str, TypeEngine[Any]]] = {}
    for table in TABLES:
        name = getattr(mapping.tables, table)
        if not inspector.has_table(name):
            continue
        live = live_columns(conn, name)
        found: dict[str, TypeEngine[Any]] = {}
        for key, column in mapped_columns(mapping, table).items():
            info = live.find(column)
            kind = info["type"] if info is not None else None
            if kind is None or isinstance(kind, NullType):
                continue
            if isinstance(kind, DateTime):
                kind = UTCDateTime() if getattr(kind, "timezone", False) else WallClockDateTime(wall_clock)
            found[key] = kind
        out[table] = found
    return out


def live_tables(conn: Connection, settings: Settings) -> TaskTables:
    """The three tables under the settings' mapping, with the live schema's types."""
    mapping = settings.task_system
    return build_tables(mapping, reflect_types(conn, mapping, settings.timezone))


_LIVE: dict[tuple, TaskTables] = {}


def tables_for(engine, settings: Settings) -> TaskTables:
    """``live_tables`` of ``engine``'s database, read once per database, mapping and zone. Until
    the tables exist (before ``db upgrade``) the demo schema's types stand in, and are read again."""
    key = (engine.url.render_as_string(hide_password=False), settings.task_system, settings.timezone)
    found = _LIVE.get(key)
    if found is None:
        with read_only(engine).connect() as conn:
            found = live_tables(conn, settings)
            complete = all(inspect(conn).has_table(getattr(settings.task_system.tables, t)) for t in TABLES)
        if complete:
            _LIVE[key] = found
    return found


def forget_live_tables() -> None:
    """Drop what ``tables_for`` read (after a schema change: ``db upgrade``, a test's new table)."""
    _LIVE.clear()


def has_column(tables: TaskTables, table: str, key: str) -> bool:
    """Whether the mapping gives ``table`` a column ``key`` (an optional one may be null)."""
    return key in tables.table(table).c


# --- the mapping's words as predicates ---------------------------------------------------------

def _statuses(statuses: tuple[str, ...]) -> tuple[str, ...]:
    unknown = [s for s in statuses if s not in STATUS_NAMES]
    if unknown:
        raise ValueError(f"unknown status {unknown[0]!r}; known: {', '.join(STATUS_NAMES)}")
    return statuses


def status_words(tables: TaskTables, *statuses: str) -> tuple[str, ...]:
    """Every word the task system stores for ``statuses`` (all statuses when none is given)."""
    return tables.mapping.values.status.words(*_statuses(statuses))


def word(value: str) -> ColumnElement[str]:
    """A word of the mapping as an SQL string literal. Quotes are doubled; backslashes are plain
    characters on both backends (PostgreSQL sessions run with standard_conforming_strings on)."""
    return literal_column("'" + value.replace("'", "''") + "'", String())


def words_in(column: ColumnElement[Any], words: tuple[str, ...]) -> ColumnElement[bool]:
    """``column`` holds one of ``words``, written into the SQL as literals, not parameters: a partial
    index (``db tune``) is used only for a query whose condition is its own, literally on SQLite; a
    trigger body has no parameters; and an executemany cannot expand a list."""
    literals = [word(w) for w in words]
    return column == literals[0] if len(literals) == 1 else or_(*[column == lit for lit in literals])


def status_in(tables: TaskTables, *statuses: str) -> ColumnElement[bool]:
    """``tasks.status`` is one of the words of ``statuses``: ``status_in(t, "completed", "closed")``."""
    if not statuses:
        raise ValueError("name at least one status")
    return words_in(tables.tasks.c.status, status_words(tables, *statuses))


def known_status(tables: TaskTables) -> ColumnElement[bool]:
    """``tasks.status`` is a word the mapping names (NULL and any other word are not)."""
    return words_in(tables.tasks.c.status, status_words(tables))


def status_word(tables: TaskTables, status: str) -> str:
    """The word written for ``status``: the first the mapping gives."""
    return getattr(tables.mapping.values.status, _statuses((status,))[0])[0]


def is_periodic(tables: TaskTables) -> ColumnElement[bool]:
    """``tasks.category`` marks a periodic task."""
    return words_in(tables.tasks.c.category, tables.mapping.values.category.periodic)


def periodic_word(tables: TaskTables) -> str:
    """The word written for a periodic task's category: the first the mapping gives."""
    return tables.mapping.values.category.periodic[0]


def is_set(column: ColumnElement[Any]) -> ColumnElement[bool]:
    """A boolean or 0/1 flag (``is_admin``, ``is_read``) is true."""
    return column.is_(True) if isinstance(column.type, Boolean) else column != 0


def flag(column: ColumnElement[Any], value: bool) -> bool | int:
    """The value to write into a boolean or 0/1 flag column."""
    return value if isinstance(column.type, Boolean) else int(value)
