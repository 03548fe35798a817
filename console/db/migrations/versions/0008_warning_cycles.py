"""Warnings keyed by task, level and cycle: a moved deadline no longer starts a new key.

Until now the warning ledger's unique key held the task's window, so a deadline moved by a minute
was a new key, and the warning check sent every level reached again at its next run. The key is
now (task, cycle, level, repeat number). A task's cycle is the id of the run that last reset it
(``tasks.last_reset_run_id``, stamped by reset_periodic_tasks), 0 before any reset: a reset starts
a new cycle; a moved deadline, or any other write of the task system, does not. (A task that the
task system re-opens by itself cannot be told reliably from a moved deadline, so it stays in its
cycle: a level already sent comes again after ``warnings.repeat_after``, as a repeat.) The window
stays in the ledger, for the record.

Existing ledger rows are kept. A row sent after the task's last reset (by a later run: run ids
grow) belongs to its current cycle; an older one gets cycle -1, an earlier cycle that no longer
holds anything back. Within a task, cycle and level the rows are numbered anew in the order they
were written, so that the several windows a moved deadline produced become repeats of one key and
still hold back a send within repeat_after.

warning_watch: ``warned_level`` becomes the level last sent in the task's cycle, and the row
carries the cycle (``cycle``), so that the warning check marks a task whose window moved while it
ran (it compares cycles, no longer windows). The triggers of 0007 are replaced by the same triggers
reading the ledger by cycle; a change of ``last_reset_run_id`` (a new cycle) rewrites the row too.
On SQLite the ledger is rebuilt (its unique key is part of the table); the triggers that read it
are dropped first, as SQLite checks every trigger when the rebuilt table is renamed into place.

Revision ID: 0008
Revises: 0007
"""

import sqlalchemy as sa  # noqa: F401
from alembic import op

revision = "0008"
down_revision = "0007"
branch_labels = None
depends_on = None

OLD_UNIQUE = "uq_warning_ledger_task_id_level_window_start_window_end_repeat_no"  # PostgreSQL cut it to 63
NEW_UNIQUE = "uq_warning_ledger_task_id_cycle_level_repeat_no"
OLD_KEY = "task_id, level, window_start, window_end, repeat_no"
NEW_KEY = "task_id, cycle, level, repeat_no"
# The columns of 0007's update trigger; by cycle, a new cycle (a reset) rewrites the row too.
WINDOW_WATCHED = ("id", "status", "progress", "expected_start_time", "expected_end_time", "current_handler_id")
CYCLE_WATCHED = WINDOW_WATCHED + ("last_reset_run_id",)
# The ledger's cycle of each existing row (see the docstring); the task always exists (ON DELETE CASCADE).
ROW_CYCLE = ("CASE WHEN t.last_reset_run_id IS NULL THEN 0 WHEN w.run_id > t.last_reset_run_id "
             "THEN t.last_reset_run_id ELSE -1 END")


# -- warning_watch's triggers, in 0007's shape (by window) or this one's (by cycle) -------------------

def _cycle(t: str) -> str:
    return f"coalesce({t}.last_reset_run_id, 0)"


def _columns(by_cycle: bool) -> str:
    return "task_id, start_s, end_s, progress, warned_level" + (", cycle" if by_cycle else "")


def _watched_columns(by_cycle: bool) -> tuple[str, ...]:
    return CYCLE_WATCHED if by_cycle else WINDOW_WATCHED


def _definer() -> str:
    """As 0007: the trigger functions run as their owner, in this schema only, pg_temp last."""
    schema = op.get_bind().exec_driver_sql("SELECT quote_ident(current_schema())").scalar()
    return f"SECURITY DEFINER SET search_path = {schema}, pg_temp"


def _epoch(dialect: str, column: str) -> str:
    # As console.db.column_types.epoch_seconds, so the panel's time progress is the warning check's, bit for bit.
    if dialect == "postgresql":
        return f"date_part('epoch', {column})"
    return f"(CAST(strftime('%s', substr({column}, 1, 19)) AS REAL) + CAST(substr({column}, 20) AS REAL))"


def _watched(t: str) -> str:
    """The warning check's own filter (console.jobs.warnings): which tasks have a row."""
    return (f"{t}.status = 'processing' AND {t}.expected_start_time IS NOT NULL AND {t}.expected_end_time IS NOT NULL "
            f"AND {t}.expected_end_time > {t}.expected_start_time AND {t}.progress IS NOT NULL AND {t}.progress >= 0 "
            f"AND {t}.progress <= 100 AND {t}.current_handler_id IS NOT NULL")


