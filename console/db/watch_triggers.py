"""The warning-watch triggers as SQL, built from the mapping: the part of ``db tune`` (console.db.
tuning) that keeps warning_watch, taskconsole's table, in step with the task system's tasks.

The bodies are written from the very expressions the warning check queries with (console.db.
task_sql): whether a task is watched, its window in epoch seconds in its own wall clock, its
cycle. Their names carry a digest of what they were built from (the mapping and this code's
version), so triggers made for another mapping are known as stale and replaced.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, replace
from typing import Callable

from sqlalchemy import Connection, text
from sqlalchemy.sql.expression import ColumnElement

from console.db.task_sql import is_processing, watched
from console.db.task_tables import TaskTables
from console.db.tune_records import Made, TuneRefused, drop_statements, legacy_objects
from console.db.column_types import epoch_of, wall_clock_zone

TRIGGER_PREFIX = "taskconsole_watch"
# Part of the triggers' names: a change to their code (here) makes `db tune` replace them. (A
# progress-only trigger of its own, its condition in WHEN, measured slower: 1.59x against 1.24x.)
TRIGGERS_VERSION = "1"
WATCH_COLUMNS = "task_id, start_s, end_s, progress, warned_level, cycle"
# A placeholder table alias, replaced by NEW, OLD or a transition table's alias in trigger bodies.
_ROW = "tc_row_alias"


def sql_text(conn: Connection, expr: ColumnElement) -> str:
    """An expression as SQL text, its words and numbers written in (an index or trigger has no parameters)."""
    return str(expr.compile(dialect=conn.dialect, compile_kwargs={"literal_binds": True}))


def quoted(conn: Connection, name: str) -> str:
    return conn.dialect.identifier_preparer.quote(name)


@dataclass(frozen=True)
class Watch:
    """The pieces of the trigger bodies, as SQL text for a row alias (NEW, OLD, n, o, t)."""

    conn: Connection
    t: TaskTables

    def _aliased(self) -> TaskTables:
        return replace(self.t, tasks=self.t.tasks.alias(_ROW))

    def sql(self, expr_of: Callable[[TaskTables], ColumnElement], row: str) -> str:
        return sql_text(self.conn, expr_of(self._aliased())).replace(f"{_ROW}.", f"{row}.")

    def col(self, key: str, row: str) -> str:
        return f"{row}.{quoted(self.conn, self.t.tasks.c[key].name)}"

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
        probe = Watch(conn, t)
        basis = "|".join([TRIGGERS_VERSION, conn.dialect.identifier_preparer.format_table(t.tasks),
                          probe.watched("r"), probe.values("r")])
        _PREFIXES[key] = f"{TRIGGER_PREFIX}_{hashlib.sha1(basis.encode()).hexdigest()[:6]}"
    return _PREFIXES[key]


def stale_triggers(conn: Connection, t: TaskTables, current: str) -> list[str]:
    """DROP statements for taskconsole's watch triggers and functions made for another mapping (on
    the mapped tasks table and task_state only; names of the exact shape tune gives, quoted)."""
    stale = [m for m in legacy_objects(conn, (t.tasks.name, "task_state"))
             if m.kind in ("trigger", "function") and not m.name.startswith(current + "_")]
    return [statement for m in stale for statement in drop_statements(conn, m)]


def dollar_quoted(body: str) -> str:
    """``body`` as a PostgreSQL dollar-quoted string whose tag it does not contain: a status word
    holding ``$$`` (written into the body as a literal) cannot end the function's text."""
    n = 0
    while f"$tc{n}$" in body:
        n += 1
    return f"$tc{n}${body}$tc{n}$"


def _function(name: str, definer: str, body: str) -> str:
    return (f"CREATE OR REPLACE FUNCTION {name}() RETURNS trigger LANGUAGE plpgsql {definer} AS "
            + dollar_quoted(body))


