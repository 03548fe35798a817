"""Per-task recurrence: durations, RRULEs, DST, and properties of the window arithmetic."""

from datetime import datetime, timedelta, timezone
from zoneinfo import ZoneInfo

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from console.domain.recurrence import (
    RecurrenceError,
    describe,
    due_at,
    new_window,
    next_windows,
    parse_recurrence,
)

WEEK = timedelta(days=7)
UTC = timezone.utc
BERLIN = ZoneInfo("Europe/Berlin")
NEW_YORK = ZoneInfo("America/New_York")
SHANGHAI = ZoneInfo("Asia/Shanghai")
DAILY_9 = "FREQ=DAILY;BYHOUR=9;BYMINUTE=0"


def rec(text):
    return parse_recurrence(text, WEEK)


def local(tz, *args):
    return datetime(*args, tzinfo=tz)


@pytest.mark.parametrize("text, words", [
    (None, "7 days after completion (default)"), ("P1D", "1 day after completion"),
    ("PT12H", "12 hours after completion"), ("P2W", "2 weeks after completion"), ("P1M", "1 month after completion"),
    ("FREQ=WEEKLY;BYDAY=MO;BYHOUR=9;BYMINUTE=0", "every Monday 09:00"), (DAILY_9, "every day 09:00"),
])
def test_rules_in_words(text, words):
    assert describe(rec(text)) == words


@pytest.mark.parametrize("text", ["garbage", "P", "PT", "P0D", "P1X", "FREQ=SOMETIMES", "FREQ=MINUTELY",
                                  "FREQ=DAILY;BYHOUR=25", "DTSTART:20200101T000000\nRRULE:FREQ=DAILY"])
def test_garbage_is_refused(text):
    with pytest.raises(RecurrenceError):
        rec(text)


def test_default_is_the_seed_rule():
    end = datetime(2026, 11, 20, 10, tzinfo=UTC)
    assert due_at(rec(None), cycle_start=None, actual_end=end, tz=SHANGHAI) == end + WEEK
    now = datetime(2026, 11, 28, tzinfo=UTC)
    assert new_window(rec(""), now=now, cycle_start=None, cycle_end=None, tz=SHANGHAI,
                      default_period=WEEK) == (now, now + WEEK)


def test_p1d_is_due_a_day_after_completion():
    end = datetime(2026, 11, 27, 15, 30, tzinfo=UTC)
    assert due_at(rec("P1D"), cycle_start=None, actual_end=end, tz=SHANGHAI) == end + timedelta(days=1)


def test_p1m_is_a_calendar_month():
    end = local(SHANGHAI, 2026, 1, 31, 10)
    assert due_at(rec("P1M"), cycle_start=None, actual_end=end, tz=SHANGHAI) == local(SHANGHAI, 2026, 2, 28, 10)


@pytest.mark.parametrize("tz, before, after", [
    (BERLIN, (2026, 3, 28), (2026, 3, 30)),  # spring forward on 29 March
    (BERLIN, (2026, 10, 24), (2026, 10, 26)),  # fall back on 25 October
    (NEW_YORK, (2026, 3, 7), (2026, 3, 9)),  # spring forward on 8 March
    (NEW_YORK, (2026, 10, 31), (2026, 11, 2)),  # fall back on 1 November
])
def test_daily_9am_stays_at_9am_across_dst(tz, before, after):
    start = local(tz, *before, 9, 0)
    windows = next_windows(rec(DAILY_9), now=start, cycle_start=start, cycle_end=start + timedelta(hours=8),
                           actual_end=None, count=4, tz=tz, default_period=WEEK)
    assert [w[0].astimezone(tz).hour for w in windows] == [9, 9, 9, 9]
    offsets = {start.utcoffset()} | {w[0].astimezone(tz).utcoffset() for w in windows}
    assert len(offsets) == 2  # the clocks changed after the cycle started, and 09:00 held
    assert all(w[1] - w[0] == timedelta(hours=8) for w in windows)


def test_p1d_keeps_the_wall_clock_across_dst():
    end = local(BERLIN, 2026, 3, 28, 9, 0)
    assert due_at(rec("P1D"), cycle_start=None, actual_end=end, tz=BERLIN).astimezone(BERLIN).hour == 9
    assert due_at(rec("PT24H"), cycle_start=None, actual_end=end, tz=BERLIN).astimezone(BERLIN).hour == 10


