"""``db tune`` / ``db untune``: the changes to the task system's own tables that make the jobs fast
at a million tasks, opt-in.

The task system's tables are not taskconsole's: ``db upgrade`` never alters them, unless it created
them itself (then it applies these as part of the upgrade, as before). Each change here is built
from the mapping (``task_system``) and from the very expressions the jobs and panels query with
(``console.db.task_sql``), so a partial index's condition is the query's, word for word:

- partial indexes on ``tasks`` for each job's and panel's set (processing windows, finished
  periodic tasks, old closed tasks, the bad rows counted at every run, tasks without a handler),
  and on PostgreSQL an expression index on the instant a task's time reaches 80 % of its window;
- indexes on ``notifications`` (by task, for cleanup; read ones by age) and ``users`` (admins);
- ``fillfactor`` 45 on PostgreSQL's tasks table (room on each page for the time-progress rewrite:
  HOT updates; new pages only, nothing is rewritten now);
- the warning-watch triggers, which keep ``warning_watch`` (taskconsole's table) in step with the
  tasks, whoever writes them, so the warning panels are index-only scans.

Names start with ``tc_`` (indexes) and ``taskconsole_`` (triggers, functions), so that untune
drops only what tune made. On PostgreSQL indexes are built ``CONCURRENTLY``: the task system keeps
writing while they build.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field, replace
from typing import Callable

from sqlalchemy import Column, Connection, Engine, text
from sqlalchemy.sql.expression import ColumnElement

from console.db.engine import outside_transaction
from console.db.task_sql import (INDEXED_LOWEST, finished_periodic, is_processing, processing_bad,
                                 processing_no_handler, unknown_status, warn_from, watched)
from console.db.task_tables import TaskTables, has_column, is_set, status_in
from console.db.types import epoch_of, wall_clock_zone

MAX_NAME = 63  # PostgreSQL keeps 63 bytes of a name
INDEX_PREFIX = "tc"
TRIGGER_PREFIX = "taskconsole_watch"
# Part of the triggers' names: a change to their code (here) makes `db tune` replace them. (A
# progress-only trigger of its own, its condition in WHEN, measured slower: 1.59x against 1.24x.)
TRIGGERS_VERSION = "1"
WATCH_COLUMNS = "task_id, start_s, end_s, progress, warned_level, cycle"
# A placeholder table alias, replaced by NEW, OLD or a transition table's alias in trigger bodies.
_ROW = "tc_row_alias"


class TuneRefused(Exception):
    """A change cannot be made on this database as it is (the message says why)."""


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


def _name(*parts: str) -> str:
    """Parts joined by ``_``, cut to PostgreSQL's 63 bytes (keeping the last part, a digest)."""
    name = "_".join(parts)
    if len(name.encode()) <= MAX_NAME:
        return name
    head = "_".join(parts[:-1]).encode()[: MAX_NAME - len(parts[-1]) - 1].decode(errors="ignore")
    return f"{head}_{parts[-1]}"


def _sql(conn: Connection, expr: ColumnElement) -> str:
    """An expression as SQL text, its words and numbers written in (an index or trigger has no parameters)."""
    return str(expr.compile(dialect=conn.dialect, compile_kwargs={"literal_binds": True}))


def _q(conn: Connection, name: str) -> str:
    return conn.dialect.identifier_preparer.quote(name)


def _index_present(name: str):
    def present(conn: Connection) -> bool:
        if conn.dialect.name == "postgresql":
            # A CREATE INDEX CONCURRENTLY that was interrupted leaves an invalid index: not there.
            return bool(conn.execute(text("SELECT coalesce((SELECT indisvalid FROM pg_index WHERE indexrelid = "
                                          "to_regclass(:n)), false)"), {"n": _q(conn, name)}).scalar_one())
        return conn.execute(text("SELECT count(*) FROM sqlite_master WHERE type = 'index' AND name = :n"),
                            {"n": name}).scalar_one() > 0
    return present


