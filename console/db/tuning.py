"""``db tune`` / ``db untune``: the changes to the task system's own tables that make the jobs fast
at a million tasks, opt-in.

The task system's tables are not taskconsole's: ``db upgrade`` never alters them, unless it created
them itself (then it applies these as part of the upgrade, as before). Each change here is built
from the mapping (``task_system``) and from the very expressions the jobs and panels query with
(``console.db.task_sql``), so a partial index's condition is the query's, word for word:

- partial indexes on ``tasks`` for each job's and panel's set (processing windows, finished
  periodic tasks, old closed tasks, the bad rows counted at every run, tasks without a handler),
  and on PostgreSQL an expression index on the instant a task's time reaches each warning level's
  share of its window (80, 90 and 95 % by default);
- indexes on ``notifications`` (by task, for cleanup; read ones by age) and ``users`` (admins);
- ``fillfactor`` 45 on PostgreSQL's tasks table (room on each page for the time-progress rewrite:
  HOT updates; new pages only, nothing is rewritten now).

Never a trigger, function, rule or column: the task system may rename or drop its columns and its
own writes keep working (an index on a dropped column goes with it; a renamed one follows). Its
tables then no longer fit the mapping, and taskconsole refuses to run, saying which column is
missing (``console.db.mapping_check``), until the mapping fits again. (Releases before migration
0015 put warning-watch triggers here; a ``RENAME`` of a column they read made every write of the
task system fail. 0015 removes them.)

Names start with ``tc_`` so that untune drops only what tune made. On PostgreSQL indexes are built
``CONCURRENTLY``: the task system keeps writing while they build.
"""

from __future__ import annotations

import hashlib
import logging
from dataclasses import dataclass, field
from typing import Callable

from sqlalchemy import Column, Connection, Engine, text
from sqlalchemy.sql.expression import ColumnElement

from console.db.engine import describe_error, outside_transaction
from console.db.task_sql import (INDEXED_LOWEST, finished_periodic, is_processing, processing_bad,
                                 processing_no_handler, unknown_status, warn_from)
from console.db.task_tables import TaskTables, has_column, is_set, status_in
from console.domain.rules import DEFAULT_LEVELS, WarningLevel
from console.db.tune_records import (INDEX_NAME, Made, TuneBusy, TuneRefused, drop_statements, exists, forget, legacy_objects,
                                     record, recorded, tune_lock)

__all__ = ["Change", "TuneBusy", "TuneRefused", "apply", "changes", "remove_everything", "title_index_present",
           "warn_index_present"]

log = logging.getLogger("console.db")

MAX_NAME = 63  # PostgreSQL keeps 63 bytes of a name
INDEX_PREFIX = "tc"


def sql_text(conn: Connection, expr: ColumnElement) -> str:
    """An expression as SQL text, its words and numbers written in (an index has no parameters)."""
    return str(expr.compile(dialect=conn.dialect, compile_kwargs={"literal_binds": True}))


def quoted(conn: Connection, name: str) -> str:
    return conn.dialect.identifier_preparer.quote(name)


@dataclass(frozen=True)
class Change:
    """One change to the task system's tables: what it is for, what it costs, how to make and undo it."""

    name: str
    what: str
    cost: str
    apply: list[str]
    undo: list[str]
    # Whether the change is there now (one catalog query).
    present: Callable[[Connection], bool] = field(compare=False, repr=False)
    # PostgreSQL CREATE/DROP INDEX CONCURRENTLY cannot run in a transaction.
    outside_transaction: bool = False
    # Why the change cannot be made on this database (None: it can).
    refused: str | None = None
    # Nothing depends on it: if the database refuses it (no right to CREATE EXTENSION), tune
    # says so and goes on.
    optional: bool = False
    # The objects it makes, recorded in tune_objects before they are made.
    made: tuple[Made, ...] = ()
    # The objects it removes, forgotten in tune_objects once they are gone.
    forgets: tuple[Made, ...] = ()


def _name(*parts: str) -> str:
    """Parts joined by ``_``, cut to PostgreSQL's 63 bytes (keeping the last part, a digest)."""
    name = "_".join(parts)
    if len(name.encode()) <= MAX_NAME:
        return name
    head = "_".join(parts[:-1]).encode()[: MAX_NAME - len(parts[-1]) - 1].decode(errors="ignore")
    return f"{head}_{parts[-1]}"


def _index_present(name: str):
    def present(conn: Connection) -> bool:
        if conn.dialect.name == "postgresql":
            # A CREATE INDEX CONCURRENTLY that was interrupted leaves an invalid index: not there.
            return bool(conn.execute(text("SELECT coalesce((SELECT indisvalid FROM pg_index WHERE indexrelid = "
                                          "to_regclass(:n)), false)"), {"n": quoted(conn, name)}).scalar_one())
        return conn.execute(text("SELECT count(*) FROM sqlite_master WHERE type = 'index' AND name = :n"),
                            {"n": name}).scalar_one() > 0
    return present


