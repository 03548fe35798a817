"""What ``db tune`` made on the task system's tables, kept in ``tune_objects`` (migration 0013).

Every object tune makes is recorded here *before* it is made, so a tune killed halfway leaves a
record of what it may have made, and ``db untune`` removes exactly what is recorded, whatever the
mapping says now (its words may have changed since, and with them the names tune would give).

Names read from here or from the catalog are data: each reaches SQL through the dialect's
identifier preparer (``quote``), one statement per execute. Catalog look-ups for what an earlier
release made are limited to the current schema (and, for tune, to the tables it works on), and to
names of the exact shapes tune and migrations 0007-0009 gave (a strict pattern), so no object of
anybody else's is ever touched.

Tune makes indexes and a table option only. The trigger and function kinds are here for what
earlier releases made and recorded: migration 0015 removes them, and untune would too.

Two tunes (or untunes) at once would build concurrent indexes that wait on each other's
transactions; on PostgreSQL an advisory lock lets one in and tells the other that one is running.
"""

from __future__ import annotations

import re
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import Iterator

from sqlalchemy import Connection, Engine, delete, insert, select, text

from console.db.models import TuneObject

# pg_try_advisory_lock's key for db tune / untune: "tctune" in ASCII.
LOCK_KEY = 0x7463_7475_6E65
# The shapes of the names tune gives its indexes (console.db.tuning), and gave the warning-watch
# triggers and functions of earlier releases (tune before migration 0015: ``taskconsole_watch_<digest>_…``;
# migrations 0007 to 0009: ``tasks_warning_watch_…`` and ``warning_watch_…()``). Anything else found
# in the catalog is not taskconsole's.
INDEX_NAME = re.compile(r"tc_.+_[0-9a-f]{6}")
TRIGGER_NAME = re.compile(r"taskconsole_watch_[0-9a-f]{6}_(insert|delete|truncate|update|progress|state|"
                          r"state_insert|state_update)|tasks_warning_watch_(insert|delete|truncate|update|progress)")
FUNCTION_NAME = re.compile(r"taskconsole_watch_[0-9a-f]{6}_(inserted|deleted|truncated|updated|restamped)"
                           r"|warning_watch_(inserted|deleted|truncated|updated)")
# The only table option tune sets.
OPTIONS = ("fillfactor",)


class TuneRefused(Exception):
    """A change cannot be made on this database as it is (the message says why)."""


class TuneBusy(TuneRefused):
    """Another ``db tune`` or ``db untune`` holds the lock (the message names it)."""


@dataclass(frozen=True)
class Made:
    """One object tune made: an index, trigger, function or table option."""

    kind: str  # index | trigger | function | option
    name: str
    table: str | None
    definition: str = ""

    @property
    def key(self) -> tuple[str, str, str | None]:
        return self.kind, self.name, self.table


def recorded(conn: Connection) -> list[Made]:
    """Everything recorded, oldest first."""
    o = TuneObject
    return [Made(r.kind, r.name, r.table_name, r.definition)
            for r in conn.execute(select(o.kind, o.name, o.table_name, o.definition).order_by(o.id))]


def record(conn: Connection, made: tuple[Made, ...]) -> None:
    known = {m.key for m in recorded(conn)}
    now = datetime.now(timezone.utc)
    for m in made:
        if m.key not in known:
            conn.execute(insert(TuneObject).values(kind=m.kind, name=m.name, table_name=m.table,
                                                   definition=m.definition, made_at=now))


def forget(conn: Connection, made: tuple[Made, ...]) -> None:
    o = TuneObject
    for m in made:
        table = o.table_name.is_(None) if m.table is None else o.table_name == m.table
        conn.execute(delete(o).where(o.kind == m.kind, o.name == m.name, table))


def drop_statements(conn: Connection, m: Made, *, concurrently: bool = True) -> list[str]:
    """The statement that removes ``m`` (none for a kind or option this code does not know).
    ``concurrently``: PostgreSQL drops an index without blocking writes, outside a transaction."""
    q = conn.dialect.identifier_preparer.quote
    pg = conn.dialect.name == "postgresql"
    if m.kind == "index":
        return [f"DROP INDEX{' CONCURRENTLY' if pg and concurrently else ''} IF EXISTS {q(m.name)}"]
    if m.kind == "trigger":
        return [f"DROP TRIGGER IF EXISTS {q(m.name)}" + (f" ON {q(m.table)}" if pg and m.table else "")]
    if m.kind == "function" and pg:
        return [f"DROP FUNCTION IF EXISTS {q(m.name)}()"]
    if m.kind == "option" and pg and m.name in OPTIONS and m.table:
        return [f"ALTER TABLE {q(m.table)} RESET ({m.name})"]
    return []


