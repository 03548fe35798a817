"""Running migrations beside live nodes: a lock timeout for ``db upgrade``, and ``db downgrade``
that says what each step drops before it drops anything.

``db upgrade`` takes locks on taskconsole's tables; a long job holding one would stall it, and
every statement queued behind the upgrade's lock would stall with it (a job, the console). So on
PostgreSQL each try runs with ``lock_timeout``: a try that cannot get its locks gives up at once,
says which sessions hold them, and is tried again; the schema is untouched until a try commits.

``db downgrade REVISION`` first runs the steps down in a transaction it rolls back (PostgreSQL and
SQLite both roll back DDL), comparing the tables and columns before and after each step, with the
rows each dropped one held: that is the plan it prints. A step that refuses (migration 0010 on a
task system's own tables) is named with its reason before anything is touched. ``--yes`` then runs
it for real.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Callable

from sqlalchemy import Connection, Engine, inspect, text
from sqlalchemy.exc import DBAPIError

from console.db.engine import describe_error

# Each try of `db upgrade` waits at most this long for one lock; then it is tried again.
LOCK_TIMEOUT = "5s"
UPGRADE_TRIES = 12
RETRY_PAUSE_S = 5.0


class DowngradeRefused(Exception):
    """A downgrade that cannot be done here (the message says why); nothing was changed."""


@dataclass(frozen=True)
class Step:
    """One revision down: what it drops (table -> rows it held; (table, column) -> values it held)."""

    from_revision: str
    to_revision: str
    tables: dict[str, int] = field(default_factory=dict)
    columns: dict[tuple[str, str], int] = field(default_factory=dict)
    refused: str | None = None


def with_lock_timeout(engine: Engine, attempt: Callable[[Connection], None],
                      say: Callable[[str], None] = lambda line: None) -> None:
    """``attempt(conn)`` in a transaction; on PostgreSQL with a lock timeout, tried again (saying
    what it waits for) while another session holds a lock it needs."""
    pg = engine.dialect.name == "postgresql"
    tries = UPGRADE_TRIES
    for n in range(1, tries + 1):
        try:
            with engine.begin() as conn:
                if pg:
                    conn.exec_driver_sql(f"SET LOCAL lock_timeout = '{LOCK_TIMEOUT}'")
                attempt(conn)
            return
        except DBAPIError as exc:
            if not (pg and getattr(exc.orig, "pgcode", None) == "55P03") or n == tries:
                raise
            say(f"waiting for locks on taskconsole's tables (try {n} of {tries}): {holders(engine)}")
            time.sleep(RETRY_PAUSE_S)


def holders(engine: Engine) -> str:
    """Who holds locks on taskconsole's tables now (PostgreSQL): pid, application, what it runs."""
    with engine.connect() as conn:
        rows = conn.execute(text(
            "SELECT DISTINCT a.pid, a.application_name, a.state, left(a.query, 80) AS query FROM pg_locks l "
            "JOIN pg_stat_activity a ON a.pid = l.pid JOIN pg_class c ON c.oid = l.relation "
            "WHERE l.granted AND a.pid <> pg_backend_pid() AND c.relnamespace = current_schema()::regnamespace "
            "AND c.relname IN ('job_runs', 'warning_ledger', 'task_state', 'scheduler_nodes', 'scheduler_commands', "
            "'apscheduler_jobs', 'audit_log', 'alembic_version', 'job_run_logs', 'api_tokens') LIMIT 5")).all()
    if not rows:
        return "a session that has let go since"
    return "; ".join(f"pid {r.pid} ({r.application_name or 'no name'}, {r.state}: {' '.join((r.query or '').split())})"
                     for r in rows)


def plan_downgrade(engine: Engine, config, target: str, steps: list[tuple[str, str]]) -> list[Step]:
    """Each step down to ``target``, run in a transaction that is rolled back: what it drops."""
    from alembic import command

    found: list[Step] = []
    with engine.connect() as conn:
        trans = conn.begin()
        try:
            if engine.dialect.name == "postgresql":
                # The rehearsal takes the same locks as the real thing: it must not wait behind a
                # running job (and hold every reader behind it) for long.
                conn.exec_driver_sql(f"SET LOCAL lock_timeout = '{LOCK_TIMEOUT}'")
            for above, below in steps:
                before = _shape(conn)
                config.attributes["connection"] = conn
                savepoint = conn.begin_nested()
                try:
                    command.downgrade(config, below)
                except Exception as exc:  # noqa: BLE001 - a step that refuses: said before anything is done
                    savepoint.rollback()
                    if getattr(getattr(exc, "orig", None), "pgcode", None) == "55P03":
                        raise DowngradeRefused(f"another session holds a lock the downgrade needs: {holders(engine)}; "
                                               "stop the nodes of the newer release first; nothing was changed") from None
                    found.append(Step(above, below, refused=_reason(exc, engine)))
                    break
                savepoint.commit()
                after = _shape(conn)
                gone_tables = sorted(set(before) - set(after))
                gone_columns = sorted((t, c) for t in after if t in before for c in before[t] - after[t])
                found.append(Step(above, below, tables={t: 0 for t in gone_tables},
                                  columns={k: 0 for k in gone_columns}))
        finally:
            trans.rollback()
    # The rows a dropped table or column held, read again outside the rolled-back transaction.
    with engine.connect() as conn:
        return [Step(s.from_revision, s.to_revision, {t: _rows(conn, t) for t in s.tables},
                     {(t, c): _values(conn, t, c) for t, c in s.columns}, s.refused) for s in found]


def _shape(conn: Connection) -> dict[str, set[str]]:
    inspector = inspect(conn)
    return {t: {c["name"] for c in inspector.get_columns(t)} for t in inspector.get_table_names()}


def _rows(conn: Connection, table: str) -> int:
    q = conn.dialect.identifier_preparer.quote
    try:
        return int(conn.execute(text(f"SELECT count(*) FROM {q(table)}")).scalar_one())
    except Exception:  # noqa: BLE001 - a table a later step makes: nothing in it yet
        return 0


def _values(conn: Connection, table: str, column: str) -> int:
    q = conn.dialect.identifier_preparer.quote
    try:
        return int(conn.execute(text(f"SELECT count(*) FROM {q(table)} WHERE {q(column)} IS NOT NULL")).scalar_one())
    except Exception:  # noqa: BLE001
        return 0


def _reason(exc: Exception, engine: Engine) -> str:
    return str(exc) if isinstance(exc, RuntimeError) else describe_error(exc, engine.url)