def _index(conn: Connection, table, purpose: str, columns: list, where: ColumnElement | None, what: str) -> Change:
    """A (partial) index; ``columns`` are columns or expressions of ``table``. Its name ends in a
    digest of its definition: an index made for another mapping (other words) is not taken for it."""
    pg = conn.dialect.name == "postgresql"
    # A column by its name; an expression in parentheses of its own, as CREATE INDEX wants it.
    on = ", ".join(quoted(conn, c.name) if isinstance(c, Column) else f"({sql_text(conn, c)})" for c in columns)
    # The table's own columns unqualified: an index definition names no table alias.
    on = on.replace(f"{quoted(conn, table.name)}.", "")
    condition = "" if where is None else " WHERE " + sql_text(conn, where).replace(f"{quoted(conn, table.name)}.", "")
    digest = hashlib.sha1(f"{table.name} ({on}){condition}".encode()).hexdigest()[:6]
    name = _name(INDEX_PREFIX, table.name, purpose, digest)
    concurrently = " CONCURRENTLY" if pg else ""
    undo = f"DROP INDEX{concurrently} IF EXISTS {quoted(conn, name)}"
    # Dropped first: what an interrupted build left behind (invalid) is built again.
    apply = [undo, f"CREATE INDEX{concurrently} {quoted(conn, name)} ON {quoted(conn, table.name)} ({on}){condition}"]
    cost = ("one more index entry for each insert, and for each update that changes an indexed column "
            + ("(built CONCURRENTLY: writes go on meanwhile)" if pg else "(built while the table is locked)"))
    return Change(f"index {name}", what, cost, apply, [undo], _index_present(name), outside_transaction=pg,
                  made=(Made("index", name, table.name, apply[-1]),))


def indexes(conn: Connection, t: TaskTables, levels: tuple[WarningLevel, ...] = DEFAULT_LEVELS) -> list[Change]:
    tasks, c = t.tasks, t.tasks.c
    n, u = t.notifications, t.users
    found = [
        _index(conn, tasks, "processing_window",
               [c.expected_end_time, c.expected_start_time, c.id], is_processing(t),
               "processing tasks by deadline: the near-threshold panel, the time-progress update"),
        _index(conn, tasks, "periodic_finished", [c.actual_end_time], finished_periodic(t),
               "finished periodic tasks by end time: the reset"),
        _index(conn, tasks, "closed_updated", [c.updated_at], status_in(t, "closed"),
               "closed tasks by last change: cleanup"),
        _index(conn, tasks, "current_handler_id", [c.current_handler_id], None,
               "tasks by handler: a handler's tasks"),
        _index(conn, tasks, "processing_bad", [c.id], processing_bad(t),
               "the few processing rows every job skips and counts"),
        _index(conn, tasks, "processing_no_handler", [c.id], processing_no_handler(t),
               "processing tasks without a handler, counted at every warning check"),
        _index(conn, tasks, "unknown_status", [c.id], unknown_status(t),
               "tasks whose status the mapping does not name, counted at every reset and warning check"),
        _index(conn, n, "task_id", [n.c.task_id], None,
               "notifications by task: cleanup deletes a task's notifications with it"),
        _index(conn, u, "admin", [u.c.id], is_set(u.c.is_admin),
               "admins: failure alerts"),
    ]
    if has_column(t, "notifications", "created_at"):
        found.append(_index(conn, n, "read_created", [n.c.created_at], is_set(n.c.is_read),
                            "read notifications by age: cleanup"))
    if conn.dialect.name == "postgresql":
        found.append(_warn_from_index(conn, t))
        found.extend(_warn_at_index(conn, t, lv.at) for lv in levels if lv.at / 100.0 != INDEXED_LOWEST)
    return found


def _title_trigrams(conn: Connection, t: TaskTables) -> Change:
    """A trigram index on processing tasks' titles (PostgreSQL's pg_trgm): the console's title
    search (``ILIKE '%…%'``) reads it instead of every processing task."""
    tasks = t.tasks
    condition = sql_text(conn, is_processing(t)).replace(f"{quoted(conn, tasks.name)}.", "")
    column = quoted(conn, tasks.c.title.name)
    digest = hashlib.sha1(f"{tasks.name} gin({column} gin_trgm_ops) {condition}".encode()).hexdigest()[:6]
    name = _name(INDEX_PREFIX, tasks.name, "title_trgm", digest)
    undo = f"DROP INDEX CONCURRENTLY IF EXISTS {quoted(conn, name)}"
    apply = ["CREATE EXTENSION IF NOT EXISTS pg_trgm", undo,
             f"CREATE INDEX CONCURRENTLY {quoted(conn, name)} ON {quoted(conn, tasks.name)} "
             f"USING gin ({column} gin_trgm_ops) WHERE {condition}"]
    available = conn.execute(text("SELECT count(*) FROM pg_available_extensions WHERE name = 'pg_trgm'")).scalar_one()
    return Change(f"index {name}", "processing tasks' titles by trigram: the console's title search",
                  "one more index entry (a few per word) for each insert, and for each update of a processing "
                  "task's title or status (built CONCURRENTLY: writes go on meanwhile); the pg_trgm extension "
                  "is created if missing and left in place on undo",
                  apply, [undo], _index_present(name), outside_transaction=True, optional=True,
                  refused=None if available else "the pg_trgm extension is not installed on this server",
                  made=(Made("index", name, tasks.name, apply[-1]),))


