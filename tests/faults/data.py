"""Rows for the fault tests, written by the database itself (generate_series) around a given now."""

from __future__ import annotations

from datetime import datetime

from tests.faults.conftest import FaultDb

HANDLERS = 10
BLOCKER = HANDLERS + 1  # a handler whose users row the competing transaction locks


def load_users(pg: FaultDb) -> None:
    pg.execute("INSERT INTO users (id, name, is_admin) SELECT g, 'user ' || g, g = 1 "
               "FROM generate_series(1, :n) AS g", n=BLOCKER)


def load_periodic(pg: FaultDb, n: int, *, first: int, ended_ago: str, recurrence: str | None,
                  handler_sql: str, now: datetime) -> None:
    """``n`` completed periodic tasks ended ``ended_ago`` before now (+ g seconds, so later ids
    fall due later), handled by ``handler_sql`` (an SQL expression of g)."""
    pg.execute(f"""
        INSERT INTO tasks (title, category, status, progress, time_progress, expected_start_time,
                           expected_end_time, actual_start_time, actual_end_time, current_handler_id,
                           created_at, updated_at, recurrence)
        SELECT 'periodic ' || g, 'periodic', 'completed', 100, 100,
               CAST(:now AS timestamptz) - CAST(:ago AS interval) - interval '1 day',
               CAST(:now AS timestamptz) - CAST(:ago AS interval),
               CAST(:now AS timestamptz) - CAST(:ago AS interval) - interval '1 day',
               CAST(:now AS timestamptz) - CAST(:ago AS interval) + g * interval '1 second',
               {handler_sql}, CAST(:now AS timestamptz) - interval '30 days',
               CAST(:now AS timestamptz) - CAST(:ago AS interval), :rule
        FROM generate_series(:first, :last) AS g
    """, now=now, ago=ended_ago, rule=recurrence, first=first, last=first + n - 1)


def load_cleanup_material(pg: FaultDb, now: datetime, *, old_closed: int, young_closed: int, old_read: int,
                          recent_read: int) -> None:
    """Old closed tasks (later ids updated later), each with an unread notification and a warning
    ledger row; young closed tasks likewise; read notifications old and recent."""
    pg.execute("""
        INSERT INTO tasks (title, category, status, progress, time_progress, created_at, updated_at,
                           current_handler_id)
        SELECT 'closed ' || g, 'normal', 'closed', 100, 100, CAST(:now AS timestamptz) - interval '400 days',
               CASE WHEN g <= :old THEN CAST(:now AS timestamptz) - interval '200 days' + g * interval '1 second'
                    ELSE CAST(:now AS timestamptz) - interval '10 days' END,
               1 + g % :h
        FROM generate_series(1, :old + :young) AS g
    """, now=now, old=old_closed, young=young_closed, h=HANDLERS)
    pg.execute("""
        INSERT INTO notifications (user_id, type, title, content, task_id, is_read, created_at)
        SELECT current_handler_id, 'about a task', 'about ' || id, 'x', id, false, CAST(:now AS timestamptz)
        FROM tasks
    """, now=now)
    pg.execute("""
        INSERT INTO warning_ledger (task_id, level, window_start, window_end, repeat_no, sent_at, run_id)
        SELECT id, 20, created_at, updated_at, 0, updated_at, 1 FROM tasks
    """)
    pg.execute("""
        INSERT INTO notifications (user_id, type, title, content, task_id, is_read, created_at)
        SELECT 1 + g % :h, 'read', 'read ' || g, 'x', NULL, true,
               CASE WHEN g <= :old THEN CAST(:now AS timestamptz) - interval '200 days'
                    ELSE CAST(:now AS timestamptz) - interval '10 days' END
        FROM generate_series(1, :old + :recent) AS g
    """, now=now, old=old_read, recent=recent_read, h=HANDLERS)
    pg.execute("ANALYZE tasks, notifications, warning_ledger")


def load_processing(pg: FaultDb, n: int, now: datetime) -> None:
    """``n`` processing tasks 25-75 % into a 2,000 s window, their stored time progress still 0, so
    that every run of update_time_progress changes every one of them."""
    pg.execute("""
        INSERT INTO tasks (title, category, status, progress, time_progress, expected_start_time,
                           expected_end_time, current_handler_id, created_at, updated_at)
        SELECT 'processing ' || g, 'normal', 'processing', 50, 0,
               CAST(:now AS timestamptz) - (500 + g % 1000) * interval '1 second',
               CAST(:now AS timestamptz) + (1500 - g % 1000) * interval '1 second',
               1 + g % :h, CAST(:now AS timestamptz) - interval '1 day', CAST(:now AS timestamptz)
        FROM generate_series(1, :n) AS g
    """, now=now, n=n, h=HANDLERS)
    pg.execute("ANALYZE tasks")


def load_warning_material(pg: FaultDb, now: datetime) -> None:
    """Processing tasks in 100-hour windows at every warning level and below, each 1,000 times, plus
    bad rows (no window, progress out of range, no handler), an inverted window whose deadline is
    still ahead (not started: 0 %, no warning) and one warning sent
    30 hours ago (so it is due again). The same ``now`` gives the same rows, ids included."""
    cases = [  # (time %, progress %, handler?) -- far from any threshold, so seconds do not matter
        (50, 10, True), (85, 10, True), (85, 90, True), (93, 50, True), (97, 10, True), (97, 99, True),
        (97, 10, False), (85, 150, True),
    ]
    for time_pct, progress, handled in cases:
        pg.execute("""
            INSERT INTO tasks (title, category, status, progress, time_progress, expected_start_time,
                               expected_end_time, current_handler_id, created_at, updated_at)
            SELECT 'warn ' || :t || '/' || :p || ' ' || g, 'normal', 'processing', :p, 0,
                   CAST(:now AS timestamptz) - :t * interval '1 hour',
                   CAST(:now AS timestamptz) + (100 - :t) * interval '1 hour',
                   CASE WHEN :handled THEN 1 + g % :h END,
                   CAST(:now AS timestamptz) - interval '10 days', CAST(:now AS timestamptz)
            FROM generate_series(1, 1000) AS g
        """, now=now, t=time_pct, p=progress, handled=handled, h=HANDLERS)
    pg.execute("""
        INSERT INTO tasks (title, category, status, progress, time_progress, expected_start_time,
                           expected_end_time, current_handler_id, created_at, updated_at)
        VALUES ('no window', 'normal', 'processing', 10, 0, NULL, NULL, 1, :now, :now),
               ('inverted', 'normal', 'processing', 10, 0, CAST(:now AS timestamptz) + interval '2 hours',
                CAST(:now AS timestamptz) + interval '1 hour', 1, :now, :now)
    """, now=now)
    pg.execute("""
        INSERT INTO warning_ledger (task_id, level, window_start, window_end, repeat_no, sent_at, run_id)
        SELECT id, 20, expected_start_time, expected_end_time, 0, CAST(:now AS timestamptz) - interval '30 hours', 0
        FROM tasks WHERE title = 'warn 85/10 1'
    """, now=now)
    pg.execute("ANALYZE tasks, warning_ledger")