def _row(dialect: str, t: str, by_cycle: bool) -> str:
    """The warning_watch row of task ``t``, its warned level read back from the ledger."""
    # The last one written (by id, as the warning check marks it) is the one that counts.
    if by_cycle:  # through the ledger's unique key (task_id, cycle, ...)
        warned = (f"(SELECT w.level FROM warning_ledger w WHERE w.task_id = {t}.id AND w.cycle = {_cycle(t)} "
                  "ORDER BY w.id DESC LIMIT 1)")
    else:
        warned = (f"(SELECT w.level FROM warning_ledger w WHERE w.task_id = {t}.id AND w.window_start = "
                  f"{t}.expected_start_time AND w.window_end = {t}.expected_end_time ORDER BY w.id DESC LIMIT 1)")
    row = (f"{t}.id, {_epoch(dialect, f'{t}.expected_start_time')}, {_epoch(dialect, f'{t}.expected_end_time')}, "
           f"{t}.progress, {warned}")
    return row + (f", {_cycle(t)}" if by_cycle else "")


def _differs(dialect: str) -> str:
    # SQLite's IS NOT compares NULLs as values, as IS DISTINCT FROM does (which only SQLite 3.39 knows).
    return "IS DISTINCT FROM" if dialect == "postgresql" else "IS NOT"


def _changed(dialect: str, by_cycle: bool) -> str:
    return " OR ".join(f"OLD.{c} {_differs(dialect)} NEW.{c}" for c in _watched_columns(by_cycle))


def _progress_only(dialect: str, by_cycle: bool) -> str:
    """Only the work progress changed, and the task is watched before and after."""
    same = " AND ".join(f"NOT (OLD.{c} {_differs(dialect)} NEW.{c})"
                        for c in _watched_columns(by_cycle) if c != "progress")
    return f"{same} AND {_watched('OLD')} AND {_watched('NEW')}"


def _postgresql_triggers(by_cycle: bool) -> None:
    """Replace the insert and update functions and the update trigger (delete and truncate stay)."""
    definer = _definer()
    columns = _columns(by_cycle)
    upsert = ", ".join(f"{c} = EXCLUDED.{c}" for c in columns.split(", ")[1:])
    op.execute(f"""
        CREATE OR REPLACE FUNCTION warning_watch_inserted() RETURNS trigger LANGUAGE plpgsql {definer} AS $$
        BEGIN
            INSERT INTO warning_watch ({columns}) SELECT {_row('postgresql', 'n', by_cycle)} FROM new_rows n
            WHERE {_watched('n')};
            RETURN NULL;
        END $$""")
    op.execute(f"""
        CREATE OR REPLACE FUNCTION warning_watch_updated() RETURNS trigger LANGUAGE plpgsql {definer} AS $$
        BEGIN
            IF {_progress_only('postgresql', by_cycle)} THEN
                -- The common write: same window, same cycle, same warnings; no ledger read.
                UPDATE warning_watch SET progress = NEW.progress WHERE task_id = NEW.id;
                RETURN NULL;
            END IF;
            -- Wait for a warning check that is marking this row: the statements below then run
            -- on a snapshot that sees its ledger rows (READ COMMITTED takes one per statement).
            -- The check never waits for us (it skips locked rows), so this cannot deadlock.
            PERFORM 1 FROM warning_watch WHERE task_id = OLD.id FOR UPDATE;
            IF OLD.id <> NEW.id OR NOT coalesce({_watched('NEW')}, false) THEN
                DELETE FROM warning_watch WHERE task_id = OLD.id;
            END IF;
            IF {_watched('NEW')} THEN
                -- In place, not delete and insert: a warning check waiting on this row follows
                -- the update and still marks it.
                INSERT INTO warning_watch ({columns}) SELECT {_row('postgresql', 'NEW', by_cycle)}
                ON CONFLICT (task_id) DO UPDATE SET {upsert};
            END IF;
            RETURN NULL;
        END $$""")
    op.execute("DROP TRIGGER tasks_warning_watch_update ON tasks")
    op.execute(f"CREATE TRIGGER tasks_warning_watch_update AFTER UPDATE OF {', '.join(_watched_columns(by_cycle))} "
               f"ON tasks FOR EACH ROW WHEN ((OLD.status = 'processing' OR NEW.status = 'processing') "
               f"AND ({_changed('postgresql', by_cycle)})) EXECUTE FUNCTION warning_watch_updated()")


SQLITE_LEDGER_TRIGGERS = ("insert", "update", "progress")  # the delete trigger reads neither ledger nor cycle


def _sqlite_drop_triggers() -> None:
    for event in SQLITE_LEDGER_TRIGGERS:
        op.execute(f"DROP TRIGGER tasks_warning_watch_{event}")


