"""``--version`` names the schema revision this version needs; ``status`` the one the database is at."""

from __future__ import annotations

import json
import subprocess

from console import __version__
from console.db import schema
from tests.integration.helpers import run_cli


def run(tmp_path, *args: str) -> subprocess.CompletedProcess:
    env = {"PATH": "/usr/bin:/bin", "HOME": str(tmp_path), "TASKCONSOLE_DATABASE_URL": f"sqlite:///{tmp_path / 'v.db'}"}
    return run_cli(args, env=env, cwd=tmp_path)


def test_version_is_one_line_with_the_schema_it_needs(tmp_path):
    result = run(tmp_path, "--version")
    assert result.returncode == 0 and result.stdout == f"taskconsole {__version__} (schema {schema.HEAD})\n"


def test_status_shows_the_revision_the_database_is_at(tmp_path):
    assert run(tmp_path, "db", "upgrade").returncode == 0
    result = run(tmp_path, "status")
    assert f"schema:   revision {schema.HEAD}\n" in result.stdout
    data = json.loads(run(tmp_path, "status", "--json").stdout)
    assert data["database"]["schema_revision"] == schema.HEAD == data["database"]["schema_needed"]