def pg_trigger_statements(conn: Connection, t: TaskTables) -> tuple[list[str], list[str]]:
    w = Watch(conn, t)
    table = conn.dialect.identifier_preparer.format_table(t.tasks)
    schema = conn.exec_driver_sql("SELECT quote_ident(current_schema())").scalar()
    # The task system's own role may write tasks without any right on warning_watch: the functions
    # run as their owner, in this schema only, with pg_temp last.
    definer = f"SECURITY DEFINER SET search_path = {schema}, pg_temp"
    upsert = ", ".join(f"{c} = EXCLUDED.{c}" for c in WATCH_COLUMNS.split(", ")[1:])
    watched_columns = ", ".join(quoted(conn, t.tasks.c[k].name) for k in WATCHED_KEYS)
    fn = trigger_prefix(conn, t)
    apply = [
        _function(f"{fn}_inserted", definer, f"""
        BEGIN
            INSERT INTO warning_watch ({WATCH_COLUMNS}) SELECT {w.values('n')} FROM new_rows n WHERE {w.watched('n')};
            RETURN NULL;
        END"""),
        _function(f"{fn}_deleted", definer, f"""
        BEGIN
            DELETE FROM warning_watch WHERE task_id IN (SELECT {w.col('id', 'o')} FROM old_rows o);
            RETURN NULL;
        END"""),
        _function(f"{fn}_truncated", definer, f"""
        BEGIN
            DELETE FROM warning_watch;  -- not TRUNCATE: the same statement may truncate it too
            RETURN NULL;
        END"""),
        _function(f"{fn}_updated", definer, f"""
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
        END"""),
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
        _function(f"{fn}_restamped", definer, f"""
        BEGIN
            UPDATE warning_watch SET {STATE_REFRESH.format(task='NEW.task_id', cycle='NEW.last_reset_run_id')}
            WHERE task_id = NEW.task_id;
            RETURN NULL;
        END"""),
        f"CREATE TRIGGER {fn}_state AFTER INSERT OR UPDATE OF last_reset_run_id ON task_state FOR EACH ROW "
        f"EXECUTE FUNCTION {fn}_restamped()",
    ]
    undo = [f"DROP TRIGGER IF EXISTS {fn}_{event} ON {table}" for event in ("insert", "delete", "truncate", "update")]
    undo += [f"DROP TRIGGER IF EXISTS {fn}_state ON task_state"]
    undo += [f"DROP FUNCTION IF EXISTS {fn}_{kind}()"
             for kind in ("inserted", "deleted", "truncated", "updated", "restamped")]
    return apply, undo


def sqlite_trigger_statements(conn: Connection, t: TaskTables) -> tuple[list[str], list[str]]:
    for key in ("expected_start_time", "expected_end_time"):
        if wall_clock_zone(t.tasks.c[key]) is not None:
            raise TuneRefused("the warning-watch triggers need naive_timestamps: utc on SQLite (SQLite has no "
                              "time zone database for a trigger to read local times with); the panels read the "
                              "tasks table instead")
    w = Watch(conn, t)
    table = conn.dialect.identifier_preparer.format_table(t.tasks)
    fn = trigger_prefix(conn, t)
    watched_columns = ", ".join(quoted(conn, t.tasks.c[k].name) for k in WATCHED_KEYS)
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
        f"""CREATE TRIGGER {fn}_progress AFTER UPDATE OF {quoted(conn, t.tasks.c.progress.name)} ON {table}
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


def trigger_objects(conn: Connection, t: TaskTables) -> tuple:
    """What the triggers change makes, for tune's record (console.db.tune_records)."""
    fn = trigger_prefix(conn, t)
    if conn.dialect.name == "postgresql":
        on_tasks, on_state = ("insert", "delete", "truncate", "update"), ("state",)
        functions = ("inserted", "deleted", "truncated", "updated", "restamped")
    else:
        on_tasks, on_state, functions = ("insert", "delete", "update", "progress"), ("state_insert", "state_update"), ()
    return (tuple(Made("trigger", f"{fn}_{e}", t.tasks.name) for e in on_tasks)
            + tuple(Made("trigger", f"{fn}_{e}", "task_state") for e in on_state)
            + tuple(Made("function", f"{fn}_{k}", None) for k in functions))