def _index(conn: Connection, table, purpose: str, columns: list, where: ColumnElement | None, what: str) -> Change:
    """A (partial) index; ``columns`` are columns or expressions of ``table``. Its name ends in a
    digest of its definition: an index made for another mapping (other words) is not taken for it."""
    pg = conn.dialect.name == "postgresql"
    # A column by its name; an expression in parentheses of its own, as CREATE INDEX wants it.
    on = ", ".join(_q(conn, c.name) if isinstance(c, Column) else f"({_sql(conn, c)})" for c in columns)
    # The table's own columns unqualified: an index definition names no table alias.
    on = on.replace(f"{_q(conn, table.name)}.", "")
    condition = "" if where is None else " WHERE " + _sql(conn, where).replace(f"{_q(conn, table.name)}.", "")
    digest = hashlib.sha1(f"{table.name} ({on}){condition}".encode()).hexdigest()[:6]
    name = _name(INDEX_PREFIX, table.name, purpose, digest)
    concurrently = " CONCURRENTLY" if pg else ""
    undo = f"DROP INDEX{concurrently} IF EXISTS {_q(conn, name)}"
    # Dropped first: what an interrupted build left behind (invalid) is built again.
    apply = [undo, f"CREATE INDEX{concurrently} {_q(conn, name)} ON {_q(conn, table.name)} ({on}){condition}"]
    cost = ("one more index entry for each insert, and for each update that changes an indexed column "
            + ("(built CONCURRENTLY: writes go on meanwhile)" if pg else "(built while the table is locked)"))
    return Change(f"index {name}", what, cost, apply, [undo], _index_present(name), outside_transaction=pg)


def indexes(conn: Connection, t: TaskTables) -> list[Change]:
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
        found.append(_index(conn, tasks, "warn_from", [warn_from(t, INDEXED_LOWEST)],
                            is_processing(t),
                            "the instant each processing task reaches 80 % of its window: the warning check "
                            "reads only the tasks past it"))
    return found


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
        [f"ALTER TABLE {table} SET (fillfactor = 45)"], [f"ALTER TABLE {table} RESET (fillfactor)"], present)


# -- the warning-watch triggers ------------------------------------------------------------------------

@dataclass(frozen=True)
class _Watch:
    """The pieces of the trigger bodies, as SQL text for a row alias (NEW, OLD, n, o, t)."""

    conn: Connection
    t: TaskTables

    def _aliased(self) -> TaskTables:
        return replace(self.t, tasks=self.t.tasks.alias(_ROW))

    def sql(self, expr_of: Callable[[TaskTables], ColumnElement], row: str) -> str:
        return _sql(self.conn, expr_of(self._aliased())).replace(f"{_ROW}.", f"{row}.")

    def col(self, key: str, row: str) -> str:
        return f"{row}.{_q(self.conn, self.t.tasks.c[key].name)}"

    def watched(self, row: str) -> str:
        return self.sql(watched, row)

    def cycle(self, row: str) -> str:
        return f"coalesce((SELECT s.last_reset_run_id FROM task_state s WHERE s.task_id = {self.col('id', row)}), 0)"

    def values(self, row: str) -> str:
        """The warning_watch row of a task: window as epoch seconds, progress, the level last warned of
        in its cycle (the last ledger row written), the cycle."""
        start = self.sql(lambda a: epoch_of(a.tasks.c.expected_start_time), row)
        end = self.sql(lambda a: epoch_of(a.tasks.c.expected_end_time), row)
        warned = (f"(SELECT w.level FROM warning_ledger w WHERE w.task_id = {self.col('id', row)} "
                  f"AND w.cycle = {self.cycle(row)} ORDER BY w.id DESC LIMIT 1)")
        return f"{self.col('id', row)}, {start}, {end}, {self.col('progress', row)}, {warned}, {self.cycle(row)}"

    def changed(self, keys: tuple[str, ...], differs: str) -> str:
        return " OR ".join(f"{self.col(k, 'OLD')} {differs} {self.col(k, 'NEW')}" for k in keys)

    def progress_only(self, differs: str) -> str:
        same = " AND ".join(f"NOT ({self.col(k, 'OLD')} {differs} {self.col(k, 'NEW')})" for k in SAME_WINDOW)
        return f"{same} AND {self.watched('OLD')} AND {self.watched('NEW')}"

    def either_processing(self) -> str:
        return f"({self.sql(is_processing, 'OLD')} OR {self.sql(is_processing, 'NEW')})"


