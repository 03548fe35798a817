"""Creating, upgrading and checking the schema through Alembic.

Every command that touches data first checks that the database holds the schema this code
expects: none (say to run ``db upgrade``), older (the same), or newer (refuse to run); and that
the settings' notification types fit the live ``notifications.type`` column.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Callable

from sqlalchemy import Connection, Engine, inspect, text
from sqlalchemy.engine import URL

from console.db.engine import DatabaseUnreachable, describe_error, sqlite_file_missing
from console.db import tuning
from console.db.migrate import with_lock_timeout
from console.db.task_tables import forget_live_tables, tables_for
from console.domain.text import printable
from console.settings import Settings, SettingsError

MIGRATIONS = Path(__file__).with_name("migrations")
# The newest migration. Every command checks the schema, and reading the revision with plain SQL
# against this constant spares them Alembic's import (a quarter of a second); a test keeps it
# equal to Alembic's head.
HEAD = "0018"
# Revisions this code knows; a database at any other revision is newer than the code.
KNOWN = ("0001", "0002", "0003", "0004", "0005", "0006", "0007", "0008", "0009", "0010", "0011", "0012", "0013", "0014", "0015", "0016", "0017", "0018")
TASK_TABLES = ("tasks", "users", "notifications")


class SchemaError(Exception):
    """The database's schema does not fit this code; the message says what to do."""


def _config():
    from alembic.config import Config

    cfg = Config()
    cfg.set_main_option("script_location", str(MIGRATIONS))
    return cfg


def head_revision() -> str:
    """Alembic's own view of the newest revision."""
    from alembic.script import ScriptDirectory

    head = ScriptDirectory.from_config(_config()).get_current_head()
    assert head is not None
    return head


def current_revision(engine: Engine) -> str | None:
    try:
        with engine.connect() as conn:
            if not inspect(conn).has_table("alembic_version"):
                return None
            return conn.execute(text("SELECT version_num FROM alembic_version")).scalar()
    except Exception as exc:  # noqa: BLE001 - any driver error means "cannot reach the database"
        raise DatabaseUnreachable(f"cannot open the database: {describe_error(exc, engine.url)}") from None


def upgrade(engine: Engine, settings: Settings | None = None,
            progress: Callable[[str], None] = lambda line: None) -> tuple[str | None, str]:
    """Bring taskconsole's schema to the newest revision; returns (before, after).

    The task system's three tables (named by ``settings.task_system``) are created only where none
    of them exists; where all three do, they are adopted as they are: taskconsole's own tables are
    created beside them and nothing of theirs is altered. Where taskconsole created them, an upgrade
    to a new revision applies ``db tune``'s changes to them too (``progress`` hears of each)."""
    from alembic import command

    settings = settings or Settings()
    before = current_revision(engine)
    if before is not None and before not in KNOWN:
        raise SchemaError(f"the database schema (revision {before}) is newer than this taskconsole; upgrade taskconsole")
    cfg = _config()
    adopt = before is None and _task_tables_present(engine, settings)

    def attempt(conn: Connection) -> None:
        cfg.attributes["connection"] = conn
        if adopt:
            _create_own_tables(conn)
            command.stamp(cfg, "head")
        else:
            command.upgrade(cfg, "head")

    # A lock timeout on PostgreSQL: a long job's lock makes a try give up and come again (saying
    # who holds it), rather than the upgrade stalling and every statement behind it too.
    with_lock_timeout(engine, attempt, say=progress)
    forget_live_tables()
    # Only on the way up (a fresh schema, or a new revision): an operator's `db untune` stays.
    if before != HEAD and owns_task_tables(engine):
        tuning.apply(engine, tables_for(engine, settings), levels=settings.warnings.levels,
                     progress=lambda change: progress(f"tuning the task tables taskconsole created: {change.name}"))
    return before, head_revision()


