"""Fixtures for the integration tests: the real command line against the test database."""

from pathlib import Path

import pytest

from tests.integration.helpers import invoke


@pytest.fixture
def cli(db, tmp_path):
    def run(*args, config: Path | None = None):
        return invoke(args, url=db.url, cwd=tmp_path, config=config)
    return run
