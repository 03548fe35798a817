"""Engines for SQLite (embedded default) and PostgreSQL, and safe descriptions of their errors.

SQLite: WAL, foreign keys on, and write transactions that take the write lock when they begin
(``BEGIN IMMEDIATE``), so two runs of a job serialise instead of interleaving. Read-only work
uses ``read_only(engine)``, whose transactions begin deferred and never wait for a writer.
The database file is created readable by its owner only (0600), and SQLite gives its -wal and
-shm files the same mode; ``sqlite_file_missing`` lets a command that only reads refuse to run
rather than leave an empty database behind.
"""

from __future__ import annotations

import os
from pathlib import Path

from sqlalchemy import Engine, create_engine, event
from sqlalchemy.engine import URL, make_url
from sqlalchemy.exc import (ArgumentError, DBAPIError, DisconnectionError, InterfaceError, OperationalError,
                            SQLAlchemyError)
from sqlalchemy.exc import TimeoutError as PoolTimeout

from console.db.column_types import sqlite_wall_epoch, sqlite_wall_utc
from console.settings import UNPARSABLE_URL, url_secrets

_READ_ONLY = "taskconsole_read_only"


class DatabaseError(Exception):
    """The database cannot be used; the message is safe to show (no password)."""


class DatabaseUnreachable(DatabaseError):
    """The database did not answer (down, not there yet, refused us); trying later may work."""


def make_engine(url: str, *, pool_size: int = 12) -> Engine:
    """An engine for ``url``; SQLite gets its pragmas, PostgreSQL a checked pool."""
    try:
        parsed = make_url(url)
    except (ArgumentError, ValueError):  # a port that is not a number is a ValueError
        raise DatabaseError(f"the database URL {UNPARSABLE_URL}") from None
    if parsed.get_backend_name() == "sqlite":
        return _sqlite_engine(url, parsed.database)
    if parsed.drivername == "postgresql":
        # SQLAlchemy 2.1 defaults to psycopg 3; we ship and test psycopg2.
        parsed = parsed.set(drivername="postgresql+psycopg2")
    engine = create_engine(
        parsed,
        pool_pre_ping=True,
        pool_size=pool_size,
        max_overflow=4,
        hide_parameters=True,
        # JIT compiling costs 0.3-0.9 s on the panels' one-scan aggregates at 1M rows and saves less
        # than that on every statement we send; the jobs' UPDATEs do not gain from it either.
        connect_args={"connect_timeout": 5, "application_name": "taskconsole", "options": "-c jit=off"},
    )
    event.listen(engine, "connect", _utc_session)
    return engine


def _utc_session(dbapi_conn, _record) -> None:
    # East of UTC the server would hand 9999-12-31T23:59Z back as year 10000, which the driver
    # cannot read; set here rather than in the startup options, which PGTZ would override.
    cursor = dbapi_conn.cursor()
    cursor.execute("SET TIME ZONE 'UTC'")
    # The mapping's words are written into statements as literals (console.db.task_tables.word).
    cursor.execute("SET standard_conforming_strings = on")
    cursor.close()
    dbapi_conn.commit()


def _sqlite_engine(url: str, database: str | None) -> Engine:
    if database and database != ":memory:":
        folder = Path(database).expanduser().resolve().parent
        if not folder.is_dir():
            raise DatabaseError(f"folder of the SQLite database does not exist: {folder}")
    engine = create_engine(url, connect_args={"timeout": 30, "check_same_thread": False}, hide_parameters=True)
    path = _sqlite_path(engine.url)

    @event.listens_for(engine, "do_connect")
    def _private_file(_dialect, _record, _cargs, _cparams):
        # pysqlite would create it 0644 (less the umask): tasks, users and notifications for anyone
        # on the host to read. Created here first, 0600; SQLite copies the mode to -wal and -shm.
        if path is not None and not path.exists():
            try:
                os.close(os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600))
            except FileExistsError:
                pass  # another process was quicker: its file, its mode

    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_conn, _record):
        # Let SQLAlchemy, not pysqlite, decide when transactions begin.
        dbapi_conn.isolation_level = None
        cur = dbapi_conn.cursor()
        cur.execute("PRAGMA journal_mode=WAL")
        cur.execute("PRAGMA synchronous=NORMAL")
        cur.execute("PRAGMA foreign_keys=ON")
        cur.execute("PRAGMA busy_timeout=30000")
        cur.close()
        # A task system's naive local timestamps: SQLite has no zone database (console.db.column_types).
        dbapi_conn.create_function("tc_wall_epoch", 2, sqlite_wall_epoch, deterministic=True)
        dbapi_conn.create_function("tc_wall_utc", 2, sqlite_wall_utc, deterministic=True)

    @event.listens_for(engine, "begin")
    def _on_begin(conn):
        if conn.get_execution_options().get(_READ_ONLY):
            conn.exec_driver_sql("BEGIN")
        else:
            conn.exec_driver_sql("BEGIN IMMEDIATE")

    return engine


def _sqlite_path(url: URL) -> Path | None:
    """The file of a SQLite URL, or None for an in-memory or URI-form database."""
    database = url.database
    if not database or database == ":memory:" or url.query.get("uri") or database.startswith("file:"):
        return None
    return Path(database)


def sqlite_file_missing(url: str | URL) -> Path | None:
    """The SQLite database file ``url`` names, if it does not exist (None for PostgreSQL, for an
    in-memory database, and when it exists). Opening it would create it, empty."""
    parsed = url if isinstance(url, URL) else make_url(url)
    if parsed.get_backend_name() != "sqlite":
        return None
    path = _sqlite_path(parsed)
    return path if path is not None and not path.exists() else None


def outside_transaction(engine: Engine, statement: str) -> None:
    """Run a statement PostgreSQL refuses inside a transaction block (VACUUM), on its own connection."""
    with engine.connect() as conn:
        conn.execution_options(isolation_level="AUTOCOMMIT").exec_driver_sql(statement)


def read_only(engine: Engine) -> Engine:
    """The same engine for reads: on SQLite its transactions do not take the write lock."""
    return engine.execution_options(**{_READ_ONLY: True})


def describe_error(exc: BaseException, url: str | URL | None = None) -> str:
    """One line about a database error, without SQL parameters or passwords.

    ``url`` is the database URL whose password must not show: a string, or an engine's ``URL``
    (whose ``str()`` already masks the password, so it could not be used to find it). Its secrets
    are found as SQLAlchemy reads them (the password, ``?password=`` and kin), decoded and as written."""
    if isinstance(exc, DBAPIError) and exc.orig is not None:
        text = str(exc.orig).strip().splitlines()[0] if str(exc.orig).strip() else type(exc.orig).__name__
    elif isinstance(exc, SQLAlchemyError):
        text = str(exc).split("\n")[0]
    else:
        text = str(exc) or type(exc).__name__
    for secret in url_secrets(url):
        text = text.replace(secret, "***")
    return text


def database_unavailable(exc: BaseException) -> bool:
    """Whether ``exc`` (or an error it was raised from) says the database could not be reached or
    dropped the connection: a restart, a failover, a full pool, SQLite's lock wait. Trying again
    later may work, unlike a statement the database refused."""
    seen: set[int] = set()
    while exc is not None and id(exc) not in seen:
        seen.add(id(exc))
        if isinstance(exc, (OperationalError, InterfaceError, DisconnectionError, PoolTimeout, DatabaseUnreachable)):
            return True
        if isinstance(exc, DBAPIError) and exc.connection_invalidated:
            return True
        exc = exc.__cause__ or exc.__context__
    return False
