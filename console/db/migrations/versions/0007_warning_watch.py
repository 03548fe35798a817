"""warning_watch: the few numbers per task that the warning-count panel needs, kept by triggers.

The panel counts the processing tasks in each warning level and how many of them are not yet
notified for their window. Read from ``tasks``, that is one scattered heap read per task past 80 %
of its window (most pages of a million-task table) and one ledger probe each: 0.3 s on the 1M demo.

warning_watch holds one narrow row per task the warning check watches (processing, a good window
and progress, a handler): the window as epoch seconds, the work progress, and ``warned_level``,
the level last notified for that window. Its expression index on the 80 % instant carries every
column the panel reads, so the panel is an index-only scan that never touches ``tasks`` or the
ledger. The 30-minute time-progress rewrite does not touch this table, so autovacuum (set to come
early here) keeps its pages all-visible.

Who writes it:
- triggers on ``tasks``, whoever writes the tasks (this program or the task system itself):
  an insert adds a row, a change of status, progress, window or handler rewrites or removes it,
  a delete or TRUNCATE removes it. ``warned_level`` is read back from the ledger then, so a task
  that comes back to a window already warned about is not counted as pending again.
  On PostgreSQL inserts and deletes are statement triggers over transition tables (a bulk load
  or a cleanup batch costs one set-based statement), updates a row trigger whose WHEN clause
  leaves out every update that changes nothing here, the time-progress rewrite included;
- the warning check, which marks the tasks it has just warned in the same transaction, and then
  vacuums this table and the ledger (they are small, and autovacuum may be off).

The ledger's sent_at index gains ``level``, so the panel's warnings per hour and level are read
from the index alone.

Revision ID: 0007
Revises: 0006
"""

from alembic import op

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None

COLUMNS = "task_id, start_s, end_s, progress, warned_level"
# The expression the panel filters on, in the very form console.service.dashboard writes it.
WARN_FROM = "(start_s + (end_s - start_s) * 0.8)"
# Columns whose change can add, move or remove a task's row. Any later migration that rebuilds
# `tasks` (Alembic's batch mode on SQLite copies the table) must create these triggers again;
# a test checks they are all there at the head revision.
WATCHED_COLUMNS = ("id", "status", "progress", "expected_start_time", "expected_end_time", "current_handler_id")
# The same columns but progress: when only progress changes, the window and its warnings stay.
SAME_WINDOW = tuple(c for c in WATCHED_COLUMNS if c != "progress")


def _definer() -> str:
    """The task system's own role may write tasks without any right on warning_watch: the trigger
    functions run as their owner (the role running this migration), in this schema only, with
    pg_temp last so that nobody's temporary table can stand in for ours."""
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


def _row(dialect: str, t: str) -> str:
    """The warning_watch row of task ``t``, its warned level read back from the ledger."""
    # Levels only grow more severe as a window's time runs, so the last one sent is the one that
    # counts: the last written (by id, as the warning check marks it), whatever the clocks said.
    warned = (f"(SELECT w.level FROM warning_ledger w WHERE w.task_id = {t}.id AND w.window_start = "
              f"{t}.expected_start_time AND w.window_end = {t}.expected_end_time ORDER BY w.id DESC LIMIT 1)")
    return (f"{t}.id, {_epoch(dialect, f'{t}.expected_start_time')}, {_epoch(dialect, f'{t}.expected_end_time')}, "
            f"{t}.progress, {warned}")


def _differs(dialect: str) -> str:
    # SQLite's IS NOT compares NULLs as values, as IS DISTINCT FROM does (which only SQLite 3.39 knows).
    return "IS DISTINCT FROM" if dialect == "postgresql" else "IS NOT"


def _changed(dialect: str) -> str:
    return " OR ".join(f"OLD.{c} {_differs(dialect)} NEW.{c}" for c in WATCHED_COLUMNS)


def _progress_only(dialect: str) -> str:
    """Only the work progress changed, and the task is watched before and after."""
    same = " AND ".join(f"NOT (OLD.{c} {_differs(dialect)} NEW.{c})" for c in SAME_WINDOW)
    return f"{same} AND {_watched('OLD')} AND {_watched('NEW')}"


