"""A moved deadline is not a new warning: each level once per task and cycle (issue 12, item 6).

A system that nudges deadlines used to get the same level sent again at every check, since the
warning ledger was keyed by the window. The ledger is keyed by task, cycle, level and repeat now:
a task's cycle is the run that last reset it (migration 0008). Here deadlines move by a minute
and by a day, tasks are reset by the reset job and by hand, runs race, and a database that holds
ledger rows of the old key is upgraded; on SQLite and PostgreSQL.
"""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy import Column, Integer, MetaData, Table, func, insert, select, update

from console.db.models import Notification, Task, WarningSent
from console.db.column_types import UTCDateTime
from console.service.dashboard import warning_stats
from console.service.near import near_tasks
from console.settings import Settings
from tests.conftest import DEMO_TABLES, NOW, STATE_COLUMNS, set_state
from tests.integration.helpers import ledger, notifications, run_job, task, together

CHECK = "check_task_warnings"


def _set(engine, task_id: int, **values) -> None:
    """Write the task's columns, and its stamp in task_state (as the reset job would, first)."""
    state = {k: values.pop(k) for k in STATE_COLUMNS if k in values}
    if state:
        set_state(engine, task_id, **state)
    if values:
        with engine.begin() as conn:
            conn.execute(update(Task).where(Task.id == task_id).values(**values))


def _move(engine, task_id: int, *, start: timedelta = timedelta(0), end: timedelta = timedelta(0)) -> None:
    """The task system moves the task's window (its deadline, or the whole window)."""
    t = task(engine, task_id)
    _set(engine, task_id, expected_start_time=t.expected_start_time + start, expected_end_time=t.expected_end_time + end)


def _sent(engine) -> list[tuple[int, int, int, int]]:
    return [(r.task_id, r.level, r.cycle, r.repeat_no) for r in ledger(engine)]


def _panel(engine, now, settings) -> dict[int, tuple[int, int]]:
    """level -> (tasks in it, of which pending) as the console's warning panel shows it."""
    return {s.level: (s.in_level, s.pending) for s in warning_stats(engine, DEMO_TABLES, now, settings.warnings.levels).levels}


MOVES = {  # a 10,000-hour window 96 % gone: each move leaves the task in level 5
    "deadline a minute later": dict(end=timedelta(minutes=1)),
    "deadline a day later": dict(end=timedelta(days=1)),
    "deadline a day earlier": dict(end=-timedelta(days=1)),
    "whole window a minute later": dict(start=timedelta(minutes=1), end=timedelta(minutes=1)),
}


@pytest.mark.parametrize("move", MOVES, ids=list(MOVES))
def test_a_moved_deadline_is_not_warned_again_within_repeat_after_and_once_after_it(db, rows, settings, move):
    task_id = rows.processing(time_pct=96, progress=10, handler=rows.user(), hours=10000)
    assert run_job(CHECK, db.engine, settings, NOW)["level_5"] == 1
    _move(db.engine, task_id, **MOVES[move])

    later = NOW + timedelta(hours=1)
    assert run_job(CHECK, db.engine, settings, later)["notified"] == 0
    assert _sent(db.engine) == [(task_id, 5, 0, 0)]
    # The console agrees: warned in this cycle, not pending, whatever the window now.
    assert _panel(db.engine, later, settings)[5] == (1, 0)
    [near] = near_tasks(db.engine, DEMO_TABLES, later, settings.warnings.levels)
    assert (near.task_id, near.level, near.notified_levels) == (task_id, 5, [5])

    # repeat_after (24 h) after the first send: once more, as a repeat in the same cycle.
    assert run_job(CHECK, db.engine, settings, NOW + timedelta(hours=24))["notified"] == 1
    assert run_job(CHECK, db.engine, settings, NOW + timedelta(hours=25))["notified"] == 0
    assert _sent(db.engine) == [(task_id, 5, 0, 0), (task_id, 5, 0, 1)]
    assert len(notifications(db.engine, "任务预警")) == 2


def test_a_deadline_nudged_before_every_check_is_warned_once(db, rows, settings):
    task_id = rows.processing(time_pct=85, progress=10, handler=rows.user(), hours=1000)
    for hour in range(13):  # 85 % to 86.2 %: level 20 all along
        if hour:
            _move(db.engine, task_id, end=timedelta(minutes=1))
        run_job(CHECK, db.engine, settings, NOW + timedelta(hours=hour))
    assert _sent(db.engine) == [(task_id, 20, 0, 0)]
    assert len(notifications(db.engine)) == 1


