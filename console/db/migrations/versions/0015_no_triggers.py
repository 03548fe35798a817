"""No trigger or function of taskconsole's on the task system's tables; warning_watch goes.

Until now ``db tune`` (and, on taskconsole's own task tables, migrations 0007 to 0009) put
PL/pgSQL (or SQLite) triggers on ``tasks`` to keep ``warning_watch`` in step with it. They cost
the task system's own writes (a single-row update 1.24 times as long), and once a column they
read was renamed (``ALTER TABLE tasks RENAME progress TO pct``) every UPDATE and INSERT of the task
system failed. The warning panels now read the tasks through ``db tune``'s indexes instead.

This revision drops, in the current schema, on any table:

- every trigger whose name has the exact shape tune gave (``taskconsole_watch_<6 hex>_<event>``)
  or 0007/0008 gave (``tasks_warning_watch_<event>``), and
- every trigger function without arguments whose name has the exact shape tune gave
  (``taskconsole_watch_<6 hex>_<kind>``) or 0007/0008 gave (``warning_watch_<kind>``),

each name read from the catalog, matched against a strict pattern, and quoted by the dialect, one
statement per execute: an object of anybody else's (another name, another schema) is never touched.
Their records in ``tune_objects`` go too, and then ``warning_watch`` itself.

The warning ledger's windows are the task's true instants from now on, whatever the task system's
clock. The rows written so far may hold a naive local window read as UTC; this revision cannot tell
(the mapping is in the settings, which a migration does not read), so it marks them in
``ledger_window_repair`` (the ledger's highest id), and the first warning check repairs those whose
task still has the same window, and deletes the mark (console.jobs.ledger_windows).

Downgrade drops the mark and creates ``warning_watch`` again, empty, as 0014 had it: at 0014, ``db tune --apply``
finds its triggers missing and makes them, filling the table in the same transaction (on a
database whose task tables taskconsole created, ``db upgrade`` did that by itself; after a
downgrade run ``db tune --apply``). Until then the 0014 panels read the tasks table.

Revision ID: 0015
Revises: 0014
"""

import re

import sqlalchemy as sa
from alembic import op

revision = "0015"
down_revision = "0014"
branch_labels = None
depends_on = None

# The names db tune (before this revision) and migrations 0007-0009 gave; frozen here.
TRIGGER_NAME = re.compile(r"taskconsole_watch_[0-9a-f]{6}_(insert|delete|truncate|update|progress|state|"
                          r"state_insert|state_update)|tasks_warning_watch_(insert|delete|truncate|update|progress)")
FUNCTION_NAME = re.compile(r"taskconsole_watch_[0-9a-f]{6}_(inserted|deleted|truncated|updated|restamped)"
                           r"|warning_watch_(inserted|deleted|truncated|updated)")
# 0007's expression index on warning_watch (the 80 % instant), for the downgrade.
WATCH_FROM = "(start_s + (end_s - start_s) * 0.8)"


def _legacy(bind) -> tuple[list[tuple[str, str]], list[str]]:
    """(trigger, table) pairs and function names of the shapes above, in the current schema."""
    if bind.dialect.name == "postgresql":
        triggers = bind.execute(sa.text(
            "SELECT t.tgname, c.relname FROM pg_trigger t JOIN pg_class c ON c.oid = t.tgrelid "
            "WHERE NOT t.tgisinternal AND c.relnamespace = current_schema()::regnamespace "
            "AND (t.tgname LIKE 'taskconsole\\_watch\\_%' OR t.tgname LIKE 'tasks\\_warning\\_watch\\_%')")).all()
        functions = bind.execute(sa.text(
            "SELECT proname FROM pg_proc WHERE pronamespace = current_schema()::regnamespace AND pronargs = 0 "
            "AND prorettype = 'trigger'::regtype "
            "AND (proname LIKE 'taskconsole\\_watch\\_%' OR proname LIKE 'warning\\_watch\\_%')")).scalars().all()
    else:
        triggers = bind.execute(sa.text(
            "SELECT name, tbl_name FROM sqlite_master WHERE type = 'trigger' "
            "AND (name LIKE 'taskconsole\\_watch\\_%' ESCAPE '\\' "
            "OR name LIKE 'tasks\\_warning\\_watch\\_%' ESCAPE '\\')")).all()
        functions = []
    return ([(name, table) for name, table in triggers if TRIGGER_NAME.fullmatch(name)],
            [name for name in functions if FUNCTION_NAME.fullmatch(name)])


def upgrade() -> None:
    bind = op.get_bind()
    pg = bind.dialect.name == "postgresql"
    q = bind.dialect.identifier_preparer.quote
    triggers, functions = _legacy(bind)
    for name, table in triggers:  # before the functions they execute
        bind.exec_driver_sql(f"DROP TRIGGER IF EXISTS {q(name)}" + (f" ON {q(table)}" if pg else ""))
    for name in functions:
        bind.exec_driver_sql(f"DROP FUNCTION IF EXISTS {q(name)}()")
    bind.execute(sa.text("DELETE FROM tune_objects WHERE kind IN ('trigger', 'function')"))
    op.execute("DROP TABLE IF EXISTS warning_watch")
    op.create_table("ledger_window_repair",
                    sa.Column("id", sa.Integer(), autoincrement=False, nullable=False),
                    sa.Column("below_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
                    sa.PrimaryKeyConstraint("id", name="pk_ledger_window_repair"))
    op.execute("INSERT INTO ledger_window_repair (id, below_id) SELECT 1, max(id) FROM warning_ledger "
               "HAVING count(*) > 0")


def downgrade() -> None:
    op.drop_table("ledger_window_repair")
    big = "bigint" if op.get_bind().dialect.name == "postgresql" else "INTEGER"
    op.execute(f"""
        CREATE TABLE warning_watch (
            task_id {big} NOT NULL, start_s FLOAT NOT NULL, end_s FLOAT NOT NULL, progress FLOAT NOT NULL,
            warned_level INTEGER, cycle {big} NOT NULL DEFAULT 0,
            CONSTRAINT pk_warning_watch PRIMARY KEY (task_id))""")
    if op.get_bind().dialect.name == "postgresql":
        op.execute("ALTER TABLE warning_watch SET (autovacuum_vacuum_scale_factor = 0.01, "
                   "autovacuum_vacuum_insert_scale_factor = 0.01, autovacuum_analyze_scale_factor = 0.05)")
        op.execute(f"CREATE INDEX ix_warning_watch_from ON warning_watch ({WATCH_FROM}) "
                   "INCLUDE (start_s, end_s, progress, warned_level)")
    else:
        op.execute(f"CREATE INDEX ix_warning_watch_from ON warning_watch ({WATCH_FROM}, start_s, end_s, "
                   "progress, warned_level)")
