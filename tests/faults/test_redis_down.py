"""Redis really stopped (``redis-cli shutdown``): the jobs give the same results, as fast.

The same warning check runs twice on the same rows (reloaded in between), through the command
line with Redis configured: once with Redis up, once with the server shut down. Redis is started
again afterwards whatever happens, with the command CI uses, and the test waits until it answers.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import time
from datetime import datetime, timezone
from urllib.parse import urlsplit

import pytest
import redis

from console.scheduler.bus import CHANNEL
from tests.conftest import unavailable
from tests.faults.conftest import FaultDb, Proc
from tests.faults.data import load_users, load_warning_material

PORT = 6379
RESTART = ["redis-server", "--daemonize", "yes", "--bind", "127.0.0.1", "-::1", "--port", str(PORT), "--save", "",
           "--appendonly", "no", "--dir", "/var/lib/redis", "--logfile", "/var/log/redis/ci.log"]
JOB = "check_task_warnings"


def answers(url: str) -> bool:
    client = redis.Redis.from_url(url, socket_connect_timeout=0.5, socket_timeout=0.5)
    try:
        return bool(client.ping())
    except redis.RedisError:
        return False
    finally:
        client.close()


def wait_until(condition, timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            pytest.fail(f"timed out after {timeout} s waiting for {what}")
        time.sleep(0.1)


class LocalRedis:
    """Stops the Redis on 127.0.0.1:6379 for real, and starts it again."""

    def __init__(self, url: str):
        self.url = url

    def stop(self) -> None:
        subprocess.run(["redis-cli", "-h", "127.0.0.1", "-p", str(PORT), "shutdown", "nosave"],
                       capture_output=True, timeout=10)
        wait_until(lambda: not answers(self.url), 10, "Redis to stop")

    def start(self) -> None:
        if not answers(self.url):
            subprocess.run(RESTART, capture_output=True, timeout=30, check=True)
        wait_until(lambda: answers(self.url), 30, "Redis to answer PING again")


@pytest.fixture
def local_redis(redis_url: str):
    where = urlsplit(redis_url)
    if where.hostname not in ("127.0.0.1", "localhost") or (where.port or PORT) != PORT:
        pytest.skip(f"stops only the Redis on 127.0.0.1:{PORT}, and the tests use {where.hostname}:{where.port}")
    for tool in ("redis-cli", "redis-server"):
        if shutil.which(tool) is None:
            unavailable(tool, "not installed, so Redis cannot be stopped and started again")
    server = LocalRedis(redis_url)
    try:
        yield server
    finally:
        server.start()  # always: other tests need it


def run_job(taskconsole, redis_url: str) -> tuple[dict, float, Proc]:
    began = time.monotonic()
    proc = taskconsole("jobs", "run", JOB, "--json", redis_url=redis_url)
    code = proc.wait(timeout=60)
    wall = time.monotonic() - began
    assert code == 0, proc.stderr
    return json.loads(proc.stdout), wall, proc


def redis_status(taskconsole, redis_url: str) -> str:
    proc = taskconsole("status", "--json", redis_url=redis_url)
    assert proc.wait(timeout=60) == 0, proc.stderr
    return json.loads(proc.stdout)["redis"]


def outcome(pg: FaultDb) -> tuple[list, list]:
    """What the run wrote, without what differs by instant or run id."""
    notes = pg.rows("SELECT user_id, type, title, content, task_id, is_read FROM notifications ORDER BY id")
    ledger = pg.rows("SELECT task_id, level, window_start, window_end, repeat_no FROM warning_ledger ORDER BY id")
    return [tuple(r) for r in notes], [tuple(r) for r in ledger]


def reload(pg: FaultDb, now: datetime) -> None:
    pg.execute("TRUNCATE warning_ledger, notifications, tasks, users RESTART IDENTITY CASCADE")
    load_users(pg)
    load_warning_material(pg, now)


def events_of(pubsub, pid: int, timeout: float) -> list[str]:
    """Run events published by process ``pid`` (its id is part of each event's origin)."""
    seen: list[str] = []
    deadline = time.monotonic() + timeout
    while len(seen) < 2 and time.monotonic() < deadline:
        message = pubsub.get_message(timeout=0.2)
        if message and message["type"] == "message":
            event = json.loads(message["data"])
            if event.get("job_id") == JOB and event.get("origin", "").split(":")[1:2] == [str(pid)]:
                seen.append(event["event"])
    return seen


@pytest.mark.exclusive  # shuts down the Redis server every other test uses
def test_with_redis_shut_down_the_warning_check_writes_the_same_rows_as_fast_and_status_says_down(
        pg, taskconsole, local_redis, redis_url):
    now = datetime.now(timezone.utc)
    reload(pg, now)
    client = redis.Redis.from_url(redis_url)
    pubsub = client.pubsub()
    pubsub.subscribe(CHANNEL)
    pubsub.get_message(timeout=1)  # the subscription's confirmation
    try:
        up, up_wall, up_proc = run_job(taskconsole, redis_url)
        # Redis was really in use: the run's events went through it.
        assert events_of(pubsub, up_proc.pid, timeout=5) == ["run_started", "run_finished"]
    finally:
        pubsub.close()
        client.close()
    up_rows = outcome(pg)

    reload(pg, now)
    try:
        local_redis.stop()
        down, down_wall, down_proc = run_job(taskconsole, redis_url)
        status_while_down = redis_status(taskconsole, redis_url)
    finally:
        local_redis.start()
    down_rows = outcome(pg)

    assert up["status"] == down["status"] == "success"
    assert "unreachable" in down_proc.stderr  # it tried Redis, and carried on without it
    assert down["counts"] == up["counts"]
    assert up["counts"] == {"notified": 3000, "level_20": 1000, "level_10": 1000, "level_5": 1000,
                            "skipped_no_window": 1, "skipped_bad_progress": 1000,
                            "skipped_no_handler": 1000, "skipped_unknown_status": 0}
    assert down_rows == up_rows
    assert len(up_rows[0]) == 3000 and len(up_rows[1]) == 3001  # the ledger had one row before
    assert any(repeat_no == 1 for *_, repeat_no in up_rows[1])  # the warning due again was sent again
    # A loose bound, not a timing target: a dead Redis must not cost seconds (no retries, no waits).
    assert down["duration_s"] < up["duration_s"] + 1.0, (up["duration_s"], down["duration_s"])
    assert down_wall < up_wall + 2.0, (up_wall, down_wall)
    assert status_while_down == "down"
    assert redis_status(taskconsole, redis_url) == "ok"
