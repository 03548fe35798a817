"""db upgrade beside live nodes (a lock timeout, tried again, saying who holds the lock) and
db downgrade REVISION [--yes] (what each step drops, and nothing without --yes; a step that
refuses says why before anything is touched)."""

from __future__ import annotations

import threading
import time

import pytest
from sqlalchemy import inspect, text

from console.db import migrate, schema
from console.db.engine import make_engine
from tests.conftest import fresh_pg_database
from tests.integration.helpers import assert_one_clean_error, invoke
from tests.integration.task_schemas import SEED_DDL, SEED_SETTINGS, fresh  # noqa: F401


@pytest.fixture(params=["sqlite", "postgresql"])
def own(request, tmp_path):
    """A database whose schema taskconsole made (db upgrade), with a run and a log line."""
    if request.param == "sqlite":
        url = f"sqlite:///{tmp_path / 'own.db'}"
        engine = make_engine(url)
        schema.upgrade(engine)
        yield url, engine
        engine.dispose()
        return
    with fresh_pg_database("taskconsole_downgrade") as url:
        engine = make_engine(url)
        schema.upgrade(engine)
        yield url, engine
        engine.dispose()


def test_downgrade_prints_what_each_step_drops_and_changes_nothing_without_yes(own, tmp_path):
    url, engine = own
    assert invoke(["jobs", "run", "update_time_progress"], url=url, cwd=tmp_path).returncode == 0
    shown = invoke(["db", "downgrade", "0011"], url=url, cwd=tmp_path)
    assert shown.returncode == 0, shown.stderr
    out = shown.stdout
    assert "0014 -> 0013:" in out and "drops table leader_terms" in out and "drops column job_runs.failed_for_good" in out
    assert "0012 -> 0011:" in out and "drops table job_run_logs (" in out
    assert "--yes" in out
    assert schema.current_revision(engine) == schema.HEAD
    done = invoke(["db", "downgrade", "0011", "--yes"], url=url, cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    assert schema.current_revision(engine) == "0011"
    with engine.connect() as conn:
        assert not inspect(conn).has_table("job_run_logs")
    assert invoke(["db", "upgrade"], url=url, cwd=tmp_path).returncode == 0
    assert schema.current_revision(engine) == schema.HEAD


def test_downgrade_refuses_bad_revisions_with_one_line(own, tmp_path):
    url, _ = own
    for revision in ("0099", schema.HEAD, "'; DROP TABLE job_runs; --"):
        assert_one_clean_error(invoke(["db", "downgrade", revision, "--yes"], url=url, cwd=tmp_path))
    assert schema.current_revision(own[1]) == schema.HEAD


def test_a_step_that_refuses_says_why_before_anything_is_touched(fresh, tmp_path):  # noqa: F811
    """Below 0010 on a task system's own tables: refused, and the schema is as it was."""
    fresh.create(SEED_DDL)
    config = fresh.config(SEED_SETTINGS)
    assert invoke(["db", "upgrade"], url=fresh.url, cwd=tmp_path, config=config).returncode == 0
    refused = invoke(["db", "downgrade", "0009", "--yes"], url=fresh.url, cwd=tmp_path, config=config)
    assert refused.returncode == 2
    assert "0010 -> 0009:" in refused.stdout and "refuses: the task tables are the task system's" in refused.stdout
    assert "nothing was changed" in refused.stderr and "Traceback" not in refused.stderr
    assert schema.current_revision(fresh.engine) == schema.HEAD
    with fresh.engine.connect() as conn:
        assert inspect(conn).has_table("job_run_logs") and inspect(conn).has_table("task_state")


def test_upgrade_waits_for_a_lock_with_a_timeout_saying_who_holds_it(monkeypatch):
    with fresh_pg_database("taskconsole_upgrade_lock") as url:
        engine = make_engine(url)
        schema.upgrade(engine)
        schema.downgrade(engine, "0013")
        monkeypatch.setattr(migrate, "LOCK_TIMEOUT", "200ms")
        monkeypatch.setattr(migrate, "RETRY_PAUSE_S", 0.2)
        holder = engine.connect()
        holder.execute(text("LOCK TABLE job_runs IN ACCESS SHARE MODE"))  # as a long job's read would
        held_until = time.monotonic() + 1.5
        threading.Timer(1.5, holder.rollback).start()
        said: list[str] = []
        schema.upgrade(engine, progress=said.append)
        assert time.monotonic() >= held_until - 0.1  # it waited for the lock, and did not fail
        assert schema.current_revision(engine) == schema.HEAD
        waits = [line for line in said if line.startswith("waiting for locks")]
        assert waits and "pid" in waits[0], said
        holder.close()
        engine.dispose()


def test_a_downgrade_that_would_wait_behind_a_live_lock_gives_up_at_once_changing_nothing(monkeypatch):
    with fresh_pg_database("taskconsole_downgrade_lock") as url:
        engine = make_engine(url)
        schema.upgrade(engine)
        monkeypatch.setattr(migrate, "LOCK_TIMEOUT", "200ms")
        holder = engine.connect()
        holder.execute(text("LOCK TABLE job_runs IN ACCESS SHARE MODE"))  # a node reading its ledger
        try:
            with pytest.raises(migrate.DowngradeRefused, match="holds a lock the downgrade needs: pid"):
                schema.downgrade_plan(engine, "0013")
        finally:
            holder.rollback()
            holder.close()
        assert schema.current_revision(engine) == schema.HEAD
        engine.dispose()