def test_a_skipped_hour_lands_as_clocks_show_it_and_a_repeated_one_fires_once():
    rule = rec("FREQ=DAILY;BYHOUR=2;BYMINUTE=30")
    spring = next_windows(rule, now=local(BERLIN, 2026, 3, 28, 3), cycle_start=local(BERLIN, 2026, 3, 28, 3),
                          cycle_end=None, actual_end=None, count=2, tz=BERLIN, default_period=WEEK)
    assert [w[0].astimezone(BERLIN).strftime("%d %H:%M") for w in spring] == ["29 03:30", "30 02:30"]
    autumn = next_windows(rule, now=local(BERLIN, 2026, 10, 24, 3), cycle_start=local(BERLIN, 2026, 10, 24, 3),
                          cycle_end=None, actual_end=None, count=3, tz=BERLIN, default_period=WEEK)
    days = [w[0].astimezone(BERLIN).strftime("%d %H:%M") for w in autumn]
    assert days == ["25 02:30", "26 02:30", "27 02:30"]


def test_weekly_rule_resets_after_the_next_monday_with_the_planned_length():
    rule = rec("FREQ=WEEKLY;BYDAY=MO;BYHOUR=9;BYMINUTE=0")
    cycle_start = local(SHANGHAI, 2026, 11, 16, 9)  # a Monday
    due = due_at(rule, cycle_start=cycle_start, actual_end=local(SHANGHAI, 2026, 11, 18, 17), tz=SHANGHAI)
    assert due == local(SHANGHAI, 2026, 11, 23, 9)
    now = local(SHANGHAI, 2026, 11, 23, 9, 3)
    start, end = new_window(rule, now=now, cycle_start=cycle_start, cycle_end=cycle_start + timedelta(hours=8),
                            tz=SHANGHAI, default_period=WEEK)
    assert (start, end - start) == (local(SHANGHAI, 2026, 11, 23, 9), timedelta(hours=8))


def test_missed_occurrences_leave_no_backlog():
    rule = rec(DAILY_9)
    cycle_start = local(SHANGHAI, 2026, 11, 1, 9)
    now = local(SHANGHAI, 2026, 11, 28, 14)  # 27 occurrences later
    start, _ = new_window(rule, now=now, cycle_start=cycle_start, cycle_end=None, tz=SHANGHAI, default_period=WEEK)
    assert start == local(SHANGHAI, 2026, 11, 28, 9)


RULES = st.sampled_from([None, "P1D", "PT12H", "P2W", "P1M", DAILY_9, "FREQ=WEEKLY;BYDAY=MO;BYHOUR=9;BYMINUTE=0",
                         "FREQ=WEEKLY;BYDAY=MO,TU,WE,TH,FR;BYHOUR=8;BYMINUTE=30", "FREQ=MONTHLY;BYMONTHDAY=1;BYHOUR=6",
                         "FREQ=HOURLY;INTERVAL=6", "FREQ=DAILY;BYHOUR=2;BYMINUTE=30"])
ZONES = st.sampled_from([BERLIN, NEW_YORK, SHANGHAI, ZoneInfo("UTC"), ZoneInfo("Australia/Lord_Howe")])
INSTANTS = st.datetimes(min_value=datetime(2020, 1, 1), max_value=datetime(2035, 1, 1)).map(
    lambda d: d.replace(tzinfo=UTC))


@settings(max_examples=300, deadline=None)
@given(RULES, ZONES, INSTANTS, st.integers(min_value=0, max_value=60 * 24 * 40), st.integers(1, 60 * 24 * 10))
def test_reset_windows_are_never_empty_never_in_the_future_and_need_no_catch_up(text, tz, cycle_start, late_min,
                                                                                length_min):
    rule = rec(text)
    cycle_end = cycle_start + timedelta(minutes=length_min)
    due = due_at(rule, cycle_start=cycle_start, actual_end=cycle_end, tz=tz)
    assert due is not None and due > cycle_start
    now = due + timedelta(minutes=late_min)  # the job runs at or after the due instant
    start, end = new_window(rule, now=now, cycle_start=cycle_start, cycle_end=cycle_end, tz=tz, default_period=WEEK)
    assert end > start  # never empty
    assert start <= now  # never starts in the future at reset
    if rule.rule is not None:
        # No catch-up: the window starts at the latest occurrence, so the next one is in the future.
        nxt = due_at(rule, cycle_start=start, actual_end=end, tz=tz)
        assert nxt is None or nxt > now
        assert end - start == cycle_end - cycle_start


@settings(max_examples=200, deadline=None)
@given(RULES, ZONES, INSTANTS, st.integers(1, 8))
def test_next_windows_go_forward(text, tz, now, count):
    windows = next_windows(rec(text), now=now, cycle_start=now, cycle_end=now + timedelta(hours=4), actual_end=None,
                           count=count, tz=tz, default_period=WEEK)
    assert len(windows) == count
    assert all(end > start for start, end in windows)
    assert all(b[0] > a[0] for a, b in zip(windows, windows[1:]))