def test_a_more_severe_level_is_still_sent_and_a_level_already_sent_is_not(db, rows, settings):
    task_id = rows.processing(time_pct=85, progress=10, handler=rows.user(), hours=100)
    run_job(CHECK, db.engine, settings, NOW)  # level 20
    _move(db.engine, task_id, end=-timedelta(hours=10))  # 85 of 90 h: level 10
    assert run_job(CHECK, db.engine, settings, NOW)["level_10"] == 1
    _move(db.engine, task_id, end=timedelta(hours=10))  # back to 85 %: level 20 again, already sent
    assert run_job(CHECK, db.engine, settings, NOW)["notified"] == 0
    _move(db.engine, task_id, end=-timedelta(hours=12))  # 85 of 88 h: level 5
    assert run_job(CHECK, db.engine, settings, NOW)["level_5"] == 1
    assert [(level, cycle) for _, level, cycle, _ in _sent(db.engine)] == [(20, 0), (10, 0), (5, 0)]


def test_a_reset_by_the_reset_job_starts_a_new_cycle(db, rows):
    settings = Settings.model_validate({"warnings": {"repeat_after": 0}})  # never again in a cycle
    task_id = rows.processing(time_pct=96, progress=10, handler=rows.user(), hours=168, category="periodic")
    run_job(CHECK, db.engine, settings, NOW)
    _set(db.engine, task_id, status="completed", progress=100, actual_end_time=NOW)
    reset_at = NOW + timedelta(days=8)  # a default period (7 days) after it was finished
    assert run_job("reset_periodic_tasks", db.engine, settings, reset_at, run_id=777)["reset"] == 1
    assert (task(db.engine, task_id).status, task(db.engine, task_id).last_reset_run_id) == ("new", 777)
    _set(db.engine, task_id, status="processing", progress=10)  # the handler starts on it

    due = reset_at + timedelta(days=6.9)  # 98.6 % of the new window: level 5 again
    assert run_job(CHECK, db.engine, settings, due)["level_5"] == 1
    _move(db.engine, task_id, end=timedelta(minutes=1))  # and the new cycle's deadline moves
    assert run_job(CHECK, db.engine, settings, due + timedelta(hours=1))["notified"] == 0
    assert _sent(db.engine) == [(task_id, 5, 0, 0), (task_id, 5, 777, 0)]


@pytest.mark.parametrize("new_window", [True, False], ids=["new window", "same window"])
def test_a_reset_made_as_the_reset_job_makes_it_starts_afresh_in_the_check_and_the_panel(db, rows, settings,
                                                                                          new_window):
    task_id = rows.processing(time_pct=96, progress=10, handler=rows.user(), hours=100)
    run_job(CHECK, db.engine, settings, NOW)
    assert _panel(db.engine, NOW, settings)[5] == (1, 0)
    values = dict(last_reset_run_id=4242)  # what the reset job stamps; the task system set it going again
    if new_window:
        values.update(expected_start_time=NOW - timedelta(hours=97), expected_end_time=NOW + timedelta(hours=3))
    _set(db.engine, task_id, **values)
    assert _panel(db.engine, NOW, settings)[5] == (1, 1)  # pending again: a new cycle
    assert run_job(CHECK, db.engine, settings, NOW)["level_5"] == 1
    assert _panel(db.engine, NOW, settings)[5] == (1, 0)
    assert _sent(db.engine) == [(task_id, 5, 0, 0), (task_id, 5, 4242, 0)]


def test_a_task_the_task_system_reopens_itself_stays_in_its_cycle(db, rows, settings):
    # The documented rule: only a reset starts a cycle. Reopened with a new window, the task is
    # warned of a level it already had only after repeat_after, as a repeat.
    task_id = rows.processing(time_pct=96, progress=10, handler=rows.user(), hours=100)
    run_job(CHECK, db.engine, settings, NOW)
    _set(db.engine, task_id, status="completed")
    _set(db.engine, task_id, status="processing", expected_start_time=NOW - timedelta(hours=48),
         expected_end_time=NOW + timedelta(hours=2))
    assert run_job(CHECK, db.engine, settings, NOW + timedelta(hours=1))["notified"] == 0
    assert run_job(CHECK, db.engine, settings, NOW + timedelta(hours=24))["notified"] == 1
    assert _sent(db.engine) == [(task_id, 5, 0, 0), (task_id, 5, 0, 1)]


