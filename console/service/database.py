"""The database as the command line manages it: open for a command, upgrade, load the demo.

The command line reaches ``console.db`` only through here (and ``db_check``, ``db_tuning``).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

from console.db import schema
from console.db.demo import DemoResult, existing_tasks, load_demo, vocabulary_yaml
from console.db.engine import DatabaseError, describe_error, make_engine
from console.db.migrate import DowngradeRefused
from console.service.facade import Service, open_service
from console.settings import Settings, SettingsError, redact_url

__all__ = ["DemoOutcome", "DowngradeRefused", "demo", "downgrade", "open_for_command", "require_database", "upgrade",
           "vocabulary_yaml"]


def open_for_command(settings: Settings, *, extra_connections: int = 0) -> Service:
    """The service for a command that opens the database (the console and `run` too): the schema
    checked, and the settings' notification types checked against the live columns.
    ``extra_connections``: for the HTTP API's threads, where the command serves it."""
    try:
        service = open_service(settings, extra_connections=extra_connections)
        schema.check_notification_types(service.engine, settings)  # SettingsError: exit 2, naming the key
        return service
    except (DatabaseError, schema.SchemaError, SettingsError):
        raise
    except Exception as exc:  # noqa: BLE001 - a driver error while connecting
        raise DatabaseError(f"cannot open the database {redact_url(settings.database.url)}: "
                            f"{describe_error(exc, settings.database.url)}") from None


def require_database(url: str) -> None:
    """A SQLite file that is not there is bad input (exit 2), not an outage."""
    schema.require_database(url)


def upgrade(settings: Settings, progress: Callable[[str], None] | None = None) -> tuple[str | None, str]:
    """Bring the schema to head; (revision before, revision after)."""
    engine = make_engine(settings.database.url)
    try:
        return schema.upgrade(engine, settings, progress=progress)
    finally:
        engine.dispose()


def downgrade(settings: Settings, target: str, *, apply: bool,
              progress: Callable[[str], None] = lambda line: None) -> list:
    """The steps down to ``target`` with what each drops (``apply``: and take them)."""
    schema.require_database(settings.database.url)
    engine = make_engine(settings.database.url)
    try:
        return schema.downgrade(engine, target, progress) if apply else schema.downgrade_plan(engine, target)
    finally:
        engine.dispose()


@dataclass(frozen=True)
class DemoOutcome:
    existing: int  # tasks there before; nothing was loaded when > 0 and not replacing
    loaded: DemoResult | None


def demo(settings: Settings, tasks: int, *, replace: bool, vocabulary: str,
         progress: Callable[[int, int], None] | None = None) -> DemoOutcome:
    """Upgrade the schema and load the demo, unless tasks are there already (and not ``replace``)."""
    engine = make_engine(settings.database.url)
    try:
        schema.upgrade(engine, settings)
        existing = existing_tasks(engine)
        if existing and not replace:
            return DemoOutcome(existing, None)
        return DemoOutcome(existing, load_demo(engine, tasks, replace=replace, progress=progress,
                                               vocabulary=vocabulary))
    finally:
        engine.dispose()