def _postgresql() -> None:
    definer = _definer()
    op.execute("""
        CREATE TABLE warning_watch (
            task_id bigint NOT NULL, start_s double precision NOT NULL, end_s double precision NOT NULL,
            progress double precision NOT NULL, warned_level integer,
            CONSTRAINT pk_warning_watch PRIMARY KEY (task_id)
        ) WITH (autovacuum_vacuum_scale_factor = 0.01, autovacuum_vacuum_insert_scale_factor = 0.01,
                autovacuum_analyze_scale_factor = 0.05)""")
    op.execute(f"""
        CREATE FUNCTION warning_watch_inserted() RETURNS trigger LANGUAGE plpgsql {definer} AS $$
        BEGIN
            INSERT INTO warning_watch ({COLUMNS}) SELECT {_row('postgresql', 'n')} FROM new_rows n WHERE {_watched('n')};
            RETURN NULL;
        END $$""")
    op.execute(f"""
        CREATE FUNCTION warning_watch_deleted() RETURNS trigger LANGUAGE plpgsql {definer} AS $$
        BEGIN
            DELETE FROM warning_watch WHERE task_id IN (SELECT o.id FROM old_rows o WHERE o.status = 'processing');
            RETURN NULL;
        END $$""")
    op.execute(f"""
        CREATE FUNCTION warning_watch_truncated() RETURNS trigger LANGUAGE plpgsql {definer} AS $$
        BEGIN
            -- Not TRUNCATE: that fails when the same statement truncates warning_watch too.
            DELETE FROM warning_watch;
            RETURN NULL;
        END $$""")
    op.execute(f"""
        CREATE FUNCTION warning_watch_updated() RETURNS trigger LANGUAGE plpgsql {definer} AS $$
        BEGIN
            IF {_progress_only('postgresql')} THEN
                -- The common write: same window, same warnings; no ledger read.
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
                INSERT INTO warning_watch ({COLUMNS}) SELECT {_row('postgresql', 'NEW')}
                ON CONFLICT (task_id) DO UPDATE SET start_s = EXCLUDED.start_s, end_s = EXCLUDED.end_s,
                    progress = EXCLUDED.progress, warned_level = EXCLUDED.warned_level;
            END IF;
            RETURN NULL;
        END $$""")
    op.execute("CREATE TRIGGER tasks_warning_watch_insert AFTER INSERT ON tasks REFERENCING NEW TABLE AS new_rows "
               "FOR EACH STATEMENT EXECUTE FUNCTION warning_watch_inserted()")
    op.execute("CREATE TRIGGER tasks_warning_watch_delete AFTER DELETE ON tasks REFERENCING OLD TABLE AS old_rows "
               "FOR EACH STATEMENT EXECUTE FUNCTION warning_watch_deleted()")
    op.execute("CREATE TRIGGER tasks_warning_watch_truncate AFTER TRUNCATE ON tasks "
               "FOR EACH STATEMENT EXECUTE FUNCTION warning_watch_truncated()")
    op.execute(f"CREATE TRIGGER tasks_warning_watch_update AFTER UPDATE OF {', '.join(WATCHED_COLUMNS)} ON tasks "
               f"FOR EACH ROW WHEN ((OLD.status = 'processing' OR NEW.status = 'processing') AND ({_changed('postgresql')})) "
               "EXECUTE FUNCTION warning_watch_updated()")
    op.execute(f"INSERT INTO warning_watch ({COLUMNS}) SELECT {_row('postgresql', 't')} FROM tasks t WHERE {_watched('t')}")
    op.execute(f"CREATE INDEX ix_warning_watch_from ON warning_watch ({WARN_FROM}) "
               "INCLUDE (start_s, end_s, progress, warned_level)")


def _sqlite() -> None:
    op.execute("""
        CREATE TABLE warning_watch (
            task_id INTEGER NOT NULL PRIMARY KEY, start_s FLOAT NOT NULL, end_s FLOAT NOT NULL,
            progress FLOAT NOT NULL, warned_level INTEGER)""")
    # Whatever the new row: INSERT OR REPLACE removes the old one without firing a delete trigger.
    op.execute(f"""
        CREATE TRIGGER tasks_warning_watch_insert AFTER INSERT ON tasks
        BEGIN
            DELETE FROM warning_watch WHERE task_id = NEW.id;
            INSERT INTO warning_watch ({COLUMNS}) SELECT {_row('sqlite', 'NEW')} WHERE {_watched('NEW')};
        END""")
    op.execute("""
        CREATE TRIGGER tasks_warning_watch_delete AFTER DELETE ON tasks WHEN OLD.status = 'processing'
        BEGIN
            DELETE FROM warning_watch WHERE task_id = OLD.id;
        END""")
    op.execute(f"""
        CREATE TRIGGER tasks_warning_watch_update AFTER UPDATE OF {', '.join(WATCHED_COLUMNS)} ON tasks
        WHEN (OLD.status = 'processing' OR NEW.status = 'processing') AND ({_changed('sqlite')})
             AND NOT ({_progress_only('sqlite')})
        BEGIN
            DELETE FROM warning_watch WHERE task_id = OLD.id;
            INSERT INTO warning_watch ({COLUMNS}) SELECT {_row('sqlite', 'NEW')} WHERE {_watched('NEW')};
        END""")
    op.execute(f"""
        CREATE TRIGGER tasks_warning_watch_progress AFTER UPDATE OF progress ON tasks
        WHEN OLD.progress IS NOT NEW.progress AND {_progress_only('sqlite')}
        BEGIN
            UPDATE warning_watch SET progress = NEW.progress WHERE task_id = NEW.id;
        END""")
    op.execute(f"INSERT INTO warning_watch ({COLUMNS}) SELECT {_row('sqlite', 't')} FROM tasks t WHERE {_watched('t')}")
    # SQLite has no INCLUDE: the trailing columns make the index covering all the same.
    op.execute(f"CREATE INDEX ix_warning_watch_from ON warning_watch ({WARN_FROM}, start_s, end_s, progress, warned_level)")


def upgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        _postgresql()
        op.execute("ALTER TABLE warning_ledger SET (autovacuum_vacuum_insert_scale_factor = 0.01)")
    else:
        _sqlite()
    # The panel's warnings-per-hour read the last day's ledger by (sent_at, level) from the index alone.
    op.drop_index("ix_warning_ledger_sent_at", table_name="warning_ledger")
    op.create_index("ix_warning_ledger_sent_at_level", "warning_ledger", ["sent_at", "level"])


def downgrade() -> None:
    pg = op.get_bind().dialect.name == "postgresql"
    op.drop_index("ix_warning_ledger_sent_at_level", table_name="warning_ledger")
    op.create_index("ix_warning_ledger_sent_at", "warning_ledger", ["sent_at"])
    if pg:
        op.execute("ALTER TABLE warning_ledger RESET (autovacuum_vacuum_insert_scale_factor)")
    for event in ("insert", "delete", "update") + (("truncate",) if pg else ("progress",)):
        op.execute(f"DROP TRIGGER tasks_warning_watch_{event}" + (" ON tasks" if pg else ""))
    if pg:
        for fn in ("inserted", "deleted", "truncated", "updated"):
            op.execute(f"DROP FUNCTION warning_watch_{fn}()")
    op.execute("DROP TABLE warning_watch")
