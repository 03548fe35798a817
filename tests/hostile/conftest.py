"""Fixtures for the hostile cases: the same command-line and PostgreSQL fixtures as the integration tests."""

from tests.integration.conftest import cli, pg  # noqa: F401  (pytest finds fixtures by name)
