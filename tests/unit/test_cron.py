"""Crontab lines keep their standard meaning; triggers are described in words."""

from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

import pytest

from console.domain.cron import CronError, describe_cron, describe_interval, normalise_crontab
from console.scheduler.triggers import build_trigger, signature
from console.settings import TriggerSettings

TZ = ZoneInfo("Asia/Shanghai")


def test_weekday_zero_is_sunday_as_in_crontab():
    # APScheduler 3 alone would read 0 as Monday (its issue 286).
    trigger = build_trigger(TriggerSettings(cron="0 3 * * 0"), TZ)
    fire = trigger.get_next_fire_time(None, datetime(2026, 11, 23, tzinfo=TZ))  # a Monday
    assert fire == datetime(2026, 11, 29, 3, 0, tzinfo=TZ)
    assert fire.strftime("%A") == "Sunday"


def test_weekday_ranges_and_seven():
    assert normalise_crontab("0 9 * * 1-5")["day_of_week"] == "mon-fri"
    assert normalise_crontab("0 9 * * 7")["day_of_week"] == "sun"
    assert normalise_crontab("0 9 * * */2")["day_of_week"] == "*/2"


@pytest.mark.parametrize("expr", ["0 2 * *", "61 * * * *", "0 25 * * *", "0 0 * * 8", "x y z w v"])
def test_bad_lines_are_refused(expr):
    with pytest.raises(CronError):
        normalise_crontab(expr)


@pytest.mark.parametrize(
    "expr, words",
    [("0 2 * * *", "daily 02:00"), ("0 * * * *", "hourly, on the hour"), ("15 * * * *", "hourly at :15"),
     ("0 3 * * sun", "Sundays 03:00"), ("0 3 * * 0", "Sundays 03:00"), ("30 9 * * 1-5", "weekdays 09:30"),
     ("0 0 1 * *", "monthly on day 1 00:00"), ("*/5 * * * *", "cron */5 * * * *")],
)
def test_descriptions(expr, words):
    assert describe_cron(expr) == words


def test_interval_descriptions():
    assert describe_interval(timedelta(minutes=30)) == "every 30 min"
    assert describe_interval(timedelta(hours=2)) == "every 2 h"
    assert describe_interval(timedelta(seconds=45)) == "every 45 s"


def test_interval_is_aligned_to_the_clock_and_stable():
    a = build_trigger(TriggerSettings(every=timedelta(minutes=30)), TZ)
    b = build_trigger(TriggerSettings(every=timedelta(minutes=30)), TZ)
    assert signature(a) == signature(b)
    fire = a.get_next_fire_time(None, datetime(2026, 11, 28, 10, 7, tzinfo=TZ))
    assert fire == datetime(2026, 11, 28, 10, 30, tzinfo=TZ)


def test_signature_differs_when_the_trigger_changes():
    a = build_trigger(TriggerSettings(cron="0 2 * * *"), TZ)
    b = build_trigger(TriggerSettings(cron="0 3 * * *"), TZ)
    c = build_trigger(TriggerSettings(cron="0 2 * * *"), ZoneInfo("Europe/Berlin"))
    assert len({signature(a), signature(b), signature(c)}) == 3