def _task_tables_present(engine: Engine, settings: Settings) -> bool:
    """Whether the task system's tables are there already (all three), or none is (False); refuses
    a database with some of them, and a mapping that renames tables nobody has created."""
    names = {t: getattr(settings.task_system.tables, t) for t in TASK_TABLES}
    with engine.connect() as conn:
        inspector = inspect(conn)
        found = {t: inspector.has_table(name) for t, name in names.items()}
    if all(found.values()):
        return True
    missing = [printable(names[t]) for t in TASK_TABLES if not found[t]]
    if any(found.values()):
        raise SchemaError(f"the task system's table {', '.join(missing)} is missing (task_system.tables names "
                          f"{', '.join(printable(n) for n in names.values())}); check the mapping")
    if any(name != t for t, name in names.items()):
        raise SchemaError(f"the task system's tables {', '.join(missing)} do not exist; taskconsole creates them "
                          "only under their default names (tasks, users, notifications), for a new system; "
                          "check task_system.tables and database.url")
    return False


def _create_own_tables(conn: Connection) -> None:
    """taskconsole's own tables at the head revision, beside the task system's (which stay as they are)."""
    from console.db.models import Base

    own = [table for name, table in Base.metadata.tables.items() if name not in TASK_TABLES]
    Base.metadata.create_all(conn, tables=own)
    # What the migrations give the ledger beyond its columns (0007).
    if conn.dialect.name == "postgresql":
        conn.exec_driver_sql("ALTER TABLE warning_ledger SET (autovacuum_vacuum_insert_scale_factor = 0.01)")
    conn.execute(text("INSERT INTO task_tables_origin (id, created_by_taskconsole, recorded_at) "
                      "VALUES (1, :no, CURRENT_TIMESTAMP)"), {"no": False})


def owns_task_tables(engine: Engine) -> bool:
    """Whether taskconsole created the task system's tables (migration 0010's record)."""
    with engine.connect() as conn:
        if not inspect(conn).has_table("task_tables_origin"):
            return False
        return bool(conn.execute(text("SELECT created_by_taskconsole FROM task_tables_origin WHERE id = 1")).scalar())


def require_database(url: str | URL) -> None:
    """Raise SchemaError if ``url`` names a SQLite file that does not exist: a command that only
    reads says so rather than create an empty database where it was run."""
    missing = sqlite_file_missing(url)
    if missing is not None:
        raise SchemaError(f"the SQLite database {printable(missing)} does not exist; "
                          "run `taskconsole db upgrade` to create it (or check database.url)")


def check(engine: Engine) -> None:
    """Raise SchemaError unless the schema is exactly the one this code was written for (and,
    for SQLite, unless the file is there: checking must not create it)."""
    require_database(engine.url)
    problem = mismatch(current_revision(engine))
    if problem:
        raise SchemaError(problem)


def mismatch(current: str | None) -> str | None:
    """Why a database at revision ``current`` is not the one this code was written for (None: it is)."""
    if current == HEAD:
        return None
    if current is None:
        return "the database has no taskconsole schema yet; run `taskconsole db upgrade`"
    if current not in KNOWN:
        return (f"the database schema (revision {current}) is newer than this taskconsole ({HEAD}); "
                "upgrade taskconsole before running it")
    return f"the database schema is older ({current}) than this taskconsole ({HEAD}); run `taskconsole db upgrade`"


def text_widths(conn: Connection, table: str, columns: tuple[str, ...]) -> dict[str, int | None]:
    """The most characters each of ``columns`` of ``table`` holds in the live schema (None: no
    limit). A table of the task system's may be narrower than our model; a missing table or
    column falls back to the model. One catalog query, not SQLAlchemy's reflection (50 ms)."""
    from console.db.models import Base

    model = Base.metadata.tables.get(table)
    widths: dict[str, int | None] = {c: getattr(model.c[c].type, "length", None) if model is not None and c in model.c
                                     else None for c in columns}
    if conn.dialect.name == "postgresql":
        rows = conn.execute(text(
            "SELECT attname, CASE WHEN atttypid IN ('varchar'::regtype, 'bpchar'::regtype) AND atttypmod > 4 "
            "THEN atttypmod - 4 END FROM pg_attribute WHERE attrelid = to_regclass(quote_ident(:t)) AND attnum > 0 "
            "AND NOT attisdropped"), {"t": table}).all()
    else:
        rows = [(r[1], _declared_width(r[2])) for r in conn.exec_driver_sql(
            f"PRAGMA table_info({conn.dialect.identifier_preparer.quote(table)})")]
    for name, width in rows:
        if name in widths:
            widths[name] = width
    return widths


