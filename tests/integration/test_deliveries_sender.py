"""The leader's sender (issue #28) against real receivers: a local SMTP server (aiosmtpd) for
mail to each handler and a local HTTP receiver for a json:// room; in-process passes with an
injected clock, on SQLite and PostgreSQL."""

import functools
from datetime import timedelta

import pytest
from sqlalchemy import insert

from console.db.models import Task, User
from console.domain.deliveries import DeliveryState
from console.notify import apprise_send
from console.notify.messages import Message
from console.notify import sender as sender_module
from console.notify.sender import DeliverySender
from console.scheduler.run_logs import run_log
from console.scheduler.runner import JobRunner
from tests.conftest import NOW
from tests.integration.deliveries_helpers import HttpReceiver, SmtpReceiver, channel_settings, deliveries
from tests.integration.helpers import run_job
from tests.web.conftest import free_port

JOB = "check_task_warnings"


class Clock:
    def __init__(self, now=NOW):
        self.now = now

    def __call__(self):
        return self.now

    def tick(self, **delta):
        self.now += timedelta(**delta)


@pytest.fixture
def room():
    receiver = HttpReceiver()
    yield receiver
    receiver.close()


@pytest.fixture
def smtp(monkeypatch):
    # Apprise's mail plugin builds a TLS context for every mail, even to a plain SMTP server (0.1 s
    # of CPU reading the CA bundle); the tests make it once, so 1,000 mails take seconds.
    import ssl

    monkeypatch.setattr(ssl, "create_default_context", functools.lru_cache(maxsize=None)(ssl.create_default_context))
    receiver = SmtpReceiver(free_port()).start()
    yield receiver
    receiver.stop()


def handlers_and_tasks(engine, handlers: int, tasks: int, *, time_pct: float = 96) -> list[str]:
    """``handlers`` users named by address and ``tasks`` processing tasks at level 5, round robin."""
    with engine.begin() as conn:
        ids = [conn.execute(insert(User).values(name=f"h{i}@example.com", is_admin=False).returning(User.id))
               .scalar_one() for i in range(handlers)]
        length = timedelta(hours=100)
        start = NOW - length * (time_pct / 100)
        conn.execute(insert(Task), [dict(
            title=f"任务 {n} *bold* [x](y)", category="normal", status="processing", progress=10.0,
            time_progress=0.0, expected_start_time=start, expected_end_time=start + length,
            current_handler_id=ids[n % handlers], created_at=NOW - timedelta(days=3), updated_at=NOW,
        ) for n in range(tasks)])
    return [f"h{i}@example.com" for i in range(handlers)]


def drain(sender: DeliverySender, passes: int = 500) -> None:
    """Passes until one sends nothing (each channel's share of a pass is 5 s: a thousand mails on
    a loaded machine take more than a few)."""
    for _ in range(passes):
        if not any(sender.run_once().values()):
            return


def channels(smtp, room, **both):
    return channel_settings(
        {"name": "mail", "url": smtp.url(), "to": "handler", "events": ["warning"], **both},
        {"name": "room", "url": room.url, "events": ["warning"], **both},
        delivery={"send_timeout": "PT2S"},
    )


@pytest.mark.slow
def test_each_warning_reaches_its_handler_and_the_room_once(db, smtp, room):
    n = 1000 if db.is_pg else 200  # the 1,000 once; SQLite's the same case, smaller
    addresses = handlers_and_tasks(db.engine, 10, n)
    settings = channels(smtp, room)
    assert run_job(JOB, db.engine, settings, NOW)["deliveries_queued"] == 2 * n
    sender = DeliverySender(settings, db.engine, clock=Clock())
    drain(sender)
    assert len(smtp.messages) == n and len(room.bodies) == n
    for address in addresses:
        assert len(smtp.to(address)) == n // 10
    assert {d.state for d in deliveries(db.engine)} == {DeliveryState.SENT}
    # Data is data: the title's Markdown reaches the room as written (json is plain text).
    assert any("*bold* [x](y)" in body["message"] for body in room.bodies)
    assert "剩余5%" in room.bodies[0]["title"]
    drain(sender)
    assert len(smtp.messages) == n and len(room.bodies) == n  # nothing twice


