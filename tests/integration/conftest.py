"""Fixtures for the integration tests: the real command line against the test database."""

from pathlib import Path

import pytest
from sqlalchemy import text

from console.db.engine import make_engine
from tests.conftest import TABLES
from tests.integration.helpers import invoke


@pytest.fixture
def cli(db, tmp_path):
    def run(*args, config: Path | None = None):
        return invoke(args, url=db.url, cwd=tmp_path, config=config)
    return run


@pytest.fixture
def pg(pg_server):
    """An emptied PostgreSQL database as an engine, for what only PostgreSQL has (plans, row locks)."""
    engine = make_engine(pg_server)
    with engine.begin() as conn:
        conn.execute(text(f"TRUNCATE {', '.join(TABLES)} RESTART IDENTITY CASCADE"))
    yield engine
    engine.dispose()
