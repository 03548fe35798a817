"""taskconsole's per-task state leaves the tasks table; the changes to the task tables become ``db tune``'s.

This revision runs only on a database whose three task tables taskconsole created (migrations
0001 to 0009 made them; a task system's own database is adopted without them: console.db.schema).

- ``task_state`` (task_id, last_reset_run_id, recurrence, next_reset_at, reset_planned_from,
  recurrence_error) takes what tasks held for taskconsole; every row with some state is copied.
  ``tasks.recurrence`` stays where it is: it is the demo's (and a task system's) own column.
- ``task_tables_origin`` records that taskconsole created the task tables, so that ``db upgrade``
  applies ``db tune`` to them by itself.
- The warning-watch triggers and functions of 0007/0008 and taskconsole's indexes on the task
  tables are dropped: ``db tune`` (console.db.tuning) makes them again from the mapping, under its
  own names, and ``db upgrade`` runs it right after this revision. warning_watch itself stays.
- The warning ledger loses its foreign key into tasks: no key of taskconsole's may make one of the
  task system's statements fail. Cleanup deletes a task's ledger rows with it.

Revision ID: 0010
Revises: 0009
"""

import importlib.util
from pathlib import Path

import sqlalchemy as sa
from alembic import op

import console.db.column_types

revision = "0010"
down_revision = "0009"
branch_labels = None
depends_on = None

STATE_COLUMNS = ("last_reset_run_id", "next_reset_at", "reset_planned_from", "recurrence_error")
# taskconsole's indexes on the task tables (0001 to 0005); db tune has its own, built from the mapping.
OLD_INDEXES = {
    "tasks": ("ix_tasks_processing_window", "ix_tasks_periodic_finished", "ix_tasks_closed_updated",
              "ix_tasks_current_handler_id", "ix_tasks_processing_bad", "ix_tasks_processing_no_handler",
              "ix_tasks_last_reset_run_id", "ix_tasks_rule_due", "ix_tasks_rule_unplanned", "ix_tasks_rule_invalid"),
    "notifications": ("ix_notifications_task_id", "ix_notifications_read_created"),
    "users": ("ix_users_admin",),
}
PG_ONLY_INDEXES = ("ix_tasks_warn_from",)
LEDGER_FK = "fk_warning_ledger_task_id_tasks"


def _pg() -> bool:
    return op.get_bind().dialect.name == "postgresql"