def test_mail_waits_for_the_smtp_server_and_the_room_does_not(db, smtp, room):
    handlers_and_tasks(db.engine, 3, 12)
    settings = channels(smtp, room)
    run_job(JOB, db.engine, settings, NOW)
    smtp.stop()
    clock = Clock()
    sender = DeliverySender(settings, db.engine, clock=clock)
    drain(sender)
    assert len(room.bodies) == 12 and smtp.messages == []
    failed = [d for d in deliveries(db.engine, channel="mail") if d.last_error]
    assert failed and {d.state for d in deliveries(db.engine, channel="mail")} == {DeliveryState.PENDING}
    clock.tick(seconds=30)
    drain(sender)  # still down: one more try, no more
    smtp.start()
    clock.tick(minutes=1)
    drain(sender)
    assert len(smtp.messages) == 12 and len(room.bodies) == 12
    assert {d.state for d in deliveries(db.engine)} == {DeliveryState.SENT}
    clock.tick(minutes=5)
    drain(sender)
    assert len(smtp.messages) == 12  # none twice


@pytest.mark.parametrize("mode", ["500", "garbage", "slow", "down"])
def test_a_bad_room_is_retried_with_backoff_and_holds_up_no_other_channel(db, smtp, room, mode):
    handlers_and_tasks(db.engine, 2, 4)
    settings = channels(smtp, room)
    run_job(JOB, db.engine, settings, NOW)
    room.mode, room.slow_s = mode, 5.0
    if mode == "down":
        room.close()
    clock = Clock()
    sender = DeliverySender(settings, db.engine, clock=clock)
    drain(sender)
    assert len(smtp.messages) == 4
    rows = deliveries(db.engine, channel="room")
    tried = [r for r in rows if r.tries]
    assert len(tried) == 1 and tried[0].state == DeliveryState.PENDING and tried[0].last_error
    assert tried[0].next_try_at <= NOW + timedelta(minutes=1)
    assert "://" not in tried[0].last_error  # the error quotes no URL (a robot's token is in its path)
    # Backoff: the channel rests, then is tried again; never more than a minute apart.
    clock.tick(seconds=61)
    sender.run_once()
    assert sum(r.tries for r in deliveries(db.engine, channel="room")) == 2


def test_a_slow_room_that_accepts_spends_only_its_share_of_a_pass(db, smtp, room, monkeypatch):
    """A room that answers every send, slowly, has a backlog: each pass gives it its share and
    ends, so the next pass of every other channel begins on time; nothing is lost or sent twice."""
    monkeypatch.setattr(sender_module, "PASS_S", 1.0)
    handlers_and_tasks(db.engine, 2, 12)
    settings = channels(smtp, room)
    run_job(JOB, db.engine, settings, NOW)
    room.mode, room.slow_s = "slow", 0.3
    sender = DeliverySender(settings, db.engine, clock=Clock())
    sent = sender.run_once()
    assert sent["mail"] == 12 and 1 <= sent["room"] < 12 and sender._more  # the room's share, no more
    drain(sender)
    assert len(room.bodies) == 12 and len(smtp.messages) == 12
    assert {d.state for d in deliveries(db.engine)} == {DeliveryState.SENT}


def test_what_waits_past_give_up_after_is_failed_and_said(db, smtp, room, caplog):
    handlers_and_tasks(db.engine, 1, 2)
    settings = channels(smtp, room)
    JobRunner(settings, db.engine, clock=lambda: NOW).execute(JOB, "manual")  # a run, with its log
    room.close()
    clock = Clock()
    sender = DeliverySender(settings, db.engine, clock=clock)
    drain(sender)
    clock.tick(days=1, seconds=1)
    caplog.set_level("ERROR", "console.notify")
    assert sender.give_up() == 2
    rows = deliveries(db.engine, channel="room")
    assert {r.state for r in rows} == {DeliveryState.FAILED}
    assert "2 to channel room given up" in caplog.text
    # ... and in the log of the run that queued them, where an operator reads that run.
    run_id = rows[0].run_id
    lines = [(line.level, line.message) for line in run_log(db.engine, run_id)]
    assert ("ERROR", f"deliveries: 2 to channel room given up after 1 day, 0:00:00 (last error: {rows[0].last_error})") \
        in lines, lines