def exists(conn: Connection, m: Made) -> bool:
    """Whether an object of ``m``'s kind and name is there now (an option: whether it is set)."""
    if conn.dialect.name != "postgresql":
        kind = {"index": "index", "trigger": "trigger"}.get(m.kind)
        return kind is not None and conn.execute(text("SELECT count(*) FROM sqlite_master WHERE type = :k AND name = :n"),
                                                 {"k": kind, "n": m.name}).scalar_one() > 0
    if m.kind == "index":  # valid or not: an interrupted CREATE INDEX CONCURRENTLY leaves an invalid one
        sql = ("SELECT count(*) FROM pg_class WHERE relname = :n AND relkind IN ('i', 'I') "
               "AND relnamespace = current_schema()::regnamespace")
    elif m.kind == "trigger":
        sql = "SELECT count(*) FROM pg_trigger WHERE tgname = :n AND tgrelid = to_regclass(quote_ident(:t))"
    elif m.kind == "function":
        sql = ("SELECT count(*) FROM pg_proc WHERE proname = :n AND pronargs = 0 "
               "AND pronamespace = current_schema()::regnamespace")
    else:
        sql = ("SELECT count(*) FROM pg_class WHERE oid = to_regclass(quote_ident(:t)) "
               "AND array_to_string(reloptions, ',') LIKE :n || '=%'")
    return conn.execute(text(sql), {"n": m.name, "t": m.table or ""}).scalar_one() > 0


def legacy_objects(conn: Connection, tables: tuple[str, ...] | None) -> list[Made]:
    """Triggers, functions and indexes an earlier release's tune (or migrations 0007-0009) left on
    ``tables`` (None: any table) in the current schema, found by the exact shapes of their names;
    functions only where they are trigger functions without arguments, as those were."""
    found: list[Made] = []
    on = (lambda table: True) if tables is None else (lambda table: table in tables)
    if conn.dialect.name == "postgresql":
        for name, table in conn.execute(text(
                "SELECT t.tgname, c.relname FROM pg_trigger t JOIN pg_class c ON c.oid = t.tgrelid "
                "WHERE NOT t.tgisinternal AND c.relnamespace = current_schema()::regnamespace "
                "AND (t.tgname LIKE 'taskconsole\\_watch\\_%' OR t.tgname LIKE 'tasks\\_warning\\_watch\\_%')")):
            if on(table) and TRIGGER_NAME.fullmatch(name):
                found.append(Made("trigger", name, table))
        for (name,) in conn.execute(text(
                "SELECT proname FROM pg_proc WHERE pronamespace = current_schema()::regnamespace AND pronargs = 0 "
                "AND prorettype = 'trigger'::regtype "
                "AND (proname LIKE 'taskconsole\\_watch\\_%' OR proname LIKE 'warning\\_watch\\_%')")):
            if FUNCTION_NAME.fullmatch(name):
                found.append(Made("function", name, None))
        indexes = conn.execute(text("SELECT indexname, tablename FROM pg_indexes WHERE schemaname = current_schema() "
                                    "AND indexname LIKE 'tc\\_%'"))
    else:
        for name, table in conn.execute(text("SELECT name, tbl_name FROM sqlite_master WHERE type = 'trigger' "
                                             "AND (name LIKE 'taskconsole\\_watch\\_%' ESCAPE '\\' "
                                             "OR name LIKE 'tasks\\_warning\\_watch\\_%' ESCAPE '\\')")):
            if on(table) and TRIGGER_NAME.fullmatch(name):
                found.append(Made("trigger", name, table))
        indexes = conn.execute(text("SELECT name, tbl_name FROM sqlite_master WHERE type = 'index' "
                                    "AND name LIKE 'tc\\_%' ESCAPE '\\'"))
    found += [Made("index", name, table) for name, table in indexes
              if on(table) and INDEX_NAME.fullmatch(name)]
    return found


@contextmanager
def tune_lock(engine: Engine) -> Iterator[None]:
    """Held while one tune or untune runs (PostgreSQL; SQLite's write lock already serialises them)."""
    if engine.dialect.name != "postgresql":
        yield
        return
    with engine.connect() as conn:
        conn = conn.execution_options(isolation_level="AUTOCOMMIT")
        if not conn.execute(text("SELECT pg_try_advisory_lock(:k)"), {"k": LOCK_KEY}).scalar_one():
            holder = conn.execute(text(
                "SELECT a.pid, a.client_addr, a.backend_start FROM pg_locks l JOIN pg_stat_activity a ON a.pid = l.pid "
                "WHERE l.locktype = 'advisory' AND l.granted AND l.objid = :lo AND l.classid = :hi LIMIT 1"),
                {"lo": LOCK_KEY & 0xFFFFFFFF, "hi": LOCK_KEY >> 32}).first()
            who = f" (database session pid {holder.pid}, since {holder.backend_start:%Y-%m-%d %H:%M:%S %Z})" \
                if holder else ""
            raise TuneBusy(f"another `db tune` or `db untune` is running on this database{who}; "
                           "wait for it to finish, then run this again")
        try:
            yield
        finally:
            conn.execute(text("SELECT pg_advisory_unlock(:k)"), {"k": LOCK_KEY})
