"""The outbox (issue #28): deliveries written with the notification that caused them, once each,
for each channel that takes the event; on SQLite and PostgreSQL."""

from datetime import timedelta

import pytest
from sqlalchemy import update

from console.db.models import User

from console.domain.deliveries import DeliveryEvent, DeliveryState
from tests.conftest import NOW
from tests.integration.deliveries_helpers import channel_settings, deliveries
from tests.integration.helpers import failing_inserts_into, ledger, notifications, run_job

JOB = "check_task_warnings"
ROOM = {"name": "room", "url": "json://127.0.0.1:9/hook"}
MAIL = {"name": "mail", "url": "mailto://127.0.0.1:9?to={email}", "to": "handler", "events": ["warning"]}


def test_each_warning_is_queued_once_for_the_room_and_once_for_its_handler(db, rows):
    settings = channel_settings(ROOM, MAIL)
    a, b = rows.user("a@example.com"), rows.user("b@example.com")
    t1 = rows.processing(time_pct=96, progress=10, handler=a, title="预算")
    t2 = rows.processing(time_pct=91, progress=10, handler=b)
    rows.processing(time_pct=96, progress=10, handler=None)  # no handler: no warning, no delivery
    counts = run_job(JOB, db.engine, settings, NOW)
    assert counts["notified"] == 2 and counts["deliveries_queued"] == 4
    room = deliveries(db.engine, channel="room")
    mail = deliveries(db.engine, channel="mail")
    assert sorted((d.task_id, d.level, d.address) for d in room) == [(t1, 5, None), (t2, 10, None)]
    assert sorted((d.task_id, d.address) for d in mail) == [(t1, "a@example.com"), (t2, "b@example.com")]
    assert {d.event for d in room + mail} == {DeliveryEvent.WARNING}
    assert {d.state for d in room + mail} == {DeliveryState.PENDING}
    first = next(d for d in mail if d.task_id == t1)
    assert first.subject == "预算" and first.progress == 10 and first.deadline is not None
    assert first.next_try_at == NOW and not first.held
    # A second run sends no warning, so it queues nothing.
    run_job(JOB, db.engine, settings, NOW + timedelta(minutes=30))
    assert len(deliveries(db.engine)) == 4


def test_a_channel_takes_only_its_levels_and_events(db, rows):
    settings = channel_settings({**ROOM, "levels": [5]}, {**MAIL, "events": ["reset"]})
    handler = rows.user("h@example.com")
    five = rows.processing(time_pct=96, progress=10, handler=handler)
    rows.processing(time_pct=85, progress=10, handler=handler)
    run_job(JOB, db.engine, settings, NOW)
    assert [(d.channel, d.task_id) for d in deliveries(db.engine)] == [("room", five)]


def test_a_handler_without_an_address_gets_the_notification_but_no_mail(db, rows):
    settings = channel_settings(MAIL)
    handler = rows.user()
    with db.engine.begin() as conn:
        conn.execute(update(User).where(User.id == handler).values(name=""))
    rows.processing(time_pct=96, progress=10, handler=handler)
    run_job(JOB, db.engine, settings, NOW)
    assert len(notifications(db.engine)) == 1 and deliveries(db.engine) == []


def test_a_failed_outbox_write_rolls_back_the_warning_and_its_notification(db, rows):
    settings = channel_settings(ROOM)
    rows.processing(time_pct=96, progress=10, handler=rows.user("h@example.com"))
    with failing_inserts_into(db.engine, "deliveries"), pytest.raises(Exception, match="injected failure"):
        run_job(JOB, db.engine, settings, NOW)
    assert ledger(db.engine) == [] and notifications(db.engine) == [] and deliveries(db.engine) == []
    run_job(JOB, db.engine, settings, NOW)
    assert len(ledger(db.engine)) == 1 and len(deliveries(db.engine)) == 1


