"""``taskconsole db tune`` / ``db untune``: the opt-in changes to the task system's tables.

A thin door for the faces onto ``console.db.tuning``: what each change is, whether it is there,
what it costs the task system, and making or removing it. Needs taskconsole's schema (what tune
makes is recorded in its tune_objects table).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

from sqlalchemy.exc import SQLAlchemyError

from console.db import schema, tuning
from console.db.engine import DatabaseError, describe_error, make_engine
from console.db.task_tables import tables_for
from console.settings import Settings, SettingsError, redact_url

TuneRefused = tuning.TuneRefused


@dataclass(frozen=True)
class PlannedChange:
    name: str
    what: str
    cost: str
    statements: list[str]
    present: bool
    refused: str | None = None  # why it cannot be made here


def plan(settings: Settings, *, undo: bool = False) -> list[PlannedChange]:
    """Every change tune makes (or untune removes), each with whether it is there now."""
    engine = _engine(settings)
    try:
        with engine.connect() as conn:
            if undo:
                found = tuning.removals(conn, _mapped(engine, settings))
            else:
                found = tuning.changes(conn, tables_for(engine, settings), settings.warnings.levels)
            return [PlannedChange(c.name, c.what, c.cost, c.undo if undo else c.apply, c.present(conn), c.refused)
                    for c in found]
    except SQLAlchemyError as exc:
        raise _unreadable(settings, exc) from None
    finally:
        engine.dispose()


def apply(settings: Settings, *, undo: bool = False,
          progress: Callable[[str], None] = lambda name: None) -> list[str]:
    """Make (remove) every change not yet made (not yet removed); returns their names."""
    engine = _engine(settings)
    try:
        t = _mapped(engine, settings) if undo else tables_for(engine, settings)
        done = tuning.apply(engine, t, undo=undo, progress=lambda c: progress(c.name),
                            levels=settings.warnings.levels)
        return [c.name for c in done]
    except SQLAlchemyError as exc:
        raise _unreadable(settings, exc) from None
    finally:
        engine.dispose()


def _mapped(engine, settings: Settings):
    """The mapped tables, or None where the mapping no longer fits the database: untune then
    removes what tune recorded, which needs no mapping."""
    try:
        return tables_for(engine, settings)
    except (SQLAlchemyError, SettingsError, KeyError, LookupError):
        return None


def _engine(settings: Settings):
    schema.require_database(settings.database.url)
    engine = make_engine(settings.database.url, pool_size=2)
    schema.check(engine)
    return engine


def _unreadable(settings: Settings, exc: Exception) -> DatabaseError:
    return DatabaseError(f"cannot tune the database {redact_url(settings.database.url)}: "
                         f"{describe_error(exc, settings.database.url)}")