def _sqlite_create_triggers(by_cycle: bool) -> None:
    columns = _columns(by_cycle)
    watched = ", ".join(_watched_columns(by_cycle))
    # Whatever the new row: INSERT OR REPLACE removes the old one without firing a delete trigger.
    op.execute(f"""
        CREATE TRIGGER tasks_warning_watch_insert AFTER INSERT ON tasks
        BEGIN
            DELETE FROM warning_watch WHERE task_id = NEW.id;
            INSERT INTO warning_watch ({columns}) SELECT {_row('sqlite', 'NEW', by_cycle)} WHERE {_watched('NEW')};
        END""")
    op.execute(f"""
        CREATE TRIGGER tasks_warning_watch_update AFTER UPDATE OF {watched} ON tasks
        WHEN (OLD.status = 'processing' OR NEW.status = 'processing') AND ({_changed('sqlite', by_cycle)})
             AND NOT ({_progress_only('sqlite', by_cycle)})
        BEGIN
            DELETE FROM warning_watch WHERE task_id = OLD.id;
            INSERT INTO warning_watch ({columns}) SELECT {_row('sqlite', 'NEW', by_cycle)} WHERE {_watched('NEW')};
        END""")
    op.execute(f"""
        CREATE TRIGGER tasks_warning_watch_progress AFTER UPDATE OF progress ON tasks
        WHEN OLD.progress IS NOT NEW.progress AND {_progress_only('sqlite', by_cycle)}
        BEGIN
            UPDATE warning_watch SET progress = NEW.progress WHERE task_id = NEW.id;
        END""")


# -- the ledger's key ---------------------------------------------------------------------------------

def _renumbered(partition: str) -> str:
    """Each row's repeat number within ``partition``, in the order written (ids grow)."""
    return f"row_number() OVER (PARTITION BY {partition} ORDER BY id) - 1"


def _sqlite_rebuild_ledger(by_cycle: bool) -> None:
    """SQLite cannot drop a table's own UNIQUE constraint: the ledger is copied into a new table."""
    cycle_column = "cycle INTEGER DEFAULT 0 NOT NULL, " if by_cycle else ""
    name, key = (NEW_UNIQUE, NEW_KEY) if by_cycle else (OLD_UNIQUE, OLD_KEY)
    op.execute(f"""
        CREATE TABLE warning_ledger_0008 (
            id INTEGER NOT NULL, task_id INTEGER NOT NULL, level INTEGER NOT NULL,
            window_start DATETIME NOT NULL, window_end DATETIME NOT NULL, {cycle_column}
            repeat_no INTEGER NOT NULL, sent_at DATETIME NOT NULL, run_id INTEGER NOT NULL,
            CONSTRAINT pk_warning_ledger PRIMARY KEY (id),
            CONSTRAINT fk_warning_ledger_task_id_tasks FOREIGN KEY(task_id) REFERENCES tasks (id) ON DELETE CASCADE,
            CONSTRAINT {name} UNIQUE ({key}))""")
    common = "id, task_id, level, window_start, window_end, repeat_no, sent_at, run_id"
    if by_cycle:
        source = f"SELECT w.*, {ROW_CYCLE} AS cycle FROM warning_ledger w LEFT JOIN tasks t ON t.id = w.task_id"
        numbered = common.replace("repeat_no", _renumbered("task_id, cycle, level")) + ", cycle"
        op.execute(f"INSERT INTO warning_ledger_0008 ({common}, cycle) SELECT {numbered} FROM ({source})")
    else:
        numbered = common.replace("repeat_no", _renumbered("task_id, level, window_start, window_end"))
        op.execute(f"INSERT INTO warning_ledger_0008 ({common}) SELECT {numbered} FROM warning_ledger")
    op.execute("DROP TABLE warning_ledger")
    op.execute("ALTER TABLE warning_ledger_0008 RENAME TO warning_ledger")
    op.execute("CREATE INDEX ix_warning_ledger_run_id ON warning_ledger (run_id)")
    op.execute("CREATE INDEX ix_warning_ledger_sent_at_level ON warning_ledger (sent_at, level)")


def _postgresql_renumber(partition: str) -> None:
    # Only the rows whose number changes are written.
    op.execute(f"""
        UPDATE warning_ledger w SET repeat_no = r.n
        FROM (SELECT id, {_renumbered(partition)} AS n FROM warning_ledger) r
        WHERE r.id = w.id AND w.repeat_no <> r.n""")


def _postgresql_drop_unique() -> None:
    # By the catalog: PostgreSQL stored 0001's name cut to 63 characters (SQLAlchemy's hashed form).
    bind = op.get_bind()
    for (name,) in bind.exec_driver_sql(
            "SELECT conname FROM pg_constraint WHERE conrelid = 'warning_ledger'::regclass AND contype = 'u'").all():
        # A name from the catalog is data: quoted by the dialect.
        op.execute(f"ALTER TABLE warning_ledger DROP CONSTRAINT {bind.dialect.identifier_preparer.quote(name)}")


