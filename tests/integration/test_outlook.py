"""The warning counts and the forecast the leader keeps after each pass (console.service.outlook):
readers take them while fresh, as the leader counted them, and count for themselves otherwise."""

from __future__ import annotations

from datetime import timedelta

from console.service import Service
from console.service.outlook import FRESH_S
from tests.conftest import NOW


def _service(db, settings, now):
    return Service(settings, db.engine, clock=lambda: now, slow_stats_s=float("inf"))


def _in_level(stats) -> dict[int, int]:
    return {s.level: s.in_level for s in stats.levels}


def _ahead(rows, rows_ahead_hours):
    """A task whose 80 % instant is ``rows_ahead_hours`` ahead of NOW (window 100 h)."""
    length = timedelta(hours=100)
    start = NOW + timedelta(hours=rows_ahead_hours) - length * 0.8
    return {"expected_start_time": start, "expected_end_time": start + length}


def test_readers_take_the_kept_counts_while_fresh_and_count_for_themselves_after(db, rows, settings):
    handler = rows.user()
    rows.processing(time_pct=96, progress=10, handler=handler)
    rows.task(progress=10, current_handler_id=handler, **_ahead(rows, 3.5))
    leader = _service(db, settings, NOW)
    counted = leader.warning_stats()
    forecast = leader.warning_forecast()
    leader.refresh_outlook()
    # What happens after the count: a second task reaches 5 %, another falls due in an hour.
    rows.processing(time_pct=97, progress=10, handler=handler)
    rows.task(progress=10, current_handler_id=handler, **_ahead(rows, 1.5))
    soon = _service(db, settings, NOW + timedelta(seconds=30))
    assert _in_level(soon.warning_stats()) == _in_level(counted) == {20: 0, 10: 0, 5: 1}
    kept = soon.warning_forecast()
    assert [(r.hour, r.level, r.count) for r in kept.rows] == [(r.hour, r.level, r.count) for r in forecast.rows]
    assert kept.totals[20] == 1  # the task 3.5 h from its 80 % (its 90 % and 95 % follow within the day)
    # Past FRESH_S, or asked for more than the day kept: counted afresh, the new tasks in.
    late = _service(db, settings, NOW + timedelta(seconds=FRESH_S + 1))
    assert _in_level(late.warning_stats())[5] == 2
    assert soon.warning_forecast(48).totals[20] == 2
    # The panel's counts come from the kept ones too.
    assert _in_level(soon.dashboard().warnings) == {20: 0, 10: 0, 5: 1}


def test_a_forecast_kept_last_hour_is_not_used_for_this_one(db, rows, settings):
    handler = rows.user()
    rows.task(progress=10, current_handler_id=handler, **_ahead(rows, 2.5))
    _service(db, settings, NOW).refresh_outlook()
    rows.task(progress=10, current_handler_id=handler, **_ahead(rows, 3.5))
    next_hour = _service(db, settings, NOW + timedelta(minutes=61))  # the kept day ends an hour early now
    assert next_hour.warning_forecast().totals[20] == 2
    same_hour = _service(db, settings, NOW + timedelta(minutes=1))
    assert same_hour.warning_forecast().totals[20] == 1


def test_the_leader_keeps_them_after_each_pass(db, rows, settings):
    handler = rows.user()
    rows.processing(time_pct=96, progress=10, handler=handler)
    service = Service(settings, db.engine, slow_stats_s=float("inf"))
    service.start_scheduler(kind="run")
    try:
        assert service.runner.after_pass == service.refresh_outlook
        service.live._look()  # what the pass thread does each minute
        from sqlalchemy import select

        from console.db.models import WarningOutlook
        with db.engine.connect() as conn:
            kept = conn.execute(select(WarningOutlook.counts)).scalar_one()
        assert kept == {"5": [1, 1, 0]}
    finally:
        service.stop_scheduler()