def _declared_width(declared: str) -> int | None:
    # SQLite keeps the declared type as text and enforces no width; the declaration still says
    # what the table's owner meant, and what PostgreSQL would enforce.
    found = re.fullmatch(r"\s*(?:N?VAR)?CHAR(?:ACTER)?(?:\s+VARYING)?\s*\(\s*(\d+)\s*\)\s*", declared or "", re.I)
    return int(found.group(1)) if found else None


def check_notification_types(engine: Engine, settings: Settings) -> None:
    """Refuse, naming the key, a notification type the live ``notifications.type`` column cannot
    hold: every notification the jobs write would fail, and with it every run. (Titles and
    contents are cut to fit where they are written instead: they are made from task data.)"""
    mapping = settings.task_system
    table, column = mapping.tables.notifications, mapping.columns.notifications.type
    with engine.connect() as conn:
        width = text_widths(conn, table, (column,))[column]
    misfits = notification_type_misfits(settings, width, f"{table}.{column}")
    if misfits:
        raise SettingsError(misfits[0])


def notification_type_misfits(settings: Settings, width: int | None, column: str = "notifications.type") -> list[str]:
    """One message, naming the settings key, per notification type longer than ``width``
    characters (None: no limit), the width of the database's ``column``. Shared by the check at
    every command's start and by ``db check``."""
    if width is None:
        return []
    misfits = []
    for name in ("reset", "warning", "job_failure"):
        value = getattr(settings.notifications, name).type
        if len(value) > width:
            misfits.append(f"notifications.{name}.type: {len(value)} characters, longer than the "
                           f"{width} the database's {column} column holds")
    return misfits


def downgrade_plan(engine: Engine, target: str) -> list:
    """Each step from the database's revision down to ``target`` (``console.db.migrate.Step``):
    what it drops, or why it refuses. Nothing is changed (the steps run in a transaction rolled back)."""
    from console.db.migrate import plan_downgrade

    current = current_revision(engine)
    if target not in KNOWN:
        raise SchemaError(f"unknown revision {printable(target)!r}; this taskconsole knows {KNOWN[0]} to {HEAD}")
    if current is None or current not in KNOWN:
        raise SchemaError(mismatch(current) or "the database's revision is not one this taskconsole knows")
    if KNOWN.index(target) >= KNOWN.index(current):
        raise SchemaError(f"the database is at revision {current}: {target} is not below it")
    steps = [(KNOWN[i], KNOWN[i - 1]) for i in range(KNOWN.index(current), KNOWN.index(target), -1)]
    return plan_downgrade(engine, _config(), target, steps)


def downgrade(engine: Engine, target: str, progress: Callable[[str], None] = lambda line: None) -> list:
    """Down to ``target``, after a plan shows no step refusing (DowngradeRefused, nothing changed)."""
    from alembic import command

    from console.db.migrate import DowngradeRefused

    plan = downgrade_plan(engine, target)
    refused = next((s for s in plan if s.refused), None)
    if refused is not None:
        raise DowngradeRefused(f"the step from {refused.from_revision} to {refused.to_revision} refuses: "
                               f"{refused.refused}; nothing was changed")
    cfg = _config()

    def attempt(conn: Connection) -> None:
        cfg.attributes["connection"] = conn
        command.downgrade(cfg, target)

    with_lock_timeout(engine, attempt, say=progress)
    forget_live_tables()
    return plan