def title_index_present(conn: Connection, t: TaskTables) -> bool:
    """Whether a title trigram index of tune's serves the console's search (PostgreSQL only)."""
    if conn.dialect.name != "postgresql":
        return False
    return _title_trigrams(conn, t).present(conn)


def _warn_from_index(conn: Connection, t: TaskTables) -> Change:
    return _index(conn, t.tasks, "warn_from", [warn_from(t, INDEXED_LOWEST)], is_processing(t),
                  "the instant each processing task reaches 80 % of its window: the warning check and the "
                  "warning panels read only the tasks past it")


def _warn_at_index(conn: Connection, t: TaskTables, at: float) -> Change:
    share = f"{at:g}".replace(".", "_")
    return _index(conn, t.tasks, f"warn_at_{share}", [warn_from(t, at / 100.0)], is_processing(t),
                  f"the instant each processing task reaches {at:g} % of its window: the warning pass "
                  f"(warnings.check_every) reads only the tasks that crossed it since its last look")


def warn_index_present(conn: Connection, t: TaskTables) -> bool:
    """Whether tune's index serves the warning counts: on PostgreSQL the one on the 80 % instant (the
    counts read only the tasks near their deadline: cheap enough for every refresh of the console);
    on SQLite, which has no such index, the processing tasks' window index (the counts read the
    processing tasks from it: 0.2 s at the 100,000-task demo, measured)."""
    if conn.dialect.name != "postgresql":
        c = t.tasks.c
        return _index(conn, t.tasks, "processing_window", [c.expected_end_time, c.expected_start_time, c.id],
                      is_processing(t), "").present(conn)
    return _warn_from_index(conn, t).present(conn)


def _fillfactor(conn: Connection, t: TaskTables) -> Change:
    table = conn.dialect.identifier_preparer.format_table(t.tasks)

    def present(c: Connection) -> bool:
        options = c.execute(text("SELECT reloptions FROM pg_class WHERE oid = to_regclass(:t)"), {"t": table}).scalar()
        return "fillfactor=45" in (options or [])

    return Change(
        "fillfactor 45", "room on each page for a second version of every row, so the time-progress rewrite "
        "is a HOT update (1 WAL record per row instead of about 4)",
        "the table's new pages are filled to 45 %: it grows to about 1.5 times its packed size as rows are "
        "rewritten (existing pages are not rewritten now; VACUUM FULL or CLUSTER would, under an exclusive lock)",
        [f"ALTER TABLE {table} SET (fillfactor = 45)"], [f"ALTER TABLE {table} RESET (fillfactor)"], present,
        made=(Made("option", "fillfactor", t.tasks.name, "fillfactor = 45"),))


def remove_everything(conn: Connection, tables: tuple[str, ...] = ("tasks", "users", "notifications", "task_state")
                      ) -> list[str]:
    """DROP statements for every ``tc_`` index (and any warning-watch trigger or function of an
    earlier release) taskconsole made on ``tables``, for any mapping (a downgrade below revision 0010
    runs them): names of the shapes tune gives, found in the current schema, quoted; run inside the
    migration's transaction."""
    return [statement for m in legacy_objects(conn, tables)
            for statement in drop_statements(conn, m, concurrently=False)]


def changes(conn: Connection, t: TaskTables, levels: tuple[WarningLevel, ...] = DEFAULT_LEVELS) -> list[Change]:
    """Every change ``db tune`` makes, in the order it makes them: indexes and fillfactor only
    (an index on each warning level's instant: ``levels``); first, the removal of indexes an earlier
    tune made that its plan no longer holds (another definition, another level)."""
    found = indexes(conn, t, levels)
    if conn.dialect.name == "postgresql":
        trigrams = _title_trigrams(conn, t)
        if trigrams.refused is None:  # without pg_trgm, title searches scan: nothing else depends on it
            found.append(trigrams)
        found.append(_fillfactor(conn, t))
    return _superseded(conn, found) + found


