"""The schema fence: a leader whose release does not know the database's revision stops firing and
leading within one heartbeat, says why (status, metrics), writes nothing, and leads again when the
revision fits, without a restart."""

from __future__ import annotations

import time

from sqlalchemy import func, select, text

from console.db.models import JobRun, SchedulerNode
from console.db.schema import HEAD
from console.scheduler.node import HEARTBEAT_S
from console.service.status import gather_status
from console.settings import load_settings
from tests.integration.test_scheduler import services, settings_for  # noqa: F401


import pytest


def _set_revision(engine, revision: str) -> None:
    with engine.begin() as conn:
        conn.execute(text("UPDATE alembic_version SET version_num = :r"), {"r": revision})


@pytest.fixture(autouse=True)
def _revision_put_back(db):
    """The PostgreSQL database is the session's: whatever a case did to its revision is undone."""
    yield
    _set_revision(db.engine, HEAD)


def _wait(condition, timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, f"not within {timeout} s: {what}"
        time.sleep(0.05)


def _runs(engine) -> int:
    with engine.connect() as conn:
        return conn.execute(select(func.count()).select_from(JobRun)).scalar_one()


def test_an_unknown_revision_stops_a_leader_within_a_heartbeat_and_the_right_one_brings_it_back(db, services,
                                                                                                tmp_path):
    service = services(settings_for({"update_time_progress": {"trigger": {"every": 1}}}, only="update_time_progress"))
    service.start_scheduler(kind="run")
    assert service.leading
    _wait(lambda: _runs(db.engine) >= 1, 10, "a first scheduled run")
    _set_revision(db.engine, "9999")
    fenced_at = time.monotonic()
    _wait(lambda: not service.leading, 3 * HEARTBEAT_S, "the leader to step down")
    assert time.monotonic() - fenced_at <= 2 * HEARTBEAT_S + 1
    assert "9999" in (service.schema_fence() or "") and "newer than this taskconsole" in service.schema_fence()
    assert service.metrics_reader().read().schema_fenced == 1
    # Nothing written by a release that does not know the schema: no run, no heartbeat.
    with db.engine.connect() as conn:
        heartbeat = conn.execute(select(func.max(SchedulerNode.heartbeat_at))).scalar_one()
    time.sleep(0.5)  # any run in flight at the fence's instant finishes; none may start after
    runs_then = _runs(db.engine)
    time.sleep(2.5 * HEARTBEAT_S)  # a job every second would have fired twice or more here
    assert _runs(db.engine) == runs_then
    with db.engine.connect() as conn:
        assert conn.execute(select(func.max(SchedulerNode.heartbeat_at))).scalar_one() == heartbeat
    config = tmp_path / "settings.yaml"
    config.write_text("jobs: {update_time_progress: {trigger: {every: 1}}}\n")
    status = gather_status(load_settings(config, env={"TASKCONSOLE_DATABASE_URL": db.url}))
    assert status.database == "ok" and status.schema_revision == "9999"
    assert "newer than this taskconsole" in status.fenced
    _set_revision(db.engine, HEAD)
    _wait(lambda: service.leading, 3 * HEARTBEAT_S, "the leader to lead again")
    assert service.schema_fence() is None
    _wait(lambda: _runs(db.engine) > runs_then, 10, "a run after the fence lifted")


def test_a_release_newer_than_the_database_refuses_to_lead_until_db_upgrade(db, services):
    _set_revision(db.engine, "0012")  # as if this release's migrations had not run yet
    service = services(settings_for(only="update_time_progress"))
    service.start_scheduler(kind="run")
    assert not service.leading
    assert "run `taskconsole db upgrade`" in service.schema_fence()
    _set_revision(db.engine, HEAD)
    _wait(lambda: service.leading, 3 * HEARTBEAT_S, "leading once the schema fits")


def test_metrics_on_a_node_rolled_back_under_say_the_fence_and_do_not_fail(tmp_path):
    """db downgrade by the older release's operator while this node runs: tables it reads are gone."""
    from console.db import schema
    from console.db.engine import make_engine
    from console.service import Service
    from console.settings import Settings
    from console.web.prometheus import exposition

    engine = make_engine(f"sqlite:///{tmp_path / 'rolled.db'}")
    schema.upgrade(engine)
    service = Service(settings_for(only="update_time_progress"), engine)
    service.start_scheduler(kind="run")
    try:
        schema.downgrade(engine, "0012")  # job_run_totals, leader_terms, ... are gone
        _wait(lambda: not service.leading, 3 * HEARTBEAT_S, "the leader to step down")
        text_ = exposition(service.metrics_reader().read()).decode()
        assert "taskconsole_schema_fenced 1.0" in text_
    finally:
        service.stop_scheduler()
        engine.dispose()