def test_concurrent_runs_after_moves_and_resets_send_each_warning_once(db, rows, settings):
    handler = rows.user()
    ids = [rows.processing(time_pct=96, progress=10, handler=handler, hours=1000) for _ in range(30)]
    run_job(CHECK, db.engine, settings, NOW)
    for task_id in ids:
        _move(db.engine, task_id, end=timedelta(minutes=1))
    for task_id in ids[:10]:
        _set(db.engine, task_id, last_reset_run_id=9000 + task_id)
    later = NOW + timedelta(hours=1)
    together(lambda i: run_job(CHECK, db.engine, settings, later, run_id=7000 + i))
    with db.engine.connect() as conn:
        per_task = dict(conn.execute(select(Notification.task_id, func.count()).group_by(Notification.task_id)).all())
    assert per_task == {task_id: 2 if task_id in ids[:10] else 1 for task_id in ids}
    assert len(ledger(db.engine)) == 40


def test_upgrading_keeps_the_old_ledger_rows_and_they_still_hold_back_a_send(db, rows, settings):
    from alembic import command

    from console.db import schema

    handler = rows.user()
    # a: never reset; warned twice at level 5 because its deadline moved (the old key), moved again since.
    a = rows.processing(time_pct=96, progress=10, handler=handler, hours=1000)
    # b: warned at level 5 by run 20, reset by run 50, at level 5 again in its new window.
    b = rows.processing(time_pct=96, progress=10, handler=handler, hours=1000, last_reset_run_id=50)
    # c: reset by run 50, warned at level 20 by run 60 on a window that has moved since.
    c = rows.processing(time_pct=85, progress=10, handler=handler, hours=1000, last_reset_run_id=50)
    window = {t: (task(db.engine, t).expected_start_time, task(db.engine, t).expected_end_time) for t in (a, b, c)}
    old_ledger = Table("warning_ledger", MetaData(), Column("id", Integer, primary_key=True), Column("task_id", Integer),
                       Column("level", Integer), Column("window_start", UTCDateTime), Column("window_end", UTCDateTime),
                       Column("repeat_no", Integer), Column("sent_at", UTCDateTime), Column("run_id", Integer))

    def old_row(task_id, level, end_moved_by, sent_hours_ago, run_id):
        start, end = window[task_id]
        return dict(task_id=task_id, level=level, window_start=start, window_end=end - end_moved_by, repeat_no=0,
                    sent_at=NOW - timedelta(hours=sent_hours_ago), run_id=run_id)

    cfg = schema._config()
    try:
        with db.engine.begin() as conn:
            cfg.attributes["connection"] = conn
            command.downgrade(cfg, "0007")
            conn.execute(insert(old_ledger), [
                old_row(a, 5, timedelta(minutes=2), 3, 10),
                old_row(a, 5, timedelta(minutes=1), 2, 11),
                old_row(b, 5, timedelta(hours=1000), 3, 20),
                old_row(c, 20, timedelta(hours=1), 1, 60),
            ])
            ids = list(conn.execute(select(old_ledger.c.id).order_by(old_ledger.c.id)).scalars())
        schema.upgrade(db.engine)
        assert [r.id for r in ledger(db.engine)] == ids  # every row kept
        # a's two windows are one key now (the second a repeat); b's row is of an earlier cycle.
        assert _sent(db.engine) == [(a, 5, 0, 0), (a, 5, 0, 1), (b, 5, -1, 0), (c, 20, 50, 0)]
        assert _panel(db.engine, NOW, settings) == {20: (1, 0), 10: (0, 0), 5: (2, 1)}
        counts = run_job(CHECK, db.engine, settings, NOW)
        assert (counts["notified"], [n.task_id for n in notifications(db.engine)]) == (1, [b])
        assert run_job(CHECK, db.engine, settings, NOW + timedelta(hours=1))["notified"] == 0
        assert _panel(db.engine, NOW, settings) == {20: (1, 0), 10: (0, 0), 5: (2, 0)}

        # Down and up again with the new rows: kept, and sorted into the same cycles.
        before = _sent(db.engine)
        with db.engine.begin() as conn:
            cfg.attributes["connection"] = conn
            command.downgrade(cfg, "0007")
        schema.upgrade(db.engine)
        assert _sent(db.engine) == before
        assert run_job(CHECK, db.engine, settings, NOW + timedelta(hours=2))["notified"] == 0
    finally:
        schema.upgrade(db.engine)