# warning_watch's cycle and warned level after a task's stamp in task_state changed.
STATE_REFRESH = ("cycle = coalesce({cycle}, 0), warned_level = (SELECT w.level FROM warning_ledger w "
                 "WHERE w.task_id = {task} AND w.cycle = coalesce({cycle}, 0) ORDER BY w.id DESC LIMIT 1)")
# Columns whose change can add, move or remove a task's row; without progress, the window's.
WATCHED_KEYS = ("id", "status", "progress", "expected_start_time", "expected_end_time", "current_handler_id")
SAME_WINDOW = tuple(k for k in WATCHED_KEYS if k != "progress")


_PREFIXES: dict[tuple, str] = {}


def trigger_prefix(conn: Connection, t: TaskTables) -> str:
    """``taskconsole_watch_`` and a digest of what the triggers are built from (the tasks table's
    names and words, its wall clock): triggers made for another mapping are not taken for these."""
    key = (conn.dialect.name, t)
    if key not in _PREFIXES:
        probe = _Watch(conn, t)
        basis = "|".join([TRIGGERS_VERSION, conn.dialect.identifier_preparer.format_table(t.tasks),
                          probe.watched("r"), probe.values("r")])
        _PREFIXES[key] = f"{TRIGGER_PREFIX}_{hashlib.sha1(basis.encode()).hexdigest()[:6]}"
    return _PREFIXES[key]


def remove_everything(conn: Connection) -> list[str]:
    """DROP statements for every watch trigger, function and ``tc_`` index taskconsole made, for
    any mapping (a downgrade below revision 0010 runs them)."""
    statements = _stale_triggers(conn, "-")  # no name of ours begins with "-": every one is stale
    if conn.dialect.name == "postgresql":
        names = conn.execute(text("SELECT indexname FROM pg_indexes WHERE schemaname = current_schema() "
                                  "AND indexname LIKE 'tc\\_%'")).scalars().all()
    else:
        names = conn.execute(text("SELECT name FROM sqlite_master WHERE type = 'index' AND name LIKE 'tc\\_%' "
                                  "ESCAPE '\\'")).scalars().all()
    return statements + [f'DROP INDEX IF EXISTS "{name}"' for name in names]


def _stale_triggers(conn: Connection, current: str) -> list[str]:
    """DROP statements for taskconsole's watch triggers and functions made for another mapping."""
    like = TRIGGER_PREFIX.replace("_", "\\_") + "\\_%"
    if conn.dialect.name == "postgresql":
        triggers = conn.execute(text("SELECT tgname, tgrelid::regclass::text FROM pg_trigger WHERE tgname LIKE :l "
                                     "AND tgname NOT LIKE :c"), {"l": like, "c": current + "%"}).all()
        functions = conn.execute(text("SELECT proname FROM pg_proc WHERE proname LIKE :l AND proname NOT LIKE :c "
                                      "AND pronamespace = current_schema()::regnamespace"),
                                 {"l": like, "c": current + "%"}).scalars().all()
        return ([f'DROP TRIGGER IF EXISTS "{name}" ON {table}' for name, table in triggers]
                + [f'DROP FUNCTION IF EXISTS "{name}"()' for name in functions])
    names = conn.execute(text("SELECT name FROM sqlite_master WHERE type = 'trigger' AND name LIKE :l ESCAPE '\\' "
                              "AND name NOT LIKE :c ESCAPE '\\'"),
                         {"l": like, "c": current.replace("_", "\\_") + "%"}).scalars().all()
    return [f'DROP TRIGGER IF EXISTS "{name}"' for name in names]


