"""Fixtures for the console: a demo database, a service, and the app from the one factory."""

from __future__ import annotations

import itertools
import time
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Callable

import pytest
from sqlalchemy import insert

from console.db.demo import load_demo
from console.db.engine import make_engine
from console.db.models import JobRun, Task, WarningSent
from console.jobs import JOBS, JobContext
from console.service import Service
from console.settings import Settings
from console.tui.app import create_app
from tests.conftest import NOW, copy_migrated
from tests.faults.conftest import pg  # noqa: F401 - a fresh migrated PostgreSQL database, for tests/tui/test_logs.py

HOSTILE = "[red]x[/red] [link=http://evil.example]y[/link] \x1b[31mESC\x1b]0;pwn\x07 [/bold]"


def _service(tmp_path: Path, template: Path, now: datetime, clock: Callable[[], datetime], settings: Settings,
             demo_tasks: int = 2000) -> Service:
    engine = make_engine(copy_migrated(template, tmp_path / "console.db"))
    load_demo(engine, demo_tasks, now=now)
    with engine.begin() as conn:
        # A task whose title tries every trick: markup, a link, escape sequences; near its 5 % level.
        conn.execute(insert(Task).values(
            title=HOSTILE, category="normal", status="processing", progress=1.0, time_progress=0.0,
            expected_start_time=now - timedelta(hours=99.5), expected_end_time=now + timedelta(hours=0.5),
            current_handler_id=3, created_at=now - timedelta(days=5), updated_at=now - timedelta(days=1)))
    # However slow this machine reads the counts, the screen shows them as a quiet one would.
    return Service(settings, engine, clock=clock, slow_stats_s=float("inf"))


@pytest.fixture
def live_service(tmp_path, sqlite_template) -> Service:
    """Demo data around the real clock, for Pilot tests with the embedded scheduler."""
    now = datetime.now(timezone.utc)
    service = _service(tmp_path, sqlite_template, now, lambda: datetime.now(timezone.utc), Settings())
    yield service
    service.stop_scheduler()
    service.engine.dispose()


@pytest.fixture
def hostile_service(tmp_path, sqlite_template) -> Service:
    """Only the hostile task (and the demo users), clock frozen."""
    service = _service(tmp_path, sqlite_template, NOW, lambda: NOW, Settings(), demo_tasks=0)
    yield service
    service.engine.dispose()


@pytest.fixture
def frozen_service(tmp_path, sqlite_template) -> Service:
    """Demo data, history and clock frozen at NOW, for snapshots."""
    service = _service(tmp_path, sqlite_template, NOW, lambda: NOW, Settings())
    ids = itertools.count(1)
    ctx = JobContext(engine=service.engine, settings=service.settings, now=NOW, run_id=999)
    counts = JOBS["check_task_warnings"].run(ctx)
    with service.engine.begin() as conn:
        for hours_ago, job_id, status, took, error in (
            (30, "update_time_progress", "success", 0.21, None),
            (5, "check_task_warnings", "failed", 1.5, "connection to server lost"),
            (1, "check_task_warnings", "success", 0.8, None),
            (0.5, "update_time_progress", "success", 0.25, None),
        ):
            started = NOW - timedelta(hours=hours_ago)
            conn.execute(insert(JobRun).values(
                id=next(ids), job_id=job_id, trigger_kind="scheduled", status=status, attempt=1,
                started_at=started, finished_at=started + timedelta(seconds=took), duration_s=took,
                counts=counts if job_id == "check_task_warnings" and not error else {"updated": 120},
                error=error, traceback="Traceback (most recent call last):\n  ...\nOperationalError: lost" if error
                else None, actor="scheduler", host="ops-1", pid=1))
    yield service
    service.engine.dispose()


async def settle(pilot, refreshes: int = 1, timeout: float = 60.0) -> None:
    """Wait until the app has shown ``refreshes`` refreshes and its workers are idle; fails if
    that many refreshes have not happened within ``timeout`` seconds."""
    app = pilot.app
    deadline = time.monotonic() + timeout
    await pilot.pause(0.02)
    while app.refreshes < refreshes:
        if time.monotonic() > deadline:
            pytest.fail(f"the console showed {app.refreshes} refresh(es) in {timeout:.0f} s, not {refreshes}")
        await pilot.pause(0.02)
    await app.workers.wait_for_complete()
    await pilot.pause()


async def loaded(pilot) -> None:
    """Let a screen just opened load its data: its worker done and the result shown."""
    await pilot.pause()
    await pilot.app.workers.wait_for_complete()
    await pilot.pause()


@pytest.fixture
def make_app():
    def factory(service: Service, **kwargs):
        app = create_app(service, **kwargs)
        # Every toast the app shows, kept: a toast leaves the screen after its timeout (5 s), which
        # a loaded machine can take between the key that raised it and the test's look.
        app.toasts_shown = []
        notify = app.notify

        def recording(message, *args, **kw):
            app.toasts_shown.append(message)
            return notify(message, *args, **kw)

        app.notify = recording
        return app

    return factory


def seed_week(service: Service) -> None:
    """A week of history at known times before NOW, for the charts: check_task_warnings hourly
    (durations in a fixed pattern, a failure every 29th hour) and warnings sent in a fixed pattern
    by hour and level (more of the mild level, fewer of the severe, a quiet night each day)."""
    runs, sent = [], []
    task_ids = itertools.count(10_000_000)
    for hour in range(7 * 24 - 1, 0, -1):  # oldest first: run ids grow with time
        at = NOW - timedelta(hours=hour, minutes=-2)
        failed = hour % 29 == 0
        took = 0.4 + (hour % 9) * 0.15 + (2.0 if hour % 24 == 10 else 0.0)
        runs.append(dict(job_id="check_task_warnings", trigger_kind="scheduled", status="failed" if failed else "success",
                         attempt=1, started_at=at, finished_at=at + timedelta(seconds=took), duration_s=took,
                         counts={}, error="connection to server lost" if failed else None, actor="scheduler",
                         host="ops-1", pid=1))
        local_hour = (at + timedelta(hours=8)).hour
        if 1 <= local_hour <= 6:
            continue  # a quiet night
        for level, n in ((20, 3 + hour % 5), (10, 1 + hour % 3), (5, 1 if hour % 4 == 0 else 0)):
            sent += [dict(task_id=next(task_ids), level=level, cycle=0, repeat_no=0, window_start=at, window_end=at,
                          sent_at=at, run_id=1) for _ in range(n * 12)]
    with service.engine.begin() as conn:
        conn.execute(insert(JobRun), runs)
        conn.execute(insert(WarningSent), sent)


@pytest.fixture
def week_service(frozen_service) -> Service:
    """``frozen_service`` with a week of run and warning history (``seed_week``)."""
    seed_week(frozen_service)
    return frozen_service
