"""The outbox as the command line, the metrics and config check see it (issue #28), on SQLite and
PostgreSQL: deliveries list (newest first, by state, JSON), retry, channels test, the counters."""

import json
from datetime import datetime, timedelta, timezone

import yaml

from console.domain.deliveries import DeliveryState
from console.notify.sender import DeliverySender
from console.service import open_service
from console.web.prometheus import exposition
from tests.conftest import NOW
from tests.integration.deliveries_helpers import HttpReceiver, channel_settings, deliveries
from tests.integration.helpers import assert_one_clean_error, invoke, run_job
from tests.integration.test_deliveries_sender import Clock, drain, handlers_and_tasks


def _config(tmp_path, *channels, **more):
    path = tmp_path / "settings.yaml"
    path.write_text(yaml.safe_dump({
        "channels": list(channels), "task_system": {"columns": {"users": {"name": None, "email": "name"}}}, **more}))
    return path


def test_list_retry_and_the_counters_that_never_fall(db, tmp_path):
    room = HttpReceiver()
    try:
        channel = {"name": "room", "url": room.url, "events": ["warning"]}
        settings = channel_settings(channel, delivery={"give_up_after": "PT1M"})
        config = _config(tmp_path, channel, delivery={"give_up_after": "PT1M"})
        handlers_and_tasks(db.engine, 1, 3)
        run_job("check_task_warnings", db.engine, settings, NOW)
        room.mode = "500"
        clock = Clock()
        sender = DeliverySender(settings, db.engine, clock=clock)
        drain(sender)
        clock.tick(minutes=2)
        assert sender.give_up() == 3

        listed = invoke(["deliveries", "list", "--state", "failed", "--json"], url=db.url, cwd=tmp_path, config=config)
        assert listed.returncode == 0, listed.stderr
        rows = json.loads(listed.stdout)
        assert [r["id"] for r in rows] == sorted((r["id"] for r in rows), reverse=True)  # newest first
        assert {(r["channel"], r["event"], r["recipient"], r["state"]) for r in rows} == {
            ("room", "warning", "group", "failed")}
        assert any("HTTP" in (r["last_error"] or "") or r["last_error"] for r in rows)
        text = invoke(["deliveries", "list"], url=db.url, cwd=tmp_path, config=config)
        assert "room" in text.stdout and "failed" in text.stdout

        service = open_service(settings.model_copy(update={"database": settings.database.model_copy(
            update={"url": db.url})}))
        before = exposition(service.metrics_reader().read()).decode()
        assert 'taskconsole_deliveries_total{channel="room",state="failed"} 3.0' in before
        assert 'taskconsole_delivery_backlog{channel="room"} 0.0' in before

        first = rows[-1]["id"]
        assert invoke(["deliveries", "retry", str(first)], url=db.url, cwd=tmp_path, config=config).returncode == 0
        assert invoke(["deliveries", "retry", "--failed"], url=db.url, cwd=tmp_path, config=config).returncode == 0
        assert {d.state for d in deliveries(db.engine)} == {DeliveryState.PENDING}
        room.mode = "ok"
        drain(DeliverySender(settings, db.engine, clock=Clock(datetime.now(timezone.utc) + timedelta(seconds=5))))
        assert len(room.bodies) == 3
        after = exposition(service.metrics_reader().read()).decode()
        assert 'taskconsole_deliveries_total{channel="room",state="failed"} 3.0' in after  # never falls
        assert 'taskconsole_deliveries_total{channel="room",state="sent"} 3.0' in after
        service.engine.dispose()

        refused = invoke(["deliveries", "retry", str(first)], url=db.url, cwd=tmp_path, config=config)
        assert "only a failed one" in assert_one_clean_error(refused)
        assert_one_clean_error(invoke(["deliveries", "retry", "999999"], url=db.url, cwd=tmp_path, config=config))
    finally:
        room.close()


def test_channels_test_sends_one_message_and_a_dead_channel_exits_2(tmp_path, sqlite_db):
    room = HttpReceiver()
    try:
        config = _config(tmp_path, {"name": "room", "url": room.url},
                         {"name": "gone", "url": "json://127.0.0.1:9/x?token=s3cret"},
                         {"name": "mail", "url": "mailto://127.0.0.1:9?to={email}", "to": "handler"})
        sent = invoke(["channels", "test", "room"], url=sqlite_db.url, cwd=tmp_path, config=config)
        assert sent.returncode == 0, sent.stderr
        assert len(room.bodies) == 1 and "taskconsole" in room.bodies[0]["title"]
        gone = assert_one_clean_error(invoke(["channels", "test", "gone"], url=sqlite_db.url, cwd=tmp_path,
                                             config=config))
        assert "gone" in gone and "s3cret" not in gone
        assert "--to" in assert_one_clean_error(invoke(["channels", "test", "mail"], url=sqlite_db.url,
                                                       cwd=tmp_path, config=config))
        assert "no channel" in assert_one_clean_error(invoke(["channels", "test", "nope"], url=sqlite_db.url,
                                                             cwd=tmp_path, config=config))
    finally:
        room.close()


def test_config_check_names_every_channel_url_apprise_cannot_parse_and_masks_them(tmp_path, sqlite_db):
    config = _config(tmp_path, {"name": "ok", "url": "json://127.0.0.1:9/hook?token=s3cret"},
                     {"name": "bad", "url": "nonsense://x"},
                     {"name": "env", "url": "dingtalk://${TASKCONSOLE_TEST_NO_SUCH_VAR}/"})
    checked = invoke(["config", "check", "--json", "--show"], url=sqlite_db.url, cwd=tmp_path, config=config)
    assert checked.returncode == 2
    out = json.loads(checked.stdout)
    keys = [p["key"] for p in out["problems"]]
    assert keys == ["channels.1.url", "channels.2.url"], out
    assert "s3cret" not in checked.stdout
