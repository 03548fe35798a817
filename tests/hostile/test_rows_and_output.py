"""Rows Python cannot read, and data that would act on the terminal (issue 12, items 3 and 15).

A timestamp column can hold what a ``datetime`` cannot: 'infinity', year 200000 or 4000 BC on
PostgreSQL, text such as 30 February on SQLite. One such window made `tasks near` exit 1 and
blanked every panel of the console ("db down"). Every read of the console and the command line
now leaves such rows out and counts them: `tasks near` logs the count, the console's status line
shows it, and a task's own screen shows the stored text. Bidirectional controls (U+202E and kin)
in data are removed wherever data is shown, as control characters are; JSON keeps them, escaped.
On SQLite and PostgreSQL.
"""

from __future__ import annotations

import json
from datetime import datetime, timedelta, timezone
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import insert, text

from console.db.models import Notification
from console.domain.text import printable
from console.service import Service
from console.service.dashboard import OutOfRange, task_detail, warning_stats
from console.service.near import near_tasks
from console.settings import Settings
from console.tui.app import create_app
from console.tui.format import local_time, safe
from console.tui.inspect_screens import TaskScreen
from console.tui.widgets import NearTable, StatusBar
from tests.conftest import DEMO_TABLES, NOW, Rows
from tests.tui.conftest import loaded, settle

UTC = timezone.utc
LEVELS = Settings().warnings.levels
BIDI = "\u202a\u202b\u202c\u202d\u202e\u2066\u2067\u2068\u2069\u200e\u200f\u061c"


def _sql_time(db, when: datetime) -> str:
    """``when`` as a literal of the stored form (PostgreSQL timestamptz, SQLite's text)."""
    return f"'{when:%Y-%m-%d %H:%M:%S}+00'" if db.is_pg else f"'{when:%Y-%m-%d %H:%M:%S}.000000'"


def _window(db, task_id: int, start: str, end: str) -> None:
    """Write a window the ORM would refuse, as the task system could."""
    with db.engine.begin() as conn:
        conn.execute(text(f"UPDATE tasks SET expected_start_time = {start}, expected_end_time = {end} WHERE id = :i"),
                      {"i": task_id})


def bad_windows(db, rows: Rows, now: datetime) -> tuple[int, dict[str, int]]:
    """A healthy task in level 10 and, beside it, windows no ``datetime`` holds. Returns the healthy
    task's id and the bad ones by name; those named ``seen_*`` are ones near would otherwise show
    (in a level, or with a threshold ahead), the others it would not have shown anyway."""
    handler = rows.user()
    healthy = rows.processing(time_pct=92, progress=0, handler=handler, title="healthy")
    bad: dict[str, int] = {}

    def add(name: str, start: str, end: str, *, with_handler: bool = True) -> None:
        bad[name] = rows.task(progress=0, current_handler_id=handler if with_handler else None, title=name,
                              expected_start_time=now - timedelta(days=1), expected_end_time=now + timedelta(days=1))
        _window(db, bad[name], start, end)

    day_ago, tomorrow = _sql_time(db, now - timedelta(days=1)), _sql_time(db, now + timedelta(days=1))
    if db.is_pg:
        add("seen_end_infinity", day_ago, "'infinity'")
        add("seen_end_year_200000", day_ago, "'200000-01-01 00:00:00+00'")
        add("seen_start_4000_bc", "'4000-01-01 00:00:00+00 BC'", tomorrow)
        add("both_infinite", "'-infinity'", "'infinity'")
    else:
        add("seen_end_30_february", day_ago, "'2999-02-30 00:00:00.000000'")
        add("seen_start_30_february", f"'{now.year - 1}-02-30 08:00:00.000000'", tomorrow)
        add("end_year_10000", day_ago, "'10000-01-01 00:00:00'")
        add("end_text", day_ago, "'soon'", with_handler=False)  # a handler's watch row needs numbers
    return healthy, bad


def seen(bad: dict[str, int]) -> int:
    return sum(1 for name in bad if name.startswith("seen_"))


def test_near_tasks_leaves_out_and_counts_windows_python_cannot_read(db, rows):
    healthy, bad = bad_windows(db, rows, NOW)
    shown = near_tasks(db.engine, DEMO_TABLES, NOW, LEVELS, 20)
    assert [t.task_id for t in shown] == [healthy]
    assert shown.skipped == seen(bad) > 0
    # The healthy case pays nothing: no bad row, nothing skipped.
    with db.engine.begin() as conn:
        conn.execute(text("DELETE FROM tasks WHERE id <> :i"), {"i": healthy})
    again = near_tasks(db.engine, DEMO_TABLES, NOW, LEVELS, 20)
    assert [t.task_id for t in again] == [healthy] and again.skipped == 0


def test_near_tasks_fills_its_places_with_readable_tasks_when_bad_ones_come_first(db, rows):
    # The bad rows are the most severe and the soonest: near must still show `limit` good ones.
    healthy, bad = bad_windows(db, rows, NOW)
    handler = rows.user()
    good = [rows.processing(time_pct=pct, progress=0, handler=handler) for pct in (10, 20, 30)]
    shown = near_tasks(db.engine, DEMO_TABLES, NOW, LEVELS, 3)
    assert [t.task_id for t in shown] == [healthy, good[2], good[1]]  # in a level, then the soonest thresholds
    assert 0 < shown.skipped <= seen(bad)  # those that would have taken one of the 3 places


