"""``taskconsole db check``: the settings' ``task_system`` mapping against the live database.

A thin door for the faces onto ``console.db.mapping_check``. It needs none of taskconsole's own
tables (it is what an operator runs first on the task system's database), never creates a
SQLite file, and writes nothing.
"""

from __future__ import annotations

from sqlalchemy.exc import SQLAlchemyError

from console.db import schema
from console.db.engine import DatabaseError, describe_error, make_engine
from console.db.mapping_check import MappingCheck, check_mapping
from console.settings import Settings, redact_url


def check_database(settings: Settings) -> MappingCheck:
    """The mapping compared with the database of ``settings``. Raises SchemaError for a SQLite
    file that does not exist, DatabaseError when the database cannot be read."""
    schema.require_database(settings.database.url)
    engine = make_engine(settings.database.url, pool_size=1)
    try:
        return check_mapping(engine, settings)
    except SQLAlchemyError as exc:  # down, refused us, no right to read: one line, without the password
        raise DatabaseError(f"cannot check the database {redact_url(settings.database.url)}: "
                            f"{describe_error(exc, settings.database.url)}") from None
    finally:
        engine.dispose()