def test_a_digest_channel_waits_for_the_end_of_its_window_and_quiet_hours_hold(db, rows):
    # NOW is 16:00 in Asia/Shanghai: a PT15M digest waits until 16:15; quiet hours 15:00-17:00 until 17:00.
    settings = channel_settings({**ROOM, "digest": "PT15M"}, {**MAIL, "quiet": "15:00-17:00"})
    rows.processing(time_pct=96, progress=10, handler=rows.user("h@example.com"))
    run_job(JOB, db.engine, settings, NOW)
    room, = deliveries(db.engine, channel="room")
    mail, = deliveries(db.engine, channel="mail")
    assert room.next_try_at == NOW + timedelta(minutes=15) and not room.held
    assert mail.next_try_at == NOW + timedelta(hours=1) and mail.held


def test_a_reset_is_queued_with_its_notification(db, rows):
    settings = channel_settings({**ROOM, "events": ["reset"]})
    handler = rows.user("h@example.com")
    task_id = rows.task(category="periodic", status="completed", current_handler_id=handler,
                        actual_end_time=NOW - timedelta(days=8), title="周报")
    run_job("reset_periodic_tasks", db.engine, settings, NOW)
    row, = deliveries(db.engine)
    assert (row.event, row.task_id, row.subject) == (DeliveryEvent.RESET, task_id, "周报")
    assert len(notifications(db.engine, "任务重置")) == 1


def test_retention_deletes_old_ended_deliveries_and_their_count_stays(db, rows):
    from sqlalchemy import update as update_

    from console.db.models import Delivery
    from console.service.deliveries import Deliveries

    settings = channel_settings(ROOM)
    rows.processing(time_pct=96, progress=10, handler=rows.user("h@example.com"))
    rows.processing(time_pct=96, progress=10, handler=rows.user("i@example.com"))
    run_job(JOB, db.engine, settings, NOW)
    first, second = deliveries(db.engine)
    with db.engine.begin() as conn:
        conn.execute(update_(Delivery).where(Delivery.id == first.id).values(state=DeliveryState.SENT))
    before = Deliveries(db.engine, settings).counts()
    counts = run_job("cleanup_old_data", db.engine, settings, NOW + settings.run_history.keep + timedelta(days=1))
    assert counts["deleted_deliveries"] == 1  # the pending one stays, however old
    assert [d.id for d in deliveries(db.engine)] == [second.id]
    assert Deliveries(db.engine, settings).counts() == before == ({("room", "sent"): 1, ("room", "failed"): 0},
                                                                   {"room": 1})


def test_a_job_that_fails_for_good_is_queued_to_the_room_and_to_each_admin_never_held(db, rows):
    from tests.integration.test_runner import failing_jobs

    from console.scheduler.runner import JobRunner

    settings = channel_settings(
        {"name": "room", "url": "json://127.0.0.1:9/hook", "events": ["job_failure", "job_missed"]},
        {**MAIL, "events": ["job_failure"], "quiet": "00:00-23:59", "digest": "PT1H"},
        jobs={"check_task_warnings": {"retries": 0, "retry_delay": 0}})
    rows.user("root@example.com", admin=True)
    rows.user("ops@example.com", admin=True)
    rows.user("someone@example.com")
    jobs, _ = failing_jobs(times=99)
    runner = JobRunner(settings, db.engine, jobs=jobs, clock=lambda: NOW)
    result = runner.execute("check_task_warnings", "scheduled")
    assert result.status == "failed"
    room, = deliveries(db.engine, channel="room")
    assert (room.event, room.subject, room.detail, room.run_id) == (DeliveryEvent.JOB_FAILURE, JOB, "boom 1",
                                                                   result.run_id)
    mail = deliveries(db.engine, channel="mail")
    assert sorted(d.address for d in mail) == ["ops@example.com", "root@example.com"]
    assert all(d.next_try_at == NOW and not d.held for d in mail + [room])  # an admin's alert waits for nothing
    assert len(notifications(db.engine, "系统错误")) == 2
    runner.record_missed(JOB, NOW)
    assert [d.event for d in deliveries(db.engine, channel="room")] == [DeliveryEvent.JOB_FAILURE,
                                                                        DeliveryEvent.JOB_MISSED]
