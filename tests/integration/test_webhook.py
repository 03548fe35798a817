"""The failure webhook: a JSON POST, to a real local HTTP server, when a job fails for good, misses
its firing or is abandoned; retried a few times; never holding up or failing the job."""

from __future__ import annotations

import json
import threading
import time
from datetime import timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from console.notify.webhook import Webhook
from console.scheduler.runner import JobRunner
from console.settings import Settings
from tests.conftest import NOW
from tests.integration.test_runner import failing_jobs


class Receiver:
    """An HTTP server that answers ``answers`` in turn (then 200), or sleeps ``hang_s`` first."""

    def __init__(self, answers=(), hang_s: float = 0.0):
        self.bodies: list[dict] = []
        self.answers = list(answers)
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self):  # noqa: N802 - http.server's name
                body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
                time.sleep(hang_s)
                receiver.bodies.append(body)
                code = receiver.answers.pop(0) if receiver.answers else 200
                self.send_response(code)
                self.end_headers()

            def log_message(self, *args):
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        threading.Thread(target=self.server.serve_forever, daemon=True).start()
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/hooks/secret-token-xyz"

    def close(self):
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def receiver():
    made = []

    def make(**kw):
        made.append(Receiver(**kw))
        return made[-1]

    yield make
    for r in made:
        r.close()


def runner_for(db, url: str, jobs=None) -> JobRunner:
    settings = Settings.model_validate({"alerts": {"webhook_url": url},
                                        "jobs": {"check_task_warnings": {"retries": 0, "retry_delay": 0}}})
    runner = JobRunner(settings, db.engine, jobs=jobs, clock=lambda: NOW)
    runner.webhook = Webhook(url, timeout_s=1.0, retry_delays_s=(0.05, 0.05))
    return runner


def test_a_failure_for_good_is_posted_once_with_the_run(db, receiver):
    hook = receiver()
    jobs, _ = failing_jobs(times=99)
    runner = runner_for(db, hook.url, jobs)
    result = runner.execute("check_task_warnings", "scheduled")
    assert result.status == "failed"
    assert runner.webhook.drain(10)
    assert len(hook.bodies) == 1
    body = hook.bodies[0]
    assert (body["event"], body["job_id"], body["run_id"], body["attempts"]) == \
        ("job_failed", "check_task_warnings", result.run_id, 1)
    assert body["error"] == result.error


def test_a_missed_firing_and_an_abandoned_run_are_posted(db, receiver):
    hook = receiver()
    runner = runner_for(db, hook.url)
    runner.record_missed("cleanup_old_data", NOW - timedelta(hours=2))
    runner.ledger.start("update_time_progress", "scheduled", actor="scheduler")  # its process "died"
    runner.execute("update_time_progress", "manual")
    assert runner.webhook.drain(10)
    assert [(b["event"], b["job_id"]) for b in hook.bodies] == [("job_missed", "cleanup_old_data"),
                                                               ("job_abandoned", "update_time_progress")]


def test_a_failing_receiver_is_tried_three_times_and_the_job_is_not_held_up(db, receiver, caplog):
    hook = receiver(answers=(500, 503, 502))
    jobs, _ = failing_jobs(times=99)
    runner = runner_for(db, hook.url, jobs)
    began = time.monotonic()
    assert runner.execute("check_task_warnings", "scheduled").status == "failed"
    assert time.monotonic() - began < 1.0
    assert runner.webhook.drain(10)
    assert len(hook.bodies) == 3
    logged = [r.getMessage() for r in caplog.records if r.name == "console.notify"]
    assert any("not sent after 3 tries (HTTP 502)" in m for m in logged), logged
    assert not any("secret-token-xyz" in m for m in logged)


def test_a_hanging_or_absent_receiver_never_blocks_or_fails_the_job(db, receiver):
    hook = receiver(hang_s=3)
    jobs, _ = failing_jobs(times=99)
    for url in (hook.url, "http://127.0.0.1:9/nothing-listens-here"):
        runner = runner_for(db, url, jobs)
        began = time.monotonic()
        result = runner.execute("check_task_warnings", "scheduled")
        assert result.status == "failed" and time.monotonic() - began < 1.0
        assert runner.webhook.drain(15)
