"""Creating, upgrading and checking the schema through Alembic.

Every command that touches data first checks that the database holds the schema this code
expects: none (say to run ``db upgrade``), older (the same), or newer (refuse to run).
"""

from __future__ import annotations

from pathlib import Path

from sqlalchemy import Engine, inspect, text

from console.db.engine import DatabaseUnreachable, describe_error

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


def check(engine: Engine) -> None:
    """Raise SchemaError unless the schema is exactly the one this code was written for."""
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
