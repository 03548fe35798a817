"""The failure webhook (``alerts.webhook_url``), the outbox's ``json://`` channel named ``webhook``:
a JSON POST, to a real local HTTP server, when a job fails for good, misses its firing or is
abandoned, with the fields it has always posted; retried with backoff; never holding up or failing
the job; sent straight when the database cannot take it."""

from __future__ import annotations

import json
import os
import threading
import time
from datetime import timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from sqlalchemy import create_engine, text

from console.db import schema
from console.db.task_tables import forget_live_tables
from console.domain.deliveries import DeliveryEvent
from console.notify.sender import DeliverySender
from console.scheduler.runner import JobRunner
from console.settings import Settings, load_settings
from tests.conftest import NOW
from tests.integration.deliveries_helpers import deliveries
from tests.integration.helpers import run_cli
from tests.integration.task_schemas import SEED_DDL, SEED_SETTINGS, fresh  # noqa: F401
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


def runner_for(db, url: str, jobs=None, **more) -> JobRunner:
    settings = Settings.model_validate({"alerts": {"webhook_url": url}, "delivery": {"send_timeout": "PT1S"},
                                        "jobs": {"check_task_warnings": {"retries": 0, "retry_delay": 0}}, **more})
    return JobRunner(settings, db.engine, jobs=jobs, clock=lambda: NOW)


class Clock:
    def __init__(self):
        self.now = NOW

    def __call__(self):
        return self.now


def send_all(runner: JobRunner, clock: Clock | None = None) -> DeliverySender:
    """The leader's sender: what the outbox holds for the webhook, sent."""
    sender = DeliverySender(runner.settings, runner.engine, clock=clock or Clock())
    sender.run_once()
    return sender


def test_the_webhook_is_the_outbox_channel_named_webhook(db):
    settings = Settings.model_validate({"alerts": {"webhook_url": "https://u:p%40ss@hooks.example.com:8443/a?token=t"}})
    webhook, = settings.delivery_channels
    assert (webhook.name, webhook.url, webhook.fields) == (
        "webhook", "jsons://u:p%40ss@hooks.example.com:8443/a?-token=t&redirect=no", True)
    assert set(webhook.events) == {"job_failure", "job_missed"} and webhook.to == "group"
    with pytest.raises(ValueError, match="'webhook' is alerts.webhook_url's channel"):
        Settings.model_validate({"alerts": {"webhook_url": "https://hooks.example.com/a"},
                                 "channels": [{"name": "webhook", "url": "json://x/"}]})


def test_a_failure_for_good_is_posted_once_with_the_run_and_the_fields_it_always_had(db, receiver):
    hook = receiver()
    jobs, _ = failing_jobs(times=99)
    runner = runner_for(db, hook.url, jobs)
    result = runner.execute("check_task_warnings", "scheduled")
    assert result.status == "failed"
    assert [(d.channel, d.state) for d in deliveries(db.engine)] == [("webhook", "pending")]  # in the outbox first
    sender = send_all(runner)
    assert len(hook.bodies) == 1
    body = hook.bodies[0]
    assert (body["event"], body["job_id"], body["run_id"], body["attempts"], body["trigger_kind"]) == \
        ("job_failed", "check_task_warnings", result.run_id, 1, "scheduled")
    assert body["error"] == result.error and body["host"] and body["at"] == NOW.isoformat()
    assert body["type"] == "failure" and "check_task_warnings" in body["message"]  # and Apprise's json:// keys
    sender.run_once()
    assert len(hook.bodies) == 1 and deliveries(db.engine)[0].state == "sent"


def test_a_missed_firing_and_an_abandoned_run_are_posted(db, receiver):
    hook = receiver()
    runner = runner_for(db, hook.url)
    runner.record_missed("cleanup_old_data", NOW - timedelta(hours=2))
    runner.ledger.start("update_time_progress", "scheduled", actor="scheduler")  # its process "died"
    runner.execute("update_time_progress", "manual")
    send_all(runner)
    assert [(b["event"], b["job_id"]) for b in hook.bodies] == [("job_missed", "cleanup_old_data"),
                                                               ("job_abandoned", "update_time_progress")]
    assert hook.bodies[0]["scheduled_for"] == (NOW - timedelta(hours=2)).isoformat()
    assert hook.bodies[1]["runs"] == 1 and hook.bodies[1]["error"] == "its process ended before the run finished"