def _postgresql_rekey_ledger() -> None:
    op.execute("ALTER TABLE warning_ledger ADD COLUMN cycle bigint NOT NULL DEFAULT 0")
    _postgresql_drop_unique()
    op.execute(f"UPDATE warning_ledger w SET cycle = {ROW_CYCLE} FROM tasks t "
               "WHERE t.id = w.task_id AND t.last_reset_run_id IS NOT NULL")
    _postgresql_renumber("task_id, cycle, level")
    op.execute(f"ALTER TABLE warning_ledger ADD CONSTRAINT {NEW_UNIQUE} UNIQUE ({NEW_KEY})")


def _postgresql_unkey_ledger() -> None:
    _postgresql_drop_unique()
    _postgresql_renumber("task_id, level, window_start, window_end")
    op.create_unique_constraint(op.f(OLD_UNIQUE), "warning_ledger", OLD_KEY.split(", "))
    op.execute("ALTER TABLE warning_ledger DROP COLUMN cycle")


def _fill_watch(by_cycle: bool) -> None:
    """Every warning_watch row's warned level (and cycle) as the triggers of that shape write it.

    Only the rows that can change are read: a task's level read back by window and by cycle differ
    only where it has ledger rows, and its cycle is not 0 only once it was reset. On PostgreSQL only
    the rows that do change are written (every row, with its ledger read, took 40 s at a million
    watched tasks; this takes about a second per 100,000 warned tasks).
    """
    pg = op.get_bind().dialect.name == "postgresql"
    if by_cycle:
        candidates = ("SELECT w.task_id FROM warning_ledger w "
                      "UNION SELECT t.id FROM tasks t WHERE t.last_reset_run_id IS NOT NULL")
        cycle = "coalesce(t.last_reset_run_id, 0)"
        warned = (f"(SELECT w.level FROM warning_ledger w WHERE w.task_id = t.id AND w.cycle = {cycle} "
                  "ORDER BY w.id DESC LIMIT 1)")
        targets = "cycle = n.cycle, warned_level = n.warned"
        changed = "ww.cycle <> n.cycle OR ww.warned_level IS DISTINCT FROM n.warned"
        new_values = f"{cycle} AS cycle, {warned} AS warned"
    else:
        candidates = "SELECT w.task_id FROM warning_ledger w"
        warned = ("(SELECT w.level FROM warning_ledger w WHERE w.task_id = t.id AND w.window_start = "
                  "t.expected_start_time AND w.window_end = t.expected_end_time ORDER BY w.id DESC LIMIT 1)")
        targets = "warned_level = n.warned"
        changed = "ww.warned_level IS DISTINCT FROM n.warned"
        new_values = f"{warned} AS warned"
    if pg:
        op.execute(f"""
            UPDATE warning_watch ww SET {targets}
            FROM (SELECT t.id, {new_values} FROM tasks t WHERE t.id IN ({candidates})) n
            WHERE ww.task_id = n.id AND ({changed})""")
    else:  # SQLite before 3.33 has no UPDATE ... FROM; its databases are small
        sets = ", ".join(f"{column} = (SELECT {value} FROM tasks t WHERE t.id = warning_watch.task_id)"
                         for column, value in ([("cycle", cycle)] if by_cycle else []) + [("warned_level", warned)])
        op.execute(f"UPDATE warning_watch SET {sets} WHERE task_id IN ({candidates})")


def upgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        _postgresql_rekey_ledger()
        op.execute("ALTER TABLE warning_watch ADD COLUMN cycle bigint NOT NULL DEFAULT 0")
        _fill_watch(by_cycle=True)
        _postgresql_triggers(by_cycle=True)
    else:
        _sqlite_drop_triggers()
        _sqlite_rebuild_ledger(by_cycle=True)
        op.execute("ALTER TABLE warning_watch ADD COLUMN cycle INTEGER NOT NULL DEFAULT 0")
        _fill_watch(by_cycle=True)
        _sqlite_create_triggers(by_cycle=True)


def downgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        _postgresql_triggers(by_cycle=False)
        op.execute("ALTER TABLE warning_watch DROP COLUMN cycle")
        _postgresql_unkey_ledger()
    else:
        _sqlite_drop_triggers()
        op.execute("ALTER TABLE warning_watch DROP COLUMN cycle")
        _sqlite_rebuild_ledger(by_cycle=False)
        _sqlite_create_triggers(by_cycle=False)
    _fill_watch(by_cycle=False)