def test_tasks_near_exits_0_and_logs_how_many_it_skipped(db, cli):
    live = Rows(db.engine, now=datetime.now(UTC))  # the command reads the real clock
    healthy, bad = bad_windows(db, live, live.now)
    text_out, json_out = cli("tasks", "near"), cli("tasks", "near", "--json")
    for proc in (text_out, json_out):
        assert proc.returncode == 0, proc.stderr
        assert "Traceback" not in proc.stderr
        [line] = proc.stderr.strip().splitlines()
        assert f"skipped {seen(bad)} processing tasks" in line and "WARNING" in line, line
    assert [t["task_id"] for t in json.loads(json_out.stdout)] == [healthy]
    assert "healthy" in text_out.stdout and "seen_" not in text_out.stdout


def test_the_warning_panel_leaves_out_windows_python_cannot_read(pg):
    rows = Rows(pg)
    handler = rows.user()
    rows.processing(time_pct=92, progress=0, handler=handler)  # level 10
    bc = rows.task(progress=0, current_handler_id=handler, expected_start_time=NOW - timedelta(days=1),
                   expected_end_time=NOW + timedelta(days=1))
    with pg.begin() as conn:  # 99.99 % of a window from 4000 BC: level 5, had its date been readable
        conn.execute(text("UPDATE tasks SET expected_start_time = '4000-01-01 BC' WHERE id = :i"), {"i": bc})
    stats = {s.level: s.in_level for s in warning_stats(pg, DEMO_TABLES, NOW, LEVELS).levels}
    assert stats == {20: 0, 10: 1, 5: 0}


def test_a_tasks_own_screen_shows_unreadable_timestamps_as_stored(db, rows):
    handler = rows.user()
    task_id = rows.task(progress=0, current_handler_id=handler, title="bad", expected_start_time=NOW,
                        expected_end_time=NOW + timedelta(days=1), actual_end_time=NOW)
    stored = ("'-infinity'", "'200000-01-01 00:00:00+00'") if db.is_pg else ("'soon'", "'2026-02-30 08:00:00.000000'")
    with db.engine.begin() as conn:
        conn.execute(text(f"UPDATE tasks SET expected_end_time = {stored[0]}, actual_end_time = {stored[1]}, "
                          "current_handler_id = NULL WHERE id = :i"), {"i": task_id})
        conn.execute(insert(Notification).values(user_id=handler, type="t", title="n", content="c", task_id=task_id,
                                                 is_read=False, created_at=NOW))
        conn.execute(text(f"UPDATE notifications SET created_at = {stored[1]} WHERE task_id = :i"), {"i": task_id})
    detail = task_detail(db.engine, DEMO_TABLES, task_id, NOW, LEVELS)
    assert detail.task["expected_start_time"] == NOW
    end, actual = detail.task["expected_end_time"], detail.task["actual_end_time"]
    assert isinstance(end, OutOfRange) and isinstance(actual, OutOfRange)
    assert ("infinity" in end and "200000" in actual) if db.is_pg else (end == "soon" and actual.startswith("2026-02-30"))
    assert isinstance(detail.notifications[0]["created_at"], OutOfRange)
    assert detail.time_progress_now is None  # no arithmetic on a window it cannot read
    assert local_time(end, ZoneInfo("Asia/Shanghai")).endswith("(out of range)")


async def test_the_console_keeps_its_panels_and_shows_the_skipped_count(db, rows):
    healthy, bad = bad_windows(db, rows, NOW)
    service = Service(Settings(), db.engine, clock=lambda: NOW)
    app = create_app(service, embed_scheduler=False)
    async with app.run_test(size=(160, 40)) as pilot:
        await settle(pilot)
        assert app.dashboard.database == "ok", app.dashboard.error
        status = app.query_one(StatusBar).render().plain
        assert "db ok" in status, status
        # As many as `tasks near` counts, or more: the panel lists 50, and reads a level the warning
        # count found empty only from the prefix of the deadline order, where a window from
        # -infinity to infinity stays.
        skipped = int(status.split(" skipped (timestamp out of range)")[0].rsplit(" ", 1)[1])
        assert skipped >= seen(bad), status
        near = app.query_one(NearTable)
        assert [key.value for key in near.rows] == [str(healthy)]
        bad_id = next(iter(bad.values()))
        await app.push_screen(TaskScreen(bad_id))
        await loaded(pilot)
        summary = app.screen.query_one("#summary").render().plain
        assert "(out of range)" in summary and "this task no longer exists" not in summary, summary


def test_printable_removes_bidirectional_controls_as_it_removes_control_characters():
    title = f"invoice{BIDI}\x1b[31m\u202egnp.exe"
    assert printable(title) == "invoice[31mgnp.exe"
    assert not set(BIDI) & set(safe(title).plain)  # the console's cells


def test_the_command_line_shows_no_bidirectional_control_and_json_keeps_them_escaped(db, cli):
    live = Rows(db.engine, now=datetime.now(UTC))
    title = "pay \u202eTXT.exe\u2066x\u2069 \u200f\u061c done"
    task_id = live.processing(time_pct=92, progress=0, handler=live.user(f"ops\u202e{BIDI}"), title=title)
    text_out, json_out = cli("tasks", "near"), cli("tasks", "near", "--json")
    assert text_out.returncode == json_out.returncode == 0, text_out.stderr + json_out.stderr
    assert "pay TXT.exex  done" in text_out.stdout
    for proc in (text_out, json_out):
        assert not set(BIDI) & set(proc.stdout + proc.stderr), proc.stdout
    [shown] = json.loads(json_out.stdout)
    assert (shown["task_id"], shown["title"]) == (task_id, title)  # the same data for scripts
    assert "\\u202e" in json_out.stdout
    # An error quoting the operator's input says it inert too.
    refused = cli("tasks", "set-recurrence", str(task_id), "FREQ=\u202eDAILY")
    assert refused.returncode == 2 and not set(BIDI) & set(refused.stderr), refused.stderr