def test_a_failing_receiver_is_retried_with_backoff_and_the_job_is_not_held_up(db, receiver, caplog):
    hook = receiver(answers=(500, 503, 502))
    jobs, _ = failing_jobs(times=99)
    runner = runner_for(db, hook.url, jobs)
    began = time.monotonic()
    assert runner.execute("check_task_warnings", "scheduled").status == "failed"
    assert time.monotonic() - began < 1.0
    clock = Clock()
    sender = send_all(runner, clock)
    for _ in range(3):
        clock.now += timedelta(seconds=61)  # the backoff: at most a minute
        sender.run_once()
    assert len(hook.bodies) == 4
    row, = deliveries(db.engine)
    assert (row.state, row.tries) == ("sent", 4)
    logged = [r.getMessage() for r in caplog.records if r.name == "console.notify"]
    assert any("channel webhook: 1 delivery(ies) not sent" in m and "error=502" in m for m in logged), logged
    assert not any("secret-token-xyz" in m for m in logged)


def test_when_the_database_cannot_take_the_alert_it_goes_straight_to_the_webhook(sqlite_db, receiver, tmp_path, caplog):
    hook = receiver()
    runner = runner_for(sqlite_db, hook.url)
    runner.engine = create_engine(f"sqlite:///{tmp_path}/no-such-dir/gone.db")  # the database is what failed
    runner.job_event(DeliveryEvent.JOB_MISSED, "cleanup_old_data", detail="2026-01-01T00:00:00+00:00", run_id=None,
                     fields={"event": "job_missed", "scheduled_for": "2026-01-01T00:00:00+00:00"})
    assert runner.direct.drain(10)
    assert [(b["event"], b["job_id"], b["scheduled_for"]) for b in hook.bodies] == [
        ("job_missed", "cleanup_old_data", "2026-01-01T00:00:00+00:00")]
    assert "could not be queued for the channels" in caplog.text


def test_a_command_line_run_with_no_leader_sends_its_alert_before_it_exits(sqlite_db, receiver, tmp_path):
    """``taskconsole jobs run`` from cron, no scheduler anywhere: the webhook still hears of the
    run it found abandoned before the command exits; a receiver that is down leaves it waiting,
    said in one line."""
    hook = receiver()
    config = tmp_path / "settings.yaml"
    config.write_text(f"database: {{url: '{sqlite_db.url}'}}\nalerts: {{webhook_url: '{hook.url}'}}\n")
    env = {"TASKCONSOLE_CONFIG": str(config), "PATH": os.environ.get("PATH", "")}
    runner = JobRunner(Settings(), sqlite_db.engine)
    runner.ledger.start("update_time_progress", "scheduled", actor="scheduler")  # its process "died"
    done = run_cli(["jobs", "run", "update_time_progress"], env=env, cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    assert [(b["event"], b["job_id"]) for b in hook.bodies] == [("job_abandoned", "update_time_progress")]
    assert "wait for a leader" not in done.stderr
    hook.close()
    runner.ledger.start("update_time_progress", "scheduled", actor="scheduler")
    done = run_cli(["jobs", "run", "update_time_progress"], env=env, cwd=tmp_path)
    assert done.returncode == 0
    assert "taskconsole: 1 deliveries wait for a leader to send them" in done.stderr and "Traceback" not in done.stderr
    assert [d.state for d in deliveries(sqlite_db.engine)] == ["sent", "pending"]


def test_on_the_seed_schema_a_failure_reaches_the_admins_and_the_webhook_once(fresh, receiver):  # noqa: F811
    """The task system's own database (the design document's tables, Chinese words, naive
    Shanghai times): the admins get their 系统错误 row in its notifications table, and the webhook
    the failure, queued in the same transaction, sent once."""
    hook = receiver()
    fresh.create(SEED_DDL)
    settings = load_settings(fresh.config(SEED_SETTINGS + f"alerts: {{webhook_url: '{hook.url}'}}\n"
                                          "jobs: {check_task_warnings: {retries: 0}}\n"),
                             env={"TASKCONSOLE_DATABASE_URL": fresh.url})
    schema.upgrade(fresh.engine, settings)
    forget_live_tables()
    fresh.run("INSERT INTO users (id, username, is_admin) VALUES (1, '管理员', TRUE), (2, '张伟', FALSE)")
    jobs, _ = failing_jobs(times=99)
    runner = JobRunner(settings, fresh.engine, jobs=jobs)
    result = runner.execute("check_task_warnings", "scheduled")
    assert result.status == "failed"
    with fresh.engine.connect() as conn:
        alerted = conn.execute(text("SELECT user_id, type FROM notifications")).all()
    assert alerted == [(1, "系统错误")]
    sender = DeliverySender(settings, fresh.engine)
    sender.run_once()
    sender.run_once()
    assert [(b["event"], b["job_id"], b["run_id"]) for b in hook.bodies] == [
        ("job_failed", "check_task_warnings", result.run_id)]
    assert hook.bodies[0]["title"] == settings.notifications.job_failure.title  # the design document's text