def _pg_trigger_statements(conn: Connection, t: TaskTables) -> tuple[list[str], list[str]]:
    w = _Watch(conn, t)
    table = conn.dialect.identifier_preparer.format_table(t.tasks)
    schema = conn.exec_driver_sql("SELECT quote_ident(current_schema())").scalar()
    # The task system's own role may write tasks without any right on warning_watch: the functions
    # run as their owner, in this schema only, with pg_temp last.
    definer = f"SECURITY DEFINER SET search_path = {schema}, pg_temp"
    upsert = ", ".join(f"{c} = EXCLUDED.{c}" for c in WATCH_COLUMNS.split(", ")[1:])
    watched_columns = ", ".join(_q(conn, t.tasks.c[k].name) for k in WATCHED_KEYS)
    fn = trigger_prefix(conn, t)
    apply = [
        f"""CREATE OR REPLACE FUNCTION {fn}_inserted() RETURNS trigger LANGUAGE plpgsql {definer} AS $$
        BEGIN
            INSERT INTO warning_watch ({WATCH_COLUMNS}) SELECT {w.values('n')} FROM new_rows n WHERE {w.watched('n')};
            RETURN NULL;
        END $$""",
        f"""CREATE OR REPLACE FUNCTION {fn}_deleted() RETURNS trigger LANGUAGE plpgsql {definer} AS $$
        BEGIN
            DELETE FROM warning_watch WHERE task_id IN (SELECT {w.col('id', 'o')} FROM old_rows o);
            RETURN NULL;
        END $$""",
        f"""CREATE OR REPLACE FUNCTION {fn}_truncated() RETURNS trigger LANGUAGE plpgsql {definer} AS $$
        BEGIN
            DELETE FROM warning_watch;  -- not TRUNCATE: the same statement may truncate it too
            RETURN NULL;
        END $$""",
        f"""CREATE OR REPLACE FUNCTION {fn}_updated() RETURNS trigger LANGUAGE plpgsql {definer} AS $$
        BEGIN
            IF {w.progress_only('IS DISTINCT FROM')} THEN
                -- The common write: same window, same cycle, same warnings; no ledger read.
                UPDATE warning_watch SET progress = {w.col('progress', 'NEW')} WHERE task_id = {w.col('id', 'NEW')};
                RETURN NULL;
            END IF;
            -- Wait for a warning check that is marking this row: the statements below then see its
            -- ledger rows. The check never waits for us (it skips locked rows): no deadlock.
            PERFORM 1 FROM warning_watch WHERE task_id = {w.col('id', 'OLD')} FOR UPDATE;
            IF {w.col('id', 'OLD')} <> {w.col('id', 'NEW')} OR NOT coalesce({w.watched('NEW')}, false) THEN
                DELETE FROM warning_watch WHERE task_id = {w.col('id', 'OLD')};
            END IF;
            IF {w.watched('NEW')} THEN
                INSERT INTO warning_watch ({WATCH_COLUMNS}) SELECT {w.values('NEW')}
                ON CONFLICT (task_id) DO UPDATE SET {upsert};
            END IF;
            RETURN NULL;
        END $$""",
        f"CREATE TRIGGER {fn}_insert AFTER INSERT ON {table} REFERENCING NEW TABLE AS new_rows "
        f"FOR EACH STATEMENT EXECUTE FUNCTION {fn}_inserted()",
        f"CREATE TRIGGER {fn}_delete AFTER DELETE ON {table} REFERENCING OLD TABLE AS old_rows "
        f"FOR EACH STATEMENT EXECUTE FUNCTION {fn}_deleted()",
        f"CREATE TRIGGER {fn}_truncate AFTER TRUNCATE ON {table} FOR EACH STATEMENT EXECUTE FUNCTION {fn}_truncated()",
        f"CREATE TRIGGER {fn}_update AFTER UPDATE OF {watched_columns} ON {table} FOR EACH ROW "
        f"WHEN ({w.either_processing()} AND ({w.changed(WATCHED_KEYS, 'IS DISTINCT FROM')})) "
        f"EXECUTE FUNCTION {fn}_updated()",
    ]
    apply += [
        # A new cycle (the reset job's stamp in task_state) changes the row's cycle and warned level.
        f"""CREATE OR REPLACE FUNCTION {fn}_restamped() RETURNS trigger LANGUAGE plpgsql {definer} AS $$
        BEGIN
            UPDATE warning_watch SET {STATE_REFRESH.format(task='NEW.task_id', cycle='NEW.last_reset_run_id')}
            WHERE task_id = NEW.task_id;
            RETURN NULL;
        END $$""",
        f"CREATE TRIGGER {fn}_state AFTER INSERT OR UPDATE OF last_reset_run_id ON task_state FOR EACH ROW "
        f"EXECUTE FUNCTION {fn}_restamped()",
    ]
    undo = [f"DROP TRIGGER IF EXISTS {fn}_{event} ON {table}" for event in ("insert", "delete", "truncate", "update")]
    undo += [f"DROP TRIGGER IF EXISTS {fn}_state ON task_state"]
    undo += [f"DROP FUNCTION IF EXISTS {fn}_{kind}()"
             for kind in ("inserted", "deleted", "truncated", "updated", "restamped")]
    return apply, undo


