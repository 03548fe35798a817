"""Creating, upgrading and checking the schema through Alembic.

Every command that touches data first checks that the database holds the schema this code
expects: none (say to run ``db upgrade``), older (the same), or newer (refuse to run); and that
the settings' notification types fit the live ``notifications.type`` column.
"""

from __future__ import annotations

import re
from pathlib import Path

from sqlalchemy import Connection, Engine, inspect, text
from sqlalchemy.engine import URL

from console.db.engine import DatabaseUnreachable, describe_error, sqlite_file_missing
from console.domain.text import printable
from console.settings import Settings, SettingsError

MIGRATIONS = Path(__file__).with_name("migrations")
# The newest migration. Every command checks the schema, and reading the revision with plain SQL
# against this constant spares them Alembic's import (a quarter of a second); a test keeps it
# equal to Alembic's head.
HEAD = "0009"
# Revisions this code knows; a database at any other revision is newer than the code.
KNOWN = ("0001", "0002", "0003", "0004", "0005", "0006", "0007", "0008", "0009")


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


def upgrade(engine: Engine) -> tuple[str | None, str]:
    """Bring the schema to the newest revision; returns (before, after)."""
    from alembic import command

    before = current_revision(engine)
    if before is not None and before not in KNOWN:
        raise SchemaError(f"the database schema (revision {before}) is newer than this taskconsole; upgrade taskconsole")
    cfg = _config()
    with engine.begin() as conn:
        cfg.attributes["connection"] = conn
        command.upgrade(cfg, "head")
    return before, head_revision()


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
    current = current_revision(engine)
    head = HEAD
    if current == head:
        return
    if current is None:
        raise SchemaError("the database has no taskconsole schema yet; run `taskconsole db upgrade`")
    if current not in KNOWN:
        raise SchemaError(
            f"the database schema (revision {current}) is newer than this taskconsole ({head}); "
            "upgrade taskconsole before running it"
        )
    raise SchemaError(f"the database schema is older ({current}) than this taskconsole ({head}); run `taskconsole db upgrade`")


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
            "THEN atttypmod - 4 END FROM pg_attribute WHERE attrelid = to_regclass(:t) AND attnum > 0 "
            "AND NOT attisdropped"), {"t": table}).all()
    else:
        rows = [(r[1], _declared_width(r[2])) for r in conn.exec_driver_sql(f'PRAGMA table_info("{table}")')]
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
    with engine.connect() as conn:
        width = text_widths(conn, "notifications", ("type",))["type"]
    misfits = notification_type_misfits(settings, width)
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
