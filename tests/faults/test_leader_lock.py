"""The leader lock's edge cases, in process on a real PostgreSQL: an election that fails halfway,
and a leader whose lock session is cut (as a database restart or a proxy would)."""

from __future__ import annotations

from datetime import datetime, timezone

from sqlalchemy import func, select, text

from console.db.engine import make_engine
from console.db.models import JobRun
from console.scheduler import node as node_module
from console.service import Service
from console.settings import Settings
from tests.conftest import fresh_pg_database
from tests.faults.conftest import wait_for

JOB = "update_time_progress"


def _settings(every: int = 1) -> Settings:
    return Settings.model_validate({"jobs": {JOB: {"trigger": {"every": every}, "retries": 0}}})


def test_an_election_that_fails_halfway_lets_the_lock_go_and_is_tried_again(monkeypatch):
    with fresh_pg_database("taskconsole_elect", migrated=True) as url:
        engine = make_engine(url)
        failures = []
        real = node_module.Node._take_over

        def flaky(self):
            if not failures:
                failures.append(1)
                raise RuntimeError("database went away during the take-over")
            return real(self)

        monkeypatch.setattr(node_module.Node, "_take_over", flaky)
        service = Service(_settings(60), engine, clock=lambda: datetime.now(timezone.utc))
        try:
            service.start_scheduler(kind="run")
            assert failures and service.live is None
            assert service.node.role == "standby" and not service.node._lock.held  # nobody locked out
            wait_for(lambda: service.live is not None and service.node.role == "leader", timeout=10,
                     what="leading after the failed try", every=0.1)
            assert service.scheduler_state == "running"
        finally:
            service.stop_scheduler()
            engine.dispose()


def test_a_cut_leader_session_loses_no_firing(caplog):
    # While the lock is being taken back no round is processed, so no firing is consumed without
    # running: those that fell due meanwhile coalesce into the next run (APScheduler's coalesce).
    caplog.set_level("INFO", logger="console.scheduler")
    with fresh_pg_database("taskconsole_cut", migrated=True) as url:
        engine = make_engine(url)
        service = Service(_settings(1), engine, clock=lambda: datetime.now(timezone.utc))

        def firings_so_far() -> int:
            with engine.connect() as conn:
                return conn.execute(select(func.count()).select_from(JobRun).where(
                    JobRun.job_id == JOB, JobRun.status == "success")).scalar_one()

        try:
            service.start_scheduler(kind="run")
            assert service.live is not None
            wait_for(lambda: firings_so_far() >= 3, timeout=30, what="three firings before the cut", every=0.1)
            with engine.begin() as conn:
                cut = conn.execute(text("SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
                                        "WHERE application_name = 'taskconsole leader' AND datname = current_database()"
                                        )).scalars().all()
            assert cut == [True]
            wait_for(lambda: service.node._lock.held and service.node.leads(), timeout=10, what="the lock back",
                     every=0.1)
            back = firings_so_far()
            wait_for(lambda: firings_so_far() >= max(back + 3, 6), timeout=30,
                     what="three firings after the lock came back", every=0.1)
        finally:
            service.stop_scheduler()
        with engine.connect() as conn:
            firings = conn.execute(select(JobRun.scheduled_for).where(JobRun.job_id == JOB, JobRun.status == "success")
                                   .order_by(JobRun.scheduled_for)).scalars().all()
        engine.dispose()
        assert "leader lock taken back" in caplog.text
        assert "no longer leads" not in caplog.text  # no firing was declined after being consumed
        assert len(firings) >= 6 and len(set(firings)) == len(firings)
        gaps = [(b - a).total_seconds() for a, b in zip(firings, firings[1:])]
        assert all(g == 1.0 for g in gaps if g != max(gaps)) and max(gaps) <= 3.0, gaps
