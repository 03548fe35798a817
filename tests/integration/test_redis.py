"""Redis is a helper only: run events reach it when it is up; when it is down nothing changes."""

import json
import time

import redis

from console.scheduler.bus import CHANNEL, EventBus
from console.scheduler.runner import JobRunner
from tests.conftest import NOW
from tests.integration.helpers import ledger, notifications

DEAD_REDIS = "redis://127.0.0.1:1/0"  # nothing listens on port 1


def test_run_events_are_published(db, rows, settings, redis_url):
    client = redis.Redis.from_url(redis_url)
    pubsub = client.pubsub()
    pubsub.subscribe(CHANNEL)
    pubsub.get_message(timeout=1)  # the subscribe confirmation
    bus = EventBus(redis_url)
    runner = JobRunner(settings, db.engine, bus=bus, clock=lambda: NOW)
    result = runner.execute("update_time_progress", "manual")
    events = []
    deadline = time.monotonic() + 5
    while len(events) < 2 and time.monotonic() < deadline:
        message = pubsub.get_message(timeout=0.5)
        if message and message["type"] == "message":
            event = json.loads(message["data"])
            # The channel is the server's, not the database index's: other tests (another xdist
            # worker, another run on this machine) publish on it too. This bus's events only.
            if event.get("origin") == bus._origin:
                events.append(event)
    pubsub.close()
    assert [(e["event"], e["run_id"]) for e in events] == [("run_started", result.run_id),
                                                           ("run_finished", result.run_id)]
    assert EventBus(redis_url).health() == "ok"


def test_redis_down_changes_no_result_and_costs_no_time(db, rows, settings):
    handler = rows.user()
    for pct in (81, 91, 96):
        rows.processing(time_pct=pct, progress=10, handler=handler)
    bus = EventBus(DEAD_REDIS)
    runner = JobRunner(settings, db.engine, bus=bus, clock=lambda: NOW)
    began = time.monotonic()
    result = runner.execute("check_task_warnings", "manual")
    assert result.status == "success" and result.counts["notified"] == 3
    assert len(notifications(db.engine)) == 3 and len(ledger(db.engine)) == 3
    assert time.monotonic() - began < 5
    assert bus.health() == "down"


def test_no_redis_configured_is_off():
    assert EventBus(None).health() == "off"
    assert EventBus(None).publish({"event": "x"}) is False
