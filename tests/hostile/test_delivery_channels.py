"""What a careless or hostile operator, task title or receiver does to deliveries (issue #28):
bad channel settings refused naming the key, no secret quoted; titles that try markup or escape
sequences reach the receiver as data; a receiver answering garbage leaves the rest untouched."""

from __future__ import annotations

import pytest

from console.domain.deliveries import DeliveryState
from console.notify.sender import DeliverySender
from console.settings import SettingsError, load_settings
from tests.conftest import NOW
from tests.integration.deliveries_helpers import HttpReceiver, channel_settings, deliveries
from tests.integration.helpers import assert_one_clean_error, run_cli, run_job
from tests.integration.test_deliveries_sender import Clock, drain

EMAIL = "task_system: {columns: {users: {name: null, email: name}}}\n"
REFUSED = [
    ("channels: [{name: a, url: 'json://h/x', events: [everything]}]\n", "channels.0.events", "warning"),
    ("channels: [{name: a, url: 'json://h/x', digest: PT30S}]\n", "channels.0.digest", "PT1M"),
    ("channels: [{name: a, url: 'json://h/x', digest: P2D}]\n", "channels.0.digest", "P1D"),
    ("channels: [{name: a, url: 'json://h/x', quiet: '22:00-08:00'}]\n", "channels.0", "personal"),
    (EMAIL + "channels: [{name: a, url: 'mailto://h', to: handler, quiet: '25:00-08:00'}]\n", "channels.0.quiet",
     "HH:MM"),
    ("channels: [{name: a, url: 'mailto://u:hunter2@h?to={email}', to: handler}]\n", "channels", "users.email"),
    (EMAIL + "channels: [{name: a, url: 'mailto://u:hunter2@h', to: handler}]\n", "channels.0", "{email}"),
    ("channels: [{name: a, url: 'json://u:hunter2@h/{token}'}]\n", "channels.0", "unknown placeholder"),
    ("channels: [{name: a, url: 'json://h/x'}, {name: a, url: 'json://h/y'}]\n", "channels", "used twice"),
    ("channels: [{name: 'a b;rm', url: 'json://h/x'}]\n", "channels.0.name", "letters"),
    ("channels: [{name: a, url: 'no scheme here'}]\n", "channels.0", "Apprise URL"),
    ("channels: [{name: a, url: 'json://h/x', task_url: 'https://t/{id}'}]\n", "channels.0.task_url", "{task_id}"),
    ("channels: [{name: a, url: 'mailto://u:hunter2@h', fields: true}]\n", "channels.0", "json://"),
    ("alerts: {webhook_url: 'https://u:hunter2@h/x'}\nchannels: [{name: webhook, url: 'json://h/x'}]\n", "channels",
     "alerts.webhook_url's channel"),
    ("delivery: {send_timeout: PT0S}\n", "delivery.send_timeout", "PT1S"),
    ("delivery: {give_up_after: P90D}\n", "delivery.give_up_after", "P30D"),
]


@pytest.mark.parametrize("body, key, words", REFUSED, ids=[r[1] + ":" + r[2] for r in REFUSED])
def test_a_bad_channel_is_refused_naming_the_key_and_quoting_no_password(tmp_path, body, key, words):
    (tmp_path / "s.yaml").write_text(body, encoding="utf-8")
    with pytest.raises(SettingsError) as err:
        load_settings(tmp_path / "s.yaml", env={})
    message = str(err.value)
    assert f": {key}" in message and words in message and "hunter2" not in message, message


def test_a_bad_channel_stops_a_command_with_exit_2_and_one_line(tmp_path, sqlite_db):
    (tmp_path / "s.yaml").write_text("channels: [{name: a, url: 'json://u:hunter2@h/x', digest: PT5S}]\n")
    proc = run_cli(["jobs", "list"], env={"TASKCONSOLE_CONFIG": str(tmp_path / "s.yaml"),
                                          "TASKCONSOLE_DATABASE_URL": sqlite_db.url}, cwd=tmp_path)
    line = assert_one_clean_error(proc)
    assert "channels.0.digest" in line and "hunter2" not in line


def test_titles_are_data_all_the_way_to_the_receiver(db, rows):
    room = HttpReceiver()
    try:
        settings = channel_settings({"name": "room", "url": room.url, "events": ["warning"], "locale": "en"})
        title = "[red]x[/red] **bold** {level} \x1b]0;pwned\x07 \u202egnp.exe"
        rows.processing(time_pct=96, progress=10, handler=rows.user("h@example.com"), title=title)
        run_job("check_task_warnings", db.engine, settings, NOW)
        drain(DeliverySender(settings, db.engine, clock=Clock()))
        body, = room.bodies
        message = body["message"]
        assert "[red]x[/red] **bold** {level}" in message  # not interpreted, not a template
        assert "\x1b" not in message and "\x07" not in message and "\u202e" not in message
    finally:
        room.close()


def test_a_receiver_answering_garbage_fails_only_its_own_row(db, rows):
    room, good = HttpReceiver(), HttpReceiver()
    try:
        room.mode = "garbage"
        settings = channel_settings({"name": "room", "url": room.url, "events": ["warning"]},
                                    {"name": "good", "url": good.url, "events": ["warning"]},
                                    delivery={"send_timeout": "PT2S"})
        rows.processing(time_pct=96, progress=10, handler=rows.user("h@example.com"))
        run_job("check_task_warnings", db.engine, settings, NOW)
        drain(DeliverySender(settings, db.engine, clock=Clock()))
        assert len(good.bodies) == 1
        bad, = deliveries(db.engine, channel="room")
        assert bad.state == DeliveryState.PENDING and bad.tries == 1 and bad.last_error
    finally:
        room.close()
        good.close()


def test_a_markdown_robot_gets_the_title_escaped_never_read_as_markup(db, rows, monkeypatch):
    """DingTalk (Markdown) cannot be pointed at a local address: the transport is captured instead."""
    sent = []
    settings = channel_settings({"name": "ding", "url": "dingtalk://${TASKCONSOLE_TEST_DING}/", "events": ["warning"]})
    rows.processing(time_pct=96, progress=10, handler=rows.user("h@example.com"), title="**all** [click](http://x)")
    run_job("check_task_warnings", db.engine, settings, NOW)
    sender = DeliverySender(settings, db.engine, clock=Clock(),
                            transport=lambda url, message, timeout, secrets: sent.append(
                                (url, message.body, message.markdown, secrets)))
    monkeypatch.setenv("TASKCONSOLE_TEST_DING", "t0ken")
    drain(sender)
    (url, body, markdown, secrets), = sent
    assert url == "dingtalk://t0ken/" and markdown and secrets == ["t0ken"]
    assert r"\*\*all\*\* \[click\]\(http://x\)" in body
