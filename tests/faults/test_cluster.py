"""Several real `taskconsole run` processes on one PostgreSQL database: one leads, the others
stand by; firings run once; a killed leader is replaced within 15 s; a PostgreSQL restart costs
a failed, retried run and nothing else. Processes, signals and the restart are all real."""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import time
from contextlib import contextmanager
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest
from sqlalchemy import create_engine, func, select, text

from console.db.engine import make_engine
from console.db.models import JobRun, Notification, SchedulerNode, WarningSent
from tests.benchmarks import scenarios
from tests.conftest import fresh_pg_database, unavailable
from tests.faults.conftest import wait_for

JOB = "check_task_warnings"


def _settings_file(tmp_path: Path, jobs: dict) -> Path:
    path = tmp_path / "settings.yaml"
    path.write_text(json.dumps({"jobs": jobs}))  # JSON is YAML
    return path


@contextmanager
def _cluster_db(tmp_path: Path, crossing: int = 500, n: int = 2000):
    with fresh_pg_database("taskconsole_cluster", migrated=True) as url:
        engine = make_engine(url)
        scenarios.load(engine, n, datetime.now(timezone.utc), crossing=crossing)
        try:
            yield url, engine
        finally:
            engine.dispose()


def _start(url: str, config: Path, log: Path) -> subprocess.Popen:
    env = {**os.environ, "TASKCONSOLE_DATABASE_URL": url, "TASKCONSOLE_CONFIG": str(config)}
    env.pop("TASKCONSOLE_REDIS_URL", None)
    return subprocess.Popen([sys.executable, "-m", "console", "run"], env=env, stdout=subprocess.DEVNULL,
                            stderr=log.open("w"), start_new_session=True)


def _stop(procs: list[subprocess.Popen]) -> list[int | None]:
    codes = []
    for p in procs:
        if p.poll() is None:
            p.send_signal(signal.SIGTERM)
    for p in procs:
        try:
            codes.append(p.wait(timeout=30))
        except subprocess.TimeoutExpired:
            p.kill()
            codes.append(None)
    return codes


def _leaders(engine) -> list[int]:
    fresh = datetime.now(timezone.utc) - timedelta(seconds=6)
    with engine.connect() as conn:
        return list(conn.execute(select(SchedulerNode.pid).where(
            SchedulerNode.role == "leader", SchedulerNode.heartbeat_at >= fresh)).scalars())


def _runs(engine, job_id: str = JOB) -> list:
    with engine.connect() as conn:
        return conn.execute(select(JobRun).where(JobRun.job_id == job_id).order_by(JobRun.id)).all()


def _assert_no_warning_twice(engine) -> None:
    with engine.connect() as conn:
        twice = conn.execute(select(Notification.task_id, Notification.title, func.count())
                             .where(Notification.task_id.is_not(None))
                             .group_by(Notification.task_id, Notification.title).having(func.count() > 1)).all()
        ledger = conn.execute(select(func.count()).select_from(WarningSent)).scalar_one()
        notes = conn.execute(select(func.count()).select_from(Notification)
                             .where(Notification.task_id.is_not(None))).scalar_one()
    assert twice == []
    assert ledger == notes > 0


@pytest.mark.slow
def test_two_schedulers_one_database_every_firing_runs_once_for_a_minute(tmp_path):
    config = _settings_file(tmp_path, {JOB: {"trigger": {"every": 2}}})
    with _cluster_db(tmp_path) as (url, engine):
        procs = [_start(url, config, tmp_path / f"run{i}.log") for i in range(2)]
        try:
            wait_for(lambda: len(_leaders(engine)) == 1, timeout=15, what="one leader", every=0.25)
            began = time.monotonic()
            seen_leaders = set()
            while time.monotonic() - began < 60:
                leaders = _leaders(engine)
                assert len(leaders) <= 1, f"two leaders at once: {leaders}"
                seen_leaders.update(leaders)
                time.sleep(1)
        finally:
            codes = _stop(procs)
        assert codes == [0, 0]
        runs = [r for r in _runs(engine) if r.trigger_kind == "scheduled"]
        assert len(seen_leaders) == 1 and {r.pid for r in runs} == seen_leaders
        firings = [r.scheduled_for for r in runs]
        assert len(firings) >= 29 and len(set(firings)) == len(firings)  # none twice
        gaps = {(b - a).total_seconds() for a, b in zip(firings, firings[1:])}
        assert gaps == {2.0}, f"a firing was lost or doubled: gaps {sorted(gaps)}"
        assert {r.status for r in runs} == {"success"}
        _assert_no_warning_twice(engine)


