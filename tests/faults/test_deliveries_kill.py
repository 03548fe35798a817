"""kill -9 of the leader with deliveries in flight (issue #28), on PostgreSQL, with real processes:
the next leader sends what is left; a delivery is received twice only if it was in flight when the
leader died (the documented at-most-once resend), and never more than twice."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from collections import Counter
from datetime import datetime, timezone

import pytest
import yaml
from sqlalchemy import func, select

from console.db.engine import make_engine
from console.db.models import Delivery, SchedulerNode
from console.domain.deliveries import DeliveryState
from console.jobs import JOBS
from console.notify.sender import BATCH
from tests.conftest import fresh_pg_database
from tests.faults.conftest import wait_for
from tests.integration.deliveries_helpers import HttpReceiver, channel_settings
from tests.integration.helpers import run_job
from tests.integration.test_deliveries_sender import handlers_and_tasks

N = 300


def _start(url: str, config, log) -> subprocess.Popen:
    env = {k: v for k, v in os.environ.items() if not k.startswith("TASKCONSOLE_")}
    env.update(TASKCONSOLE_DATABASE_URL=url, TASKCONSOLE_CONFIG=str(config))
    return subprocess.Popen([sys.executable, "-m", "console", "run"], env=env, stdout=subprocess.DEVNULL,
                            stderr=log.open("w"), start_new_session=True)


def _count(engine, state) -> int:
    with engine.connect() as conn:
        return conn.execute(select(func.count()).select_from(Delivery).where(Delivery.state == state)).scalar_one()


@pytest.mark.slow
def test_a_leader_killed_mid_delivery_resends_at_most_what_was_in_flight(tmp_path):
    room = HttpReceiver()
    room.mode, room.slow_s = "slow", 0.02  # the leader is still sending when it is killed
    channel = {"name": "room", "url": room.url, "events": ["warning"]}
    body = {"channels": [channel], "delivery": {"send_timeout": "PT2S"},
            "task_system": {"columns": {"users": {"name": None, "email": "name"}}},
            "jobs": {job: {"enabled": False} for job in JOBS}}
    config = tmp_path / "settings.yaml"
    config.write_text(yaml.safe_dump(body))
    procs: list[subprocess.Popen] = []
    try:
        with fresh_pg_database("taskconsole_deliver_kill", migrated=True) as url:
            engine = make_engine(url)
            handlers_and_tasks(engine, 3, N)
            settings = channel_settings(channel)
            run_job("check_task_warnings", engine, settings, datetime.now(timezone.utc).replace(microsecond=0))
            assert _count(engine, DeliveryState.PENDING) == N
            procs.append(_start(url, config, tmp_path / "first.log"))
            wait_for(lambda: len(room.bodies) >= N // 4, timeout=60, what="a quarter delivered", every=0.05)
            in_flight = _count(engine, DeliveryState.SENDING)
            os.kill(procs[0].pid, signal.SIGKILL)
            procs[0].wait(10)
            assert in_flight <= BATCH and len(room.bodies) < N  # killed mid-delivery, one batch claimed at most
            procs.append(_start(url, config, tmp_path / "second.log"))
            wait_for(lambda: _count(engine, DeliveryState.SENT) == N, timeout=90, what="every delivery sent",
                     every=0.25)
            titles = Counter(b["message"].split("」")[0] for b in room.bodies)
            assert len(titles) == N  # every one arrived
            twice = [t for t, n in titles.items() if n > 1]
            assert len(twice) <= 1 and max(titles.values()) <= 2, twice  # the one in flight, once more at most
            with engine.connect() as conn:
                assert conn.execute(select(func.count()).select_from(SchedulerNode)).scalar_one() >= 1
            engine.dispose()
    finally:
        for p in procs:
            if p.poll() is None:
                p.send_signal(signal.SIGTERM)
                try:
                    p.wait(20)
                except subprocess.TimeoutExpired:
                    p.kill()
        room.close()