def _sqlite_trigger_statements(conn: Connection, t: TaskTables) -> tuple[list[str], list[str]]:
    for key in ("expected_start_time", "expected_end_time"):
        if wall_clock_zone(t.tasks.c[key]) is not None:
            raise TuneRefused("the warning-watch triggers need naive_timestamps: utc on SQLite (SQLite has no "
                              "time zone database for a trigger to read local times with); the panels read the "
                              "tasks table instead")
    w = _Watch(conn, t)
    table = conn.dialect.identifier_preparer.format_table(t.tasks)
    fn = trigger_prefix(conn, t)
    watched_columns = ", ".join(_q(conn, t.tasks.c[k].name) for k in WATCHED_KEYS)
    apply = [
        # Whatever the new row: INSERT OR REPLACE removes the old one without firing a delete trigger.
        f"""CREATE TRIGGER {fn}_insert AFTER INSERT ON {table}
        BEGIN
            DELETE FROM warning_watch WHERE task_id = {w.col('id', 'NEW')};
            INSERT INTO warning_watch ({WATCH_COLUMNS}) SELECT {w.values('NEW')} WHERE {w.watched('NEW')};
        END""",
        f"""CREATE TRIGGER {fn}_delete AFTER DELETE ON {table}
        BEGIN
            DELETE FROM warning_watch WHERE task_id = {w.col('id', 'OLD')};
        END""",
        f"""CREATE TRIGGER {fn}_update AFTER UPDATE OF {watched_columns} ON {table}
        WHEN {w.either_processing()} AND ({w.changed(WATCHED_KEYS, 'IS NOT')}) AND NOT ({w.progress_only('IS NOT')})
        BEGIN
            DELETE FROM warning_watch WHERE task_id = {w.col('id', 'OLD')};
            INSERT INTO warning_watch ({WATCH_COLUMNS}) SELECT {w.values('NEW')} WHERE {w.watched('NEW')};
        END""",
        f"""CREATE TRIGGER {fn}_progress AFTER UPDATE OF {_q(conn, t.tasks.c.progress.name)} ON {table}
        WHEN {w.col('progress', 'OLD')} IS NOT {w.col('progress', 'NEW')} AND {w.progress_only('IS NOT')}
        BEGIN
            UPDATE warning_watch SET progress = {w.col('progress', 'NEW')} WHERE task_id = {w.col('id', 'NEW')};
        END""",
    ]
    apply.append(f"""CREATE TRIGGER {fn}_state_insert AFTER INSERT ON task_state
        BEGIN
            UPDATE warning_watch SET {STATE_REFRESH.format(task='NEW.task_id', cycle='NEW.last_reset_run_id')}
            WHERE task_id = NEW.task_id;
        END""")
    apply.append(f"""CREATE TRIGGER {fn}_state_update AFTER UPDATE OF last_reset_run_id ON task_state
        BEGIN
            UPDATE warning_watch SET {STATE_REFRESH.format(task='NEW.task_id', cycle='NEW.last_reset_run_id')}
            WHERE task_id = NEW.task_id;
        END""")
    undo = [f"DROP TRIGGER IF EXISTS {fn}_{event}"
            for event in ("insert", "delete", "update", "progress", "state_insert", "state_update")]
    return apply, undo