def test_killing_the_leader_hands_over_within_15_seconds_and_no_warning_is_sent_twice(tmp_path):
    config = _settings_file(tmp_path, {JOB: {"trigger": {"every": 2}}})
    with _cluster_db(tmp_path) as (url, engine):
        procs = [_start(url, config, tmp_path / f"run{i}.log") for i in range(2)]
        try:
            leaders = wait_for(lambda: _leaders(engine), timeout=15, what="a leader", every=0.25)
            assert leaders and len(leaders) == 1
            old = leaders[0]
            wait_for(lambda: any(r.status == "success" for r in _runs(engine)), timeout=10, what="a run", every=0.25)
            os.kill(old, signal.SIGKILL)
            killed_at = time.monotonic()
            new = wait_for(lambda: [p for p in _leaders(engine) if p != old], timeout=20, what="a new leader", every=0.1)
            handover = time.monotonic() - killed_at
            assert new, "no process took over"
            assert handover <= 15, f"hand-over took {handover:.1f} s"
            count = len(_runs(engine))
            wait_for(lambda: any(r.pid == new[0] and r.status == "success" for r in _runs(engine)), timeout=10,
                     what="a run by the new leader", every=0.25)
            assert len(_runs(engine)) > count
        finally:
            codes = _stop(procs)
        assert codes[[p.pid for p in procs].index(new[0])] == 0
        runs = _runs(engine)
        assert "running" not in {r.status for r in runs}  # the dead leader's run, if any, was closed
        firings = [r.scheduled_for for r in runs if r.trigger_kind == "scheduled" and r.status == "success"]
        assert len(set(firings)) == len(firings)
        _assert_no_warning_twice(engine)


def _pg_restart_command() -> list[str]:
    versions = sorted(os.listdir("/etc/postgresql")) if os.path.isdir("/etc/postgresql") else []
    if not versions or not shutil.which("pg_ctlcluster") or os.geteuid() != 0:
        unavailable("a PostgreSQL server this test may restart", "needs root and pg_ctlcluster")
    return ["pg_ctlcluster", "--skip-systemctl-redirect", versions[-1], "main", "restart"]


@pytest.mark.exclusive  # restarts the PostgreSQL server every other test uses
def test_postgresql_restart_mid_run_fails_the_run_then_retries_and_the_scheduler_goes_on(tmp_path):
    restart = _pg_restart_command()
    job = "update_time_progress"
    config = _settings_file(tmp_path, {job: {"trigger": {"every": 3}, "retries": 3, "retry_delay": 2}})
    with _cluster_db(tmp_path, crossing=0, n=300_000) as (url, engine):
        proc = _start(url, config, tmp_path / "run.log")
        try:
            wait_for(lambda: any(r.status == "running" for r in _runs(engine, job)), timeout=30, what="a run in flight",
                     every=0.05)
            subprocess.run(restart, check=True, capture_output=True, timeout=60)
            restarted_at = datetime.now(timezone.utc)
            engine.dispose()
            assert proc.poll() is None, "the scheduler process died with the database"
            # After the restart: a failed attempt, a retry, and later scheduled runs that succeed
            # (each run updates 300,000 rows: on a loaded machine it takes seconds, so the runs
            # are counted from the restart, not within a window of the last few seconds).
            wait_for(lambda: sum(1 for r in _runs(engine, job) if r.status == "success"
                                 and r.started_at > restarted_at) >= 2,
                     timeout=90, what="two successful runs after the restart", every=0.5)
        finally:
            code = _stop([proc])[0]
        runs = _runs(engine, job)
        assert code == 0
        assert "failed" in {r.status for r in runs}, "the run in flight during the restart did not fail"
        failed = next(r for r in runs if r.status == "failed")
        assert any(r.trigger_kind == "retry" and r.id > failed.id and r.status == "success" for r in runs)
        assert "leader lock taken back" in (tmp_path / "run.log").read_text()  # it kept leading


def test_run_started_before_its_database_waits_for_it_then_leads(tmp_path):
    # A host booting before PostgreSQL: the headless scheduler keeps trying instead of exiting.
    from tests.conftest import PG_ADMIN_URL

    config = _settings_file(tmp_path, {JOB: {"trigger": {"every": 2}}})
    with fresh_pg_database("taskconsole_late", migrated=True) as ready_url:
        late_name = ready_url.rsplit("/", 1)[1] + "_late"
        late_url = ready_url.rsplit("/", 1)[0] + "/" + late_name
        log = tmp_path / "run.log"
        proc = _start(late_url, config, log)
        admin = create_engine(PG_ADMIN_URL, isolation_level="AUTOCOMMIT")
        late = make_engine(late_url)
        try:
            wait_for(lambda: "trying again" in log.read_text(), timeout=15, what="a retry logged", every=0.25)
            assert proc.poll() is None, log.read_text()
            with admin.connect() as conn:  # the database appears, schema and all, in one step
                conn.execute(text(f'ALTER DATABASE "{ready_url.rsplit("/", 1)[1]}" RENAME TO "{late_name}"'))
            wait_for(lambda: _leaders(late) == [proc.pid], timeout=40, what=f"it leads\n{log.read_text()[-2000:]}",
                     every=0.25)
            wait_for(lambda: any(r.status == "success" for r in _runs(late)), timeout=10, what="a run", every=0.25)
        finally:
            code = _stop([proc])[0]
            late.dispose()
            with admin.connect() as conn:
                conn.execute(text(f'ALTER DATABASE "{late_name}" RENAME TO "{ready_url.rsplit("/", 1)[1]}"'))
            admin.dispose()
        assert code == 0