def _create_state_tables() -> None:
    big = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
    op.create_table(
        "task_state",
        sa.Column("task_id", big, autoincrement=False, nullable=False),
        sa.Column("last_reset_run_id", big, nullable=True),
        sa.Column("recurrence", sa.String(500), nullable=True),
        sa.Column("next_reset_at", console.db.column_types.UTCDateTime(timezone=True), nullable=True),
        sa.Column("reset_planned_from", console.db.column_types.UTCDateTime(timezone=True), nullable=True),
        sa.Column("recurrence_error", sa.Text(), nullable=True),
        sa.PrimaryKeyConstraint("task_id", name="pk_task_state"),
    )
    op.create_index("ix_task_state_last_reset_run_id", "task_state", ["last_reset_run_id"])
    op.create_index("ix_task_state_due", "task_state", ["next_reset_at"],
                    postgresql_where=sa.text("next_reset_at IS NOT NULL"),
                    sqlite_where=sa.text("next_reset_at IS NOT NULL"))
    op.create_index("ix_task_state_invalid", "task_state", ["task_id"],
                    postgresql_where=sa.text("recurrence_error IS NOT NULL"),
                    sqlite_where=sa.text("recurrence_error IS NOT NULL"))
    op.create_table(
        "task_tables_origin",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("created_by_taskconsole", sa.Boolean(), nullable=False),
        sa.Column("recorded_at", console.db.column_types.UTCDateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_task_tables_origin"),
    )


def _drop_old_watch_triggers() -> None:
    if _pg():
        for event in ("insert", "delete", "truncate", "update"):
            op.execute(f"DROP TRIGGER IF EXISTS tasks_warning_watch_{event} ON tasks")
        for fn in ("inserted", "deleted", "truncated", "updated"):
            op.execute(f"DROP FUNCTION IF EXISTS warning_watch_{fn}()")
    else:
        for event in ("insert", "delete", "update", "progress"):
            op.execute(f"DROP TRIGGER IF EXISTS tasks_warning_watch_{event}")


def _sqlite_rebuild_ledger(with_fk: bool) -> None:
    """SQLite cannot drop (or add) a foreign key: the ledger is copied into a new table."""
    fk = ("CONSTRAINT fk_warning_ledger_task_id_tasks FOREIGN KEY(task_id) REFERENCES tasks (id) ON DELETE CASCADE, "
          if with_fk else "")
    op.execute(f"""
        CREATE TABLE warning_ledger_0010 (
            id INTEGER NOT NULL, task_id INTEGER NOT NULL, level INTEGER NOT NULL,
            window_start DATETIME NOT NULL, window_end DATETIME NOT NULL, cycle INTEGER DEFAULT 0 NOT NULL,
            repeat_no INTEGER NOT NULL, sent_at DATETIME NOT NULL, run_id INTEGER NOT NULL,
            CONSTRAINT pk_warning_ledger PRIMARY KEY (id), {fk}
            CONSTRAINT uq_warning_ledger_task_id_cycle_level_repeat_no UNIQUE (task_id, cycle, level, repeat_no))""")
    columns = "id, task_id, level, window_start, window_end, cycle, repeat_no, sent_at, run_id"
    source = "warning_ledger" if not with_fk else "warning_ledger WHERE task_id IN (SELECT id FROM tasks)"
    op.execute(f"INSERT INTO warning_ledger_0010 ({columns}) SELECT {columns} FROM {source}")
    op.execute("DROP TABLE warning_ledger")
    op.execute("ALTER TABLE warning_ledger_0010 RENAME TO warning_ledger")
    op.execute("CREATE INDEX ix_warning_ledger_run_id ON warning_ledger (run_id)")
    op.execute("CREATE INDEX ix_warning_ledger_sent_at_level ON warning_ledger (sent_at, level)")


def upgrade() -> None:
    _create_state_tables()
    op.execute(sa.text("INSERT INTO task_tables_origin (id, created_by_taskconsole, recorded_at) "
                       "VALUES (1, :yes, CURRENT_TIMESTAMP)").bindparams(yes=True))
    state = ", ".join(STATE_COLUMNS)
    op.execute(f"INSERT INTO task_state (task_id, {state}) SELECT id, {state} FROM tasks "
               f"WHERE {' OR '.join(f'{c} IS NOT NULL' for c in STATE_COLUMNS)}")
    _drop_old_watch_triggers()
    for table, names in OLD_INDEXES.items():
        for name in names + (PG_ONLY_INDEXES if table == "tasks" and _pg() else ()):
            op.execute(f"DROP INDEX IF EXISTS {name}")
    for column in STATE_COLUMNS:  # SQLite 3.35 and later drop a column in place
        op.execute(f"ALTER TABLE tasks DROP COLUMN {column}")
    if _pg():
        op.execute(f"ALTER TABLE warning_ledger DROP CONSTRAINT IF EXISTS {LEDGER_FK}")
    else:
        _sqlite_rebuild_ledger(with_fk=False)


# -- downgrade: the columns, indexes, key and triggers of 0009 -----------------------------------------

def _revision(number: str):
    """An earlier revision's module, for the statements it wrote (they are frozen there)."""
    path = next(Path(__file__).parent.glob(f"{number}_*.py"))
    spec = importlib.util.spec_from_file_location(f"taskconsole_revision_{number}", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _old_indexes() -> None:
    """0001 to 0005's indexes on the task tables, as they made them."""
    processing = sa.text("status = 'processing'")
    finished = sa.text("category = 'periodic' AND status IN ('completed', 'closed')")
    r2, r4, r5 = _revision("0002"), _revision("0004"), _revision("0005")
    op.create_index("ix_tasks_processing_window", "tasks", ["expected_end_time", "expected_start_time", "id"],
                    postgresql_where=processing, sqlite_where=processing)
    op.create_index("ix_tasks_periodic_finished", "tasks", ["actual_end_time"],
                    postgresql_where=finished, sqlite_where=finished)
    closed = sa.text("status = 'closed'")
    op.create_index("ix_tasks_closed_updated", "tasks", ["updated_at"], postgresql_where=closed, sqlite_where=closed)
    op.create_index("ix_tasks_current_handler_id", "tasks", ["current_handler_id"])
    op.create_index("ix_tasks_last_reset_run_id", "tasks", ["last_reset_run_id"])
    ruled = sa.text(r2.FINISHED_PERIODIC)
    op.create_index("ix_tasks_rule_due", "tasks", ["next_reset_at"], postgresql_where=ruled, sqlite_where=ruled)
    unplanned = sa.text(f"{r2.FINISHED_PERIODIC} AND (reset_planned_from IS NULL OR reset_planned_from <> actual_end_time)")
    op.create_index("ix_tasks_rule_unplanned", "tasks", ["id"], postgresql_where=unplanned, sqlite_where=unplanned)
    invalid = sa.text("recurrence_error IS NOT NULL")
    op.create_index("ix_tasks_rule_invalid", "tasks", ["id"], postgresql_where=invalid, sqlite_where=invalid)
    bad, no_handler = sa.text(r4.BAD), sa.text(r4.NO_HANDLER)
    op.create_index("ix_tasks_processing_bad", "tasks", ["id"], postgresql_where=bad, sqlite_where=bad)
    op.create_index("ix_tasks_processing_no_handler", "tasks", ["id"], postgresql_where=no_handler,
                    sqlite_where=no_handler)
    op.create_index("ix_notifications_task_id", "notifications", ["task_id"])
    read = sa.text("is_read")
    op.create_index("ix_notifications_read_created", "notifications", ["created_at"], postgresql_where=read,
                    sqlite_where=read)
    admin = sa.text("is_admin")
    op.create_index("ix_users_admin", "users", ["id"], postgresql_where=admin, sqlite_where=admin)
    if _pg():
        op.execute(f"CREATE INDEX ix_tasks_warn_from ON tasks {r5.WARN_FROM} WHERE {r5.PROCESSING}")


def _old_watch() -> None:
    """warning_watch and its triggers as 0007 made them and 0008 changed them (the rows are derived)."""
    r7, r8 = _revision("0007"), _revision("0008")
    op.execute("DROP TABLE warning_watch")
    if _pg():
        r7._postgresql()
        op.execute("ALTER TABLE warning_watch ADD COLUMN cycle bigint NOT NULL DEFAULT 0")
        r8._fill_watch(by_cycle=True)
        r8._postgresql_triggers(by_cycle=True)
    else:
        r7._sqlite()
        r8._sqlite_drop_triggers()
        op.execute("ALTER TABLE warning_watch ADD COLUMN cycle INTEGER NOT NULL DEFAULT 0")
        r8._fill_watch(by_cycle=True)
        r8._sqlite_create_triggers(by_cycle=True)


def downgrade() -> None:
    bind = op.get_bind()
    owned = bind.execute(sa.text("SELECT created_by_taskconsole FROM task_tables_origin WHERE id = 1")).scalar()
    if not owned:
        raise RuntimeError("the task tables are the task system's: taskconsole never altered them, and a "
                           "downgrade below 0010 would; drop taskconsole's own tables instead")
    from console.db.tuning import remove_everything  # db tune's triggers and indexes go first

    for statement in remove_everything(bind):
        op.execute(statement)
    op.add_column("tasks", sa.Column("last_reset_run_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite")))
    op.add_column("tasks", sa.Column("next_reset_at", console.db.column_types.UTCDateTime(timezone=True)))
    op.add_column("tasks", sa.Column("reset_planned_from", console.db.column_types.UTCDateTime(timezone=True)))
    op.add_column("tasks", sa.Column("recurrence_error", sa.Text()))
    sets = ", ".join(f"{c} = (SELECT s.{c} FROM task_state s WHERE s.task_id = tasks.id)" for c in STATE_COLUMNS)
    op.execute(f"UPDATE tasks SET {sets} WHERE id IN (SELECT task_id FROM task_state)")
    _old_indexes()
    if _pg():
        op.execute("DELETE FROM warning_ledger w WHERE NOT EXISTS (SELECT 1 FROM tasks t WHERE t.id = w.task_id)")
        op.execute(f"ALTER TABLE warning_ledger ADD CONSTRAINT {LEDGER_FK} FOREIGN KEY (task_id) "
                   "REFERENCES tasks (id) ON DELETE CASCADE")
    else:
        _sqlite_rebuild_ledger(with_fk=True)
    _old_watch()
    op.drop_table("task_tables_origin")
    op.drop_index("ix_task_state_invalid", "task_state")
    op.drop_index("ix_task_state_due", "task_state")
    op.drop_index("ix_task_state_last_reset_run_id", "task_state")
    op.drop_table("task_state")