def test_a_crash_between_send_and_mark_resends_that_unit_once(db, smtp, room):
    handlers_and_tasks(db.engine, 1, 3)
    settings = channel_settings({"name": "room", "url": room.url, "events": ["warning"]})
    run_job(JOB, db.engine, settings, NOW)
    clock = Clock()
    dying = DeliverySender(settings, db.engine, clock=clock)
    # The dying sender claims a batch (all three), sends the first and dies before marking it.
    assert dying.claim(settings.channels[0]) is not None
    assert {d.state for d in deliveries(db.engine)} == {DeliveryState.SENDING}
    apprise_send.send(room.url, Message("in flight", "b", False), 2.0, [])
    heir = DeliverySender(settings, db.engine, clock=clock)
    drain(heir)
    assert len(room.bodies) == 1  # the claim holds until its lease has passed
    clock.tick(seconds=dying.lease.total_seconds() + 1)
    drain(heir)
    assert len(room.bodies) == 4  # all three; the one in flight was sent once more, no more
    clock.tick(minutes=10)
    drain(heir)
    assert len(room.bodies) == 4
    assert {r.state for r in deliveries(db.engine)} == {DeliveryState.SENT}


def test_a_digest_of_many_warnings_is_one_mail_per_handler(db, smtp, room):
    n = 10_000 if db.is_pg else 2000
    addresses = handlers_and_tasks(db.engine, 20, n)
    settings = channels(smtp, room, digest="PT15M", task_url="https://tasks.example.com/t/{task_id}")
    run_job(JOB, db.engine, settings, NOW)
    clock = Clock()
    sender = DeliverySender(settings, db.engine, clock=clock)
    drain(sender, passes=3)
    assert smtp.messages == []  # the window (16:00-16:15) is not over
    clock.tick(minutes=15)
    drain(sender, passes=3)
    assert len(smtp.messages) == 20 and len(room.bodies) == 1  # the room's digest too: one message
    for address in addresses:
        text, = smtp.to(address)
        assert f"（{n // 20} 条）" in text and "https://tasks.example.com/t/" in text
    assert {d.state for d in deliveries(db.engine, channel="mail")} == {DeliveryState.SENT}


def test_quiet_hours_hold_a_handlers_warnings_and_send_them_as_one_mail_at_their_end(db, smtp, room):
    # NOW is 16:00 in Asia/Shanghai, inside 15:00-17:00: held until 17:00, then one mail each.
    addresses = handlers_and_tasks(db.engine, 2, 6)
    settings = channel_settings(
        {"name": "mail", "url": smtp.url(), "to": "handler", "events": ["warning"], "quiet": "15:00-17:00"},
        {"name": "room", "url": room.url, "events": ["warning"]})
    run_job(JOB, db.engine, settings, NOW)
    clock = Clock()
    sender = DeliverySender(settings, db.engine, clock=clock)
    drain(sender)
    assert smtp.messages == [] and len(room.bodies) == 6  # the room has no quiet hours
    clock.tick(minutes=59)
    drain(sender)
    assert smtp.messages == []
    clock.tick(minutes=1)
    drain(sender)
    assert sorted(len(smtp.to(a)) for a in addresses) == [1, 1]
    assert all("（3 条）" in text for _, text in smtp.messages)


def test_two_channels_failing_at_once_each_keep_their_own_error(db, monkeypatch):
    """Channels send at once, each on its own thread: what Apprise logged for one is not read as
    the other's error (its LogCapture would take every thread's)."""
    import threading as _threading

    answers_500, gone = HttpReceiver(), HttpReceiver()
    answers_500.mode = "500"
    gone.close()
    handlers_and_tasks(db.engine, 1, 1)
    settings = channel_settings({"name": "five", "url": answers_500.url, "events": ["warning"]},
                                {"name": "gone", "url": gone.url, "events": ["warning"]})
    run_job(JOB, db.engine, settings, NOW)
    both = _threading.Barrier(2)
    real = apprise_send._notify

    def together(*args):  # the two sends start at the same moment, so their logs would mix
        both.wait(5)
        return real(*args)

    monkeypatch.setattr(apprise_send, "_notify", together)
    try:
        DeliverySender(settings, db.engine, clock=Clock()).run_once()
    finally:
        answers_500.close()
    five, = deliveries(db.engine, channel="five")
    gone_row, = deliveries(db.engine, channel="gone")
    assert "error=500" in five.last_error and "Connection error" not in five.last_error, five.last_error
    assert "Connection error" in gone_row.last_error and "500" not in gone_row.last_error, gone_row.last_error