def _triggers(conn: Connection, t: TaskTables) -> Change:
    pg = conn.dialect.name == "postgresql"
    try:
        apply, undo = (_pg_trigger_statements if pg else _sqlite_trigger_statements)(conn, t)
    except TuneRefused as exc:
        return Change("warning-watch triggers", "keep warning_watch in step with the tasks", "none: not made",
                      [], [], lambda c: watch_installed(c, t), refused=str(exc))
    w = _Watch(conn, t)
    table = conn.dialect.identifier_preparer.format_table(t.tasks)
    # Filled in the same transaction as the triggers are made: no write of the task system's falls
    # between the two (it waits for the commit instead).
    fill = ["DELETE FROM warning_watch",
            f"INSERT INTO warning_watch ({WATCH_COLUMNS}) SELECT {w.values('t')} FROM {table} t WHERE {w.watched('t')}"]
    stale = _stale_triggers(conn, trigger_prefix(conn, t))
    return Change(
        "warning-watch triggers",
        "keep warning_watch (taskconsole's table) in step with the tasks, whoever writes them: the warning "
        "panels become index-only scans of it instead of reads of the tasks table",
        "every insert, delete and truncate of tasks runs one more set-based statement; an update of a "
        "processing task's status, progress, window or handler one more row write (measured in the README); "
        "the tasks table is locked against writes while warning_watch is filled",
        stale + apply + fill, stale + undo + ["DELETE FROM warning_watch"], lambda c: watch_installed(c, t))


def watch_installed(conn: Connection, t: TaskTables) -> bool:
    """Whether the warning-watch triggers are on the tasks table (``db tune``): only then does
    warning_watch hold the truth, and the warning check mark it."""
    name = f"{trigger_prefix(conn, t)}_update"
    if conn.dialect.name == "postgresql":
        table = conn.dialect.identifier_preparer.format_table(t.tasks)
        return conn.execute(text("SELECT count(*) FROM pg_trigger WHERE tgrelid = to_regclass(:t) AND tgname = :n"),
                            {"t": table, "n": name}).scalar_one() > 0
    return conn.execute(text("SELECT count(*) FROM sqlite_master WHERE type = 'trigger' AND name = :n"),
                        {"n": name}).scalar_one() > 0


def changes(conn: Connection, t: TaskTables) -> list[Change]:
    """Every change ``db tune`` makes, in the order it makes them."""
    found = indexes(conn, t)
    if conn.dialect.name == "postgresql":
        found.append(_fillfactor(conn, t))
    found.append(_triggers(conn, t))
    return found


def apply(engine: Engine, t: TaskTables, *, undo: bool = False,
          progress: Callable[[Change], None] = lambda change: None) -> list[Change]:
    """Make (or with ``undo`` remove) every change not yet made (not yet removed); returns those done."""
    with engine.connect() as conn:
        planned = changes(conn, t)
        todo = [c for c in (reversed(planned) if undo else planned) if c.present(conn) == undo]
    refused = [c for c in todo if c.refused and not undo]
    if refused:
        raise TuneRefused(f"{refused[0].name}: {refused[0].refused}")
    for change in todo:
        progress(change)
        statements = change.undo if undo else change.apply
        if change.outside_transaction:
            for statement in statements:
                outside_transaction(engine, statement)
        else:
            with engine.begin() as conn:
                for statement in statements:
                    conn.exec_driver_sql(statement)
    return todo