def _superseded(conn: Connection, planned: list[Change]) -> list[Change]:
    """A removal for each index tune recorded that the plan no longer makes: an index whose
    definition changed (other words in the mapping, another warning level) has another name (its
    digest), and the old one would stay, costing every write of the task system for nothing."""
    keep = {m.name for change in planned for m in change.made}
    pg = conn.dialect.name == "postgresql"
    # Only names of the shape tune gives: a record another role wrote never makes tune drop its index.
    stale = [m for m in recorded(conn) if m.kind == "index" and m.name not in keep and INDEX_NAME.fullmatch(m.name)]
    return [Change(f"drop index {m.name}", f"made by an earlier db tune on {m.table}, no longer planned: "
                   f"{' '.join(m.definition.split())}", "none: one index fewer to keep up",
                   drop_statements(conn, m), [], lambda c, m=m: not exists(c, m), outside_transaction=pg,
                   forgets=(m,)) for m in stale]


def apply(engine: Engine, t: TaskTables | None, *, undo: bool = False,
          progress: Callable[[Change], None] = lambda change: None,
          levels: tuple[WarningLevel, ...] = DEFAULT_LEVELS) -> list[Change]:
    """Make every change not yet made, or (``undo``) remove everything tune made; returns those done.

    One tune or untune at a time (``TuneBusy`` for the second). A tune records what each change
    makes before making it, and one that fails removes what it made before failing. ``t`` may be
    None for an untune when the mapping no longer fits the database: what is recorded still goes."""
    with tune_lock(engine):
        return _remove(engine, t, progress) if undo else _make(engine, t, progress, levels)


def _make(engine: Engine, t: TaskTables, progress: Callable[[Change], None],
          levels: tuple[WarningLevel, ...]) -> list[Change]:
    with engine.connect() as conn:
        todo = [c for c in changes(conn, t, levels) if not c.present(conn)]
    refused = [c for c in todo if c.refused]
    if refused:
        raise TuneRefused(f"{refused[0].name}: {refused[0].refused}")
    done: list[Change] = []
    for change in todo:
        progress(change)
        with engine.begin() as conn:
            record(conn, change.made)
        try:
            _run(engine, change, change.apply)
            if change.forgets:
                with engine.begin() as conn:
                    forget(conn, change.forgets)
        except Exception as exc:
            _take_back(engine, change)
            if not change.optional:
                for earlier in reversed(done):
                    _take_back(engine, earlier)
                raise
            log.warning("%s not made: %s; nothing else depends on it", change.name,
                        describe_error(exc, engine.url))
            continue
        done.append(change)
    return done


def _run(engine: Engine, change: Change, statements: list[str]) -> None:
    """One statement per execute; PostgreSQL's CONCURRENTLY ones each on their own, outside a transaction."""
    if change.outside_transaction:
        for statement in statements:
            outside_transaction(engine, statement)
    else:
        with engine.begin() as conn:
            for statement in statements:
                conn.exec_driver_sql(statement)


def _take_back(engine: Engine, change: Change) -> None:
    """Undo a change this tune made (or began to make), and forget the records of what is gone."""
    try:
        _run(engine, change, change.undo)
    except Exception as exc:  # noqa: BLE001 - the first failure is the one to report; this one is logged
        log.error("%s could not be taken back (%s); `taskconsole db untune --apply` removes it",
                  change.name, describe_error(exc, engine.url))
    with engine.begin() as conn:
        forget(conn, tuple(m for m in change.made if not exists(conn, m)))


def removals(conn: Connection, t: TaskTables | None) -> list[Change]:
    """What untune removes, newest first: every object recorded in tune_objects, whatever the mapping
    says now; then what the current mapping's changes find in place unrecorded (an earlier release's)."""
    pg = conn.dialect.name == "postgresql"
    found: dict[str, Change] = {}
    # Newest first, and triggers before the functions they execute.
    for m in sorted(reversed(recorded(conn)), key=lambda m: m.kind == "function"):
        found[f"{m.kind} {m.name}"] = Change(
            f"{m.kind} {m.name}", f"made by db tune{f' on {m.table}' if m.table else ''}: {' '.join(m.definition.split())}",
            "none", [], drop_statements(conn, m), lambda c: True, outside_transaction=pg and m.kind == "index",
            made=(m,))
    if t is not None:
        for change in reversed(changes(conn, t)):
            if change.name not in found and not all(f"{m.kind} {m.name}" in found for m in change.made) \
                    and change.present(conn):
                found[change.name] = change
    return list(found.values())


def _remove(engine: Engine, t: TaskTables | None, progress: Callable[[Change], None]) -> list[Change]:
    with engine.connect() as conn:
        todo = removals(conn, t)
    for change in todo:
        progress(change)
        _run(engine, change, change.undo)
        with engine.begin() as conn:
            forget(conn, change.made)
    return todo
