"""``db check``: the ``task_system`` mapping compared with the live schema, and the data's words.

For each of the three tables and each mapped column it says what the database has (type,
nullability) and whether taskconsole can use it; it lists the problems that stop the jobs (a
missing table or column, a type taskconsole cannot use, a notification type too long for its
column, a notifications table taskconsole cannot insert into), and the status and category
words found in the data that the mapping does not name, with their row counts (one GROUP BY
each). It reads the catalog through SQLAlchemy's inspector and needs none of taskconsole's own
tables: it is what an operator runs first on the task system's database. It writes nothing.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any

from sqlalchemy import Connection, Engine, func, inspect, or_, select
from sqlalchemy import types as sqltypes

from console.db.engine import read_only
from console.db.schema import notification_type_misfits
from console.db.task_tables import (TABLES, LiveColumns, build_tables, live_columns, mapped_columns, reflect_types,
                                    status_word, status_words)
from console.settings import Settings

# What each column must be, by taskconsole's name.
_ID, _TEXT, _NUMBER, _TIME, _FLAG = "integer", "text", "number", "timestamp", "flag"
KINDS: dict[str, dict[str, str]] = {
    "tasks": {"id": _ID, "title": _TEXT, "category": _TEXT, "status": _TEXT, "progress": _NUMBER,
              "time_progress": _NUMBER, "expected_start_time": _TIME, "expected_end_time": _TIME,
              "actual_start_time": _TIME, "actual_end_time": _TIME, "current_handler_id": _ID,
              "created_at": _TIME, "updated_at": _TIME, "recurrence": _TEXT},
    "users": {"id": _ID, "name": _TEXT, "is_admin": _FLAG, "email": _TEXT},
    "notifications": {"id": _ID, "user_id": _ID, "type": _TEXT, "title": _TEXT, "content": _TEXT,
                      "task_id": _ID, "is_read": _FLAG, "created_at": _TIME},
}
NEEDS = {_ID: "an integer", _TEXT: "text", _NUMBER: "an integer or a number", _TIME: "a timestamp",
         _FLAG: "a boolean or an integer (0/1)"}
_FITS = {
    _ID: (sqltypes.Integer,),
    _TEXT: (sqltypes.String,),
    _NUMBER: (sqltypes.Integer, sqltypes.Numeric, sqltypes.Float),  # (Float is no Numeric in SQLAlchemy 2.1)
    _TIME: (sqltypes.DateTime,),
    _FLAG: (sqltypes.Boolean, sqltypes.Integer),
}
# The most distinct unnamed words listed per column; the rest are counted as "more".
MAX_VALUES = 50


@dataclass(frozen=True)
class ColumnCheck:
    """One mapped column: what the database has and whether taskconsole can use it."""

    column: str  # taskconsole's name
    name: str | None  # the task system's name; None: mapped to null (the task system has none)
    needs: str  # integer | text | number | timestamp | flag (boolean or 0/1)
    found: bool
    type: str | None = None
    nullable: bool | None = None
    length: int | None = None
    usable: bool = False
    note: str | None = None


@dataclass(frozen=True)
class TableCheck:
    table: str  # taskconsole's name
    name: str  # the task system's name
    found: bool
    columns: list[ColumnCheck] = field(default_factory=list)


@dataclass(frozen=True)
class UnnamedValues:
    """Words in one column that the mapping does not name, most rows first."""

    column: str  # tasks.status | tasks.category
    values: list[dict[str, Any]]  # {"value": word or None, "rows": n}
    more: int = 0  # distinct words past MAX_VALUES


@dataclass(frozen=True)
class MappingCheck:
    dialect: str
    naive_timestamps: str
    wall_clock: str  # the zone naive timestamps are read in
    tables: list[TableCheck]
    status: UnnamedValues | None
    category: UnnamedValues | None
    notification_type_width: int | None
    notification_type_longest: int
    problems: list[str]

    @property
    def ok(self) -> bool:
        return not self.problems

    def as_dict(self) -> dict[str, Any]:
        """The JSON of ``db check --json`` (its shape is documented in the README)."""
        return {
            "ok": self.ok, "dialect": self.dialect, "naive_timestamps": self.naive_timestamps,
            "wall_clock": self.wall_clock,
            "tables": [asdict(t) for t in self.tables],
            "unnamed_values": {"status": asdict(self.status) if self.status else None,
                               "category": asdict(self.category) if self.category else None},
            "notification_type": {"width": self.notification_type_width,
                                  "longest": self.notification_type_longest},
            "problems": self.problems,
        }


def _type_text(kind: sqltypes.TypeEngine[Any], conn: Connection) -> str:
    try:
        return kind.compile(dialect=conn.dialect)
    except Exception:  # noqa: BLE001 - a type SQLAlchemy cannot render (NullType): its class says enough
        return type(kind).__name__


def _column(table: str, key: str, name: str | None, live: LiveColumns, conn: Connection,
            wall_clock: str) -> tuple[ColumnCheck, str | None]:
    """The check of one column, and the problem it raises (None: none)."""
    kind = KINDS[table][key]
    needs = NEEDS[kind]
    if name is None:
        return ColumnCheck(key, None, kind, found=False, usable=True, note="mapped to null: not used"), None
    info = live.find(name)
    where = f"task_system.columns.{table}.{key}"
    if info is None:
        return (ColumnCheck(key, name, kind, found=False, note="not found"),
                f"{table}.{key}: column {name!r} not found ({where}){_near(name, live)}")
    found = info["type"]
    usable = isinstance(found, _FITS[kind])
    note = None
    if usable and kind == _TIME:
        note = ("with time zone" if getattr(found, "timezone", False)
                else f"without time zone: read as {wall_clock} wall-clock time")
    check = ColumnCheck(key, name, kind, found=True, type=_type_text(found, conn), nullable=bool(info["nullable"]),
                        length=getattr(found, "length", None), usable=usable,
                        note=note if usable else f"taskconsole needs {needs}")
    problem = None if usable else f"{table}.{key}: column {name!r} is {check.type}; taskconsole needs {needs} ({where})"
    return check, problem


def _near(name: str, names) -> str:
    """A hint when ``name`` differs from an existing name only in case. PostgreSQL matches a
    mapped name exactly (taskconsole quotes it), though it folded an unquoted name to lower case
    when the task system created the table; SQLite never gets here, it ignores case itself."""
    same = sorted(n for n in names if n.lower() == name.lower() and n != name)
    return f"; the database has {same[0]!r}" if same else ""


def _generated_key(info: dict[str, Any], pk: list[str], dialect: str) -> bool:
    """Whether the database fills the key column itself (serial, identity, a default, SQLite's rowid)."""
    if info.get("default") is not None or info.get("identity"):
        return True
    if dialect == "sqlite":
        return pk == [info["name"]] and str(info["type"]).upper() == "INTEGER"
    return info.get("autoincrement") is True


def _insert_problems(conn: Connection, settings: Settings, name: str, live: LiveColumns) -> list[str]:
    """What would make every notification the jobs insert fail: a key the database does not
    fill, or a NOT NULL column without a default that taskconsole does not write."""
    problems = []
    mapped = mapped_columns(settings.task_system, "notifications")
    pk = inspect(conn).get_pk_constraint(name).get("constrained_columns") or []
    key = live.find(mapped["id"])
    if key is not None and not _generated_key(key, pk, conn.dialect.name):
        problems.append(f"notifications.id: the database does not generate column {mapped['id']!r} "
                        "(no serial, identity or default); taskconsole inserts notifications without an id")
    written = {found["name"] for found in map(live.find, mapped.values()) if found is not None}
    for column, info in live.items():
        if column not in written and not info["nullable"] and info.get("default") is None and not info.get("identity"):
            if column in pk and _generated_key(info, pk, conn.dialect.name):
                continue
            problems.append(f"notifications: column {column!r} is NOT NULL without a default, and taskconsole "
                            "does not write it: every notification would fail (map it, or give it a default)")
    return problems


def _unnamed(conn: Connection, column, named: tuple[str, ...], label: str) -> UnnamedValues:
    """The words of ``column`` outside ``named`` (NULL included), with row counts: one GROUP BY."""
    rows = func.count().label("rows")
    groups = select(column, rows).where(or_(column.is_(None), column.not_in(named))).group_by(column)
    found = conn.execute(groups.order_by(rows.desc(), column).limit(MAX_VALUES + 1)).all()
    more = 0
    if len(found) > MAX_VALUES:  # a free-text column: say how many words were left out
        more = conn.execute(select(func.count()).select_from(groups.subquery())).scalar_one() - MAX_VALUES
        found = found[:MAX_VALUES]
    return UnnamedValues(label, [{"value": value, "rows": int(n)} for value, n in found], more)


def check_mapping(engine: Engine, settings: Settings, *, structure_only: bool = False) -> MappingCheck:
    """Compare ``settings.task_system`` with the database behind ``engine``; writes nothing.

    ``structure_only``: tables, columns and types alone, the check every command makes at its start
    (no scan of the data for unnamed words, no trial insert)."""
    mapping = settings.task_system
    wall_clock = "UTC" if mapping.naive_timestamps == "utc" else settings.timezone
    with read_only(engine).connect() as conn, conn.begin():
        if conn.dialect.name == "postgresql":
            conn.exec_driver_sql("SET TRANSACTION READ ONLY")
        inspector = inspect(conn)
        tables: list[TableCheck] = []
        problems: list[str] = []
        live_by_table: dict[str, LiveColumns] = {}
        for table in TABLES:
            name = getattr(mapping.tables, table)
            if not inspector.has_table(name):
                tables.append(TableCheck(table, name, found=False))
                problems.append(f"{table}: table {name!r} not found (task_system.tables.{table})"
                                f"{_near(name, inspector.get_table_names())}")
                continue
            live = live_columns(conn, name)
            live_by_table[table] = live
            columns = []
            for key, column in mapped_columns(mapping, table).items():
                check, problem = _column(table, key, column, live, conn, wall_clock)
                columns.append(check)
                problems += [problem] if problem else []
            tables.append(TableCheck(table, name, found=True, columns=columns))
        usable = {(t.table, c.column) for t in tables for c in t.columns if c.found and c.usable}

        width = None
        if ("notifications", "type") in usable:
            found = live_by_table["notifications"].find(mapping.columns.notifications.type)
            width = getattr(found["type"] if found else None, "length", None)
            problems += notification_type_misfits(settings, width, f"{mapping.tables.notifications}."
                                                                   f"{mapping.columns.notifications.type}")
        if "notifications" in live_by_table and not structure_only:
            problems += _insert_problems(conn, settings, mapping.tables.notifications, live_by_table["notifications"])
        tt = build_tables(mapping, reflect_types(conn, mapping, settings.timezone))
        if ("tasks", "status") in usable:
            found = live_by_table["tasks"].find(mapping.columns.tasks.status)
            status_width = getattr(found["type"] if found else None, "length", None)
            new = status_word(tt, "new")
            if status_width is not None and len(new) > status_width:
                problems.append(f"task_system.values.status.new: {new!r} is {len(new)} characters, longer than the "
                                f"{status_width} the database's {mapping.tables.tasks}.{mapping.columns.tasks.status} "
                                "column holds (a reset writes it)")
        status = (_unnamed(conn, tt.tasks.c.status, status_words(tt), "tasks.status")
                  if ("tasks", "status") in usable and not structure_only else None)
        category = (_unnamed(conn, tt.tasks.c.category, mapping.values.category.periodic, "tasks.category")
                    if ("tasks", "category") in usable and not structure_only else None)
    longest = max(len(getattr(settings.notifications, n).type) for n in ("reset", "warning", "job_failure"))
    return MappingCheck(dialect=engine.dialect.name, naive_timestamps=mapping.naive_timestamps,
                        wall_clock=wall_clock, tables=tables, status=status, category=category,
                        notification_type_width=width, notification_type_longest=longest, problems=problems)


__all__ = ["ColumnCheck", "MappingCheck", "TableCheck", "UnnamedValues", "check_mapping"]
