"""The pure job rules, with the seed document's own cases and every boundary."""

from datetime import datetime, timedelta, timezone

import pytest

from console.domain.rules import (
    next_threshold,
    next_window,
    repeat_due,
    reset_due,
    threshold_instant,
    time_progress,
    warning_level,
    window_problem,
    progress_problem,
)

T0 = datetime(2026, 1, 1, tzinfo=timezone.utc)
T1 = T0 + timedelta(hours=100)


def test_seed_case_time_95_progress_60_is_level_5():
    assert warning_level(95, 60) == 5


@pytest.mark.parametrize(
    "time_pct, progress, level",
    [
        (79.99, 0, None),
        (80, 79.99, 20),
        (80, 80, None),  # work caught up exactly with the threshold: no warning
        (89.99, 50, 20),
        (90, 89.99, 10),
        (90, 90, None),  # at 90 % time with 90 % work: not behind for 10, nor for 20 (90 >= 80)
        (90, 85, 10),
        (94.99, 10, 10),
        (95, 94.99, 5),
        (95, 95, None),
        (95, 92, 5),  # 92 is still below 95
        (96, 96, None),  # ahead of every threshold it has reached
        (100, 0, 5),
        (100, 100, None),
        (0, 0, None),
    ],
)
def test_warning_level_boundaries(time_pct, progress, level):
    assert warning_level(time_pct, progress) == level


def test_only_the_most_severe_level_is_given():
    # At 97 % time and 10 % work every level applies; only 5 is reported.
    assert warning_level(97, 10) == 5


def test_time_progress_is_elapsed_share_clamped():
    assert time_progress(T0, T1, T0) == 0
    assert time_progress(T0, T1, T0 + timedelta(hours=95)) == pytest.approx(95)
    assert time_progress(T0, T1, T1) == 100
    assert time_progress(T0, T1, T0 - timedelta(hours=5)) == 0
    assert time_progress(T0, T1, T1 + timedelta(days=3)) == 100


def test_time_progress_refuses_a_missing_window_end():
    with pytest.raises(ValueError):
        time_progress(None, T0, T0)


def test_a_passed_deadline_is_100_whatever_the_start_and_an_inverted_window_ahead_is_0():
    assert time_progress(T1, T0, T0) == 100  # inverted, deadline reached
    assert time_progress(T1, T0, T0 + timedelta(seconds=1)) == 100
    assert time_progress(T1, T0, T0 - timedelta(seconds=1)) == 0  # inverted, deadline ahead: not started
    assert time_progress(T0, T0, T0) == 100  # zero length, at its deadline
    assert warning_level(time_progress(T1, T0, T1), 10) == 5  # the most severe level


@pytest.mark.parametrize(
    "start, end, problem",
    [(None, T1, "no_window"), (T0, None, "no_window"), (T1, T0, None), (T0, T0, None), (T0, T1, None)],
)
def test_window_problems(start, end, problem):
    assert window_problem(start, end) == problem


@pytest.mark.parametrize("progress, problem", [(None, "bad_progress"), (-1, "bad_progress"), (100.5, "bad_progress"),
                                               (0, None), (100, None)])
def test_progress_problems(progress, problem):
    assert progress_problem(progress) == problem


def test_seed_case_periodic_completed_8_days_ago_is_reset():
    now = T0 + timedelta(days=30)
    assert reset_due(now - timedelta(days=8), now, timedelta(days=7))


@pytest.mark.parametrize("ago, due", [(timedelta(days=7), True), (timedelta(days=7) - timedelta(seconds=1), False),
                                      (timedelta(days=6), False)])
def test_reset_boundary_is_exactly_one_period(ago, due):
    now = T0 + timedelta(days=30)
    assert reset_due(now - ago, now, timedelta(days=7)) is due


def test_reset_needs_an_end_time():
    assert not reset_due(None, T0, timedelta(days=7))


def test_next_window_starts_now_and_lasts_a_period():
    assert next_window(T0, timedelta(days=7)) == (T0, T0 + timedelta(days=7))


def test_repeat_rules():
    day = timedelta(hours=24)
    assert repeat_due(None, T0, day)
    assert not repeat_due(T0, T0 + day - timedelta(seconds=1), day)
    assert repeat_due(T0, T0 + day, day)
    assert not repeat_due(T0, T0 + timedelta(days=365), timedelta(0))  # 0 = never again


def test_next_threshold_and_its_instant():
    assert next_threshold(50, 10).level == 20
    assert next_threshold(85, 10).level == 10
    assert next_threshold(85, 92).level == 5  # 92 < 95: the 5 % level still lies ahead
    assert next_threshold(85, 96) is None
    assert next_threshold(96, 10) is None
    assert threshold_instant(T0, T1, 80) == T0 + timedelta(hours=80)
