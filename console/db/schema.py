"""Creating, upgrading and checking the schema through Alembic.

Every command that touches data first checks that the database holds the schema this code
expects: none (say to run ``db upgrade``), older (the same), or newer (refuse to run).
"""

from __future__ import annotations

from pathlib import Path

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import Engine

from console.db.engine import DatabaseError, describe_error

MIGRATIONS = Path(__file__).with_name("migrations")


class SchemaError(Exception):
    """The database's schema does not fit this code; the message says what to do."""


def _config() -> Config:
    cfg = Config()
    cfg.set_main_option("script_location", str(MIGRATIONS))
    return cfg


def head_revision() -> str:
    head = ScriptDirectory.from_config(_config()).get_current_head()
    assert head is not None
    return head


def current_revision(engine: Engine) -> str | None:
    try:
        with engine.connect() as conn:
            return MigrationContext.configure(conn).get_current_revision()
    except Exception as exc:  # noqa: BLE001 - any driver error means "cannot reach the database"
        raise DatabaseError(f"cannot open the database: {describe_error(exc, str(engine.url))}") from None


def upgrade(engine: Engine) -> tuple[str | None, str]:
    """Bring the schema to the newest revision; returns (before, after)."""
    before = current_revision(engine)
    script = ScriptDirectory.from_config(_config())
    if before is not None and script.get_revision(before) is None:
        raise SchemaError(f"the database schema (revision {before}) is newer than this taskconsole; upgrade taskconsole")
    cfg = _config()
    with engine.begin() as conn:
        cfg.attributes["connection"] = conn
        command.upgrade(cfg, "head")
    return before, head_revision()


def check(engine: Engine) -> None:
    """Raise SchemaError unless the schema is exactly the one this code was written for."""
    current = current_revision(engine)
    head = head_revision()
    if current == head:
        return
    if current is None:
        raise SchemaError("the database has no taskconsole schema yet; run `taskconsole db upgrade`")
    if ScriptDirectory.from_config(_config()).get_revision(current) is None:
        raise SchemaError(
            f"the database schema (revision {current}) is newer than this taskconsole ({head}); "
            "upgrade taskconsole before running it"
        )
    raise SchemaError(f"the database schema is older ({current}) than this taskconsole ({head}); run `taskconsole db upgrade`")
