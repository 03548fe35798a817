"""Benchmark data, made by the database itself (generate_series / a recursive CTE), fast at 1M rows.

Every scenario empties the tables and writes ``n`` tasks around ``now``; what differs is how
many tasks each job has to change.
"""

from __future__ import annotations

from datetime import datetime, timezone

from sqlalchemy import Engine, text

HANDLERS = 200
TABLES = ("warning_ledger", "task_state", "notifications", "tasks", "users", "job_runs", "audit_log")


def _series(engine: Engine, n: int) -> str:
    if engine.dialect.name == "postgresql":
        return f"(SELECT g FROM generate_series(1, {int(n)}) AS g) s"
    return f"(WITH RECURSIVE seq(g) AS (SELECT 1 UNION ALL SELECT g + 1 FROM seq WHERE g < {int(n)}) SELECT g FROM seq) s"


def _ago(engine: Engine, seconds_sql: str) -> str:
    """SQL for ``:now`` minus an SQL number of seconds, in the column's storage form."""
    if engine.dialect.name == "postgresql":
        return f"(CAST(:now AS timestamptz) - ({seconds_sql}) * interval '1 second')"
    return f"(strftime('%Y-%m-%d %H:%M:%f', :now, printf('%+.3f seconds', -({seconds_sql}))) || '000')"


def _now_param(engine: Engine, now: datetime) -> str:
    utc = now.astimezone(timezone.utc)
    return utc.isoformat() if engine.dialect.name == "postgresql" else utc.strftime("%Y-%m-%d %H:%M:%S.%f")


def reset_tables(engine: Engine) -> None:
    with engine.begin() as conn:
        if engine.dialect.name == "postgresql":
            conn.execute(text(f"TRUNCATE {', '.join(TABLES)} RESTART IDENTITY CASCADE"))
        else:
            for table in TABLES:
                conn.execute(text(f"DELETE FROM {table}"))
        series = _series(engine, HANDLERS)
        conn.execute(text(f"INSERT INTO users (id, name, is_admin) SELECT g, 'user ' || g, g = 1 FROM {series}"))


def load(engine: Engine, n: int, now: datetime, *, crossing: int = 0, due: int = 0, old_closed: int = 0) -> None:
    """``n`` tasks: ``crossing`` processing tasks at 85 % time with 10 % work (level 20 reached),
    ``due`` periodic tasks completed 8 days ago, ``old_closed`` tasks closed 100 days ago, and the
    rest processing between 0 and 79 % of their 10-day window with half their work done."""
    reset_tables(engine)
    day = 86400
    g = "s.g"
    kind = (f"CASE WHEN {g} <= {crossing} THEN 'crossing' WHEN {g} <= {crossing + due} THEN 'due' "
            f"WHEN {g} <= {crossing + due + old_closed} THEN 'old' ELSE 'quiet' END")
    elapsed = f"(CASE WHEN {g} <= {crossing} THEN 0.85 ELSE ({g} % 80) / 100.0 END) * {10 * day}"
    sql = f"""
        INSERT INTO tasks (title, category, status, progress, time_progress, expected_start_time,
                           expected_end_time, actual_start_time, actual_end_time, current_handler_id,
                           created_at, updated_at)
        SELECT 'bench task ' || {g},
               CASE k WHEN 'due' THEN 'periodic' ELSE 'normal' END,
               CASE k WHEN 'due' THEN 'completed' WHEN 'old' THEN 'closed' ELSE 'processing' END,
               CASE k WHEN 'crossing' THEN 10 WHEN 'quiet' THEN 50 ELSE 100 END,
               0,
               {_ago(engine, elapsed)},
               {_ago(engine, f"{elapsed} - {10 * day}")},
               NULL,
               CASE k WHEN 'due' THEN {_ago(engine, str(8 * day))} WHEN 'old' THEN {_ago(engine, str(100 * day))} END,
               1 + {g} % {HANDLERS},
               {_ago(engine, str(200 * day))},
               CASE k WHEN 'old' THEN {_ago(engine, str(100 * day))} ELSE {_ago(engine, str(day))} END
        FROM (SELECT {g}, {kind} AS k FROM {_series(engine, n)}) s
    """
    with engine.begin() as conn:
        conn.execute(text(sql), {"now": _now_param(engine, now)})
        _analyze(conn, engine)


def load_read_notifications(engine: Engine, n: int, now: datetime) -> None:
    """``n`` read notifications 200 days old (cleanup material)."""
    day = 86400
    sql = f"""
        INSERT INTO notifications (user_id, type, title, content, task_id, is_read, created_at)
        SELECT 1 + s.g % {HANDLERS}, 't', 'old', 'old', NULL, true, {_ago(engine, str(200 * day))}
        FROM {_series(engine, n)}
    """
    with engine.begin() as conn:
        conn.execute(text(sql), {"now": _now_param(engine, now)})
        _analyze(conn, engine)


def _analyze(conn, engine: Engine) -> None:
    conn.execute(text("ANALYZE tasks, notifications" if engine.dialect.name == "postgresql" else "ANALYZE"))
