"""A processing task whose deadline has passed is at 100 % time progress, whatever its start (issue
#27): the warning check, the time-progress job, the panels and the near list say so on both
backends, as ``console.domain.rules.time_progress`` does; an inverted window still ahead is at 0 %.
"""

from __future__ import annotations

from datetime import timedelta

from console.domain.rules import time_progress, warning_level
from console.service.dashboard import warning_stats
from console.service.near import near_tasks
from tests.conftest import DEMO_TABLES, NOW
from tests.integration.helpers import ledger, notifications, run_job, task


def test_an_overdue_inverted_window_gets_the_most_severe_level_once_per_cycle(db, rows, settings):
    handler = rows.user()
    start, end = NOW + timedelta(days=3), NOW - timedelta(hours=1)  # starts after its deadline, which passed
    overdue = rows.task(progress=10, current_handler_id=handler, expected_start_time=start, expected_end_time=end)
    assert warning_level(time_progress(start, end, NOW), 10, settings.warnings.levels) == 5
    counts = run_job("check_task_warnings", db.engine, settings, NOW)
    assert (counts["notified"], counts["level_5"]) == (1, 1) and "skipped_inverted_window" not in counts
    assert [(r.task_id, r.level) for r in ledger(db.engine)] == [(overdue, 5)]
    assert run_job("check_task_warnings", db.engine, settings, NOW + timedelta(minutes=5))["notified"] == 0
    assert len(notifications(db.engine)) == 1
    run_job("update_time_progress", db.engine, settings, NOW)
    assert task(db.engine, overdue).time_progress == 100
    levels = warning_stats(db.engine, DEMO_TABLES, NOW, settings.warnings.levels).levels
    assert {s.level: (s.in_level, s.pending) for s in levels} == {20: (0, 0), 10: (0, 0), 5: (1, 0)}
    [near] = near_tasks(db.engine, DEMO_TABLES, NOW, settings.warnings.levels)
    assert (near.task_id, near.level, near.time_progress) == (overdue, 5, 100.0)


def test_an_inverted_window_whose_deadline_is_ahead_is_not_started_until_it(db, rows, settings):
    handler = rows.user()
    end = NOW + timedelta(hours=1)
    ahead = rows.task(progress=10, current_handler_id=handler, expected_start_time=NOW + timedelta(hours=5),
                      expected_end_time=end)
    assert run_job("check_task_warnings", db.engine, settings, NOW)["notified"] == 0
    run_job("update_time_progress", db.engine, settings, NOW)
    assert task(db.engine, ahead).time_progress == 0
    [near] = near_tasks(db.engine, DEMO_TABLES, NOW, settings.warnings.levels)
    # Its next threshold is its deadline, where it reaches the most severe level its work is behind.
    assert (near.level, near.next_level, near.next_at, near.time_progress) == (None, 5, end, 0.0)
    later = end + timedelta(seconds=1)
    assert run_job("check_task_warnings", db.engine, settings, later)["level_5"] == 1
