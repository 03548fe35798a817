"""The jobs and panels on a task system's own database: ``python -m tests.benchmarks.task_system
[--tasks 1000000] [--seconds 30]``.

Creates a fresh PostgreSQL database in the design document's shape (``tests.integration.
task_schemas.SEED_DDL``: integer progress, naive Asia/Shanghai timestamps, Chinese words), loads N
tasks with one INSERT ... SELECT, adopts it with ``db upgrade`` and ``VACUUM ANALYZE``, then times
the warning check with nothing new, the time-progress update and the panel queries, without
``db tune`` and after ``db tune --apply``; pgbench measures what tune's indexes and fillfactor cost
the task system's own single-row progress updates (8 clients), before and after. Prints a Markdown table; timed
targets are read off it, never asserted in the test suite.
"""

from __future__ import annotations

import argparse
from contextlib import contextmanager
import os
import re
import subprocess
import sys
import tempfile
import time
import uuid
from datetime import datetime, timedelta, timezone
from pathlib import Path

from sqlalchemy import create_engine, text

from console.db import schema, tuning
from console.db.engine import make_engine, outside_transaction
from console.db.task_tables import forget_live_tables, tables_for
from console.jobs import JOBS, JobContext
from console.scheduler.runner import JobRunner
from console.scheduler.warning_pass import look
from console.service import Service
from console.settings import load_settings
from tests.integration.task_schemas import SEED_DDL, SEED_SETTINGS

ADMIN_URL = os.environ.get("TASKCONSOLE_BENCH_PG", "postgresql+psycopg2://root@127.0.0.1:5432/postgres")

# N tasks: 60 % processing (windows of 1 to 14 days, 0 to 110 % gone; a third behind), 10 %
# periodic and finished (half due), 20 % closed (half long ago), 10 % new. Integer progress,
# naive wall-clock times of Asia/Shanghai, as datetime.now() writes them.
LOAD = """
INSERT INTO tasks (id, title, category, status, progress, time_progress, expected_start_time, expected_end_time,
                   actual_start_time, actual_end_time, current_handler_id, created_at, updated_at)
SELECT g, '任务 ' || g,
       CASE WHEN g % 10 = 6 THEN '定时周期任务' ELSE '普通任务' END,
       CASE WHEN g % 10 < 6 THEN '处理中' WHEN g % 10 = 6 THEN '已完成' WHEN g % 10 IN (7, 8) THEN '已关闭'
            ELSE '新建' END,
       CASE WHEN g % 10 < 6 THEN (g * 7919) % 101 ELSE 100 END, 0,
       local_now - len * ((g * 31) % 110) / 100.0,
       local_now - len * ((g * 31) % 110) / 100.0 + len,
       local_now - len * ((g * 31) % 110) / 100.0,
       CASE WHEN g % 10 IN (6, 7, 8) THEN local_now - interval '1 day' * (1 + (g * 13) % (CASE WHEN g % 10 = 8 THEN 300 ELSE 14 END))
       END,
       1 + g % 2000, local_now - interval '400 days',
       CASE WHEN g % 10 = 8 THEN local_now - interval '1 day' * (1 + (g * 13) % 300) ELSE local_now END
FROM generate_series(1::bigint, :n) g,
     LATERAL (SELECT (now() AT TIME ZONE 'Asia/Shanghai') AS local_now,
                     interval '1 day' * (1 + (g * 17) % 14) AS len) w
"""


def load(url: str, n: int) -> None:
    engine = make_engine(url)
    with engine.begin() as conn:
        for statement in SEED_DDL:
            conn.exec_driver_sql(statement.format(pk="SERIAL PRIMARY KEY", tstz="TIMESTAMP WITH TIME ZONE"))
        conn.execute(text("INSERT INTO users (id, username, is_admin) SELECT g, '用户' || g, g <= 2 "
                          "FROM generate_series(1, 2000) g"))
        conn.execute(text(LOAD), {"n": n})
        conn.execute(text("SELECT setval(pg_get_serial_sequence('tasks', 'id'), :n)"), {"n": n})
    outside_transaction(engine, "VACUUM ANALYZE")
    engine.dispose()


def timed(call) -> float:
    t = time.perf_counter()
    call()
    return round(time.perf_counter() - t, 3)


def job(engine, settings, job_id: str, run_id: int) -> float:
    now = datetime.now(timezone.utc)
    return timed(lambda: JOBS[job_id].run(JobContext(engine=engine, settings=settings, now=now, run_id=run_id)))


def measure(url: str, settings, label: str, rows: list, first_run: int) -> None:
    engine = make_engine(url, pool_size=8)
    job(engine, settings, "check_task_warnings", first_run)  # sends what is due
    rows.append((label, "check_task_warnings (nothing new)", job(engine, settings, "check_task_warnings", first_run + 1)))
    rows.append((label, "update_time_progress", job(engine, settings, "update_time_progress", first_run + 2)))
    rows.append((label, "update_time_progress (again, few change)",
                 job(engine, settings, "update_time_progress", first_run + 3)))
    rows.append((label, "a frequent pass (warnings.check_every), nothing crossed", quiet_pass(engine, settings)))
    service = Service(settings, engine)
    for name, call in (("warning_stats", service.warning_stats), ("near_tasks", lambda: service.near_tasks(50)),
                       ("whole refresh", service.dashboard), ("forecast, next 24 h", service.warning_forecast)):
        call()
        rows.append((label, f"panel: {name}", min(timed(call) for _ in range(3))))
    for row in rows[-8:]:
        print(f"  {row[1]}: {row[2]} s", file=sys.stderr, flush=True)
    engine.dispose()


def quiet_pass(engine, settings) -> float:
    """The median of 11 passes of the leader's frequent look over a minute in which no threshold
    falls (ten years ahead, past every window)."""
    runner = JobRunner(settings, engine)
    base = datetime.now(timezone.utc) + timedelta(days=3650)
    look(runner, base)
    times = sorted(timed(lambda i=i: look(runner, base + timedelta(minutes=i + 1))) for i in range(11))
    return times[5]


PGBENCH_SCRIPT = ("\\set id random(1, {n})\n"
                  "UPDATE tasks SET progress = (progress + 1) % 100 WHERE id = :id;\n")


def pgbench(url: str, n: int, seconds: int) -> float:
    """Mean latency (ms) of the task system's single-row progress update, 8 clients."""
    engine = make_engine(url)
    database = engine.url.database
    engine.dispose()
    with tempfile.NamedTemporaryFile("w", suffix=".sql", delete=False) as script:
        script.write(PGBENCH_SCRIPT.format(n=n))
    proc = subprocess.run(["pgbench", "-n", "-h", "127.0.0.1", "-c", "8", "-j", "2", "-T", str(seconds),
                           "-f", script.name, database], capture_output=True, text=True, check=True)
    Path(script.name).unlink()
    return float(re.search(r"latency average = ([\d.]+) ms", proc.stdout).group(1))


@contextmanager
def seed_shaped_database(prefix: str, n: int):
    """A fresh PostgreSQL database in the design document's shape with ``n`` tasks, adopted by
    ``db upgrade``; yields (url, settings) and drops it afterwards."""
    name = f"{prefix}_{uuid.uuid4().hex[:8]}"
    admin = create_engine(ADMIN_URL, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f'CREATE DATABASE "{name}"'))
    url = ADMIN_URL.rsplit("/", 1)[0] + f"/{name}"
    try:
        with tempfile.TemporaryDirectory() as folder:
            config = Path(folder) / "settings.yaml"
            config.write_text(SEED_SETTINGS, encoding="utf-8")
            settings = load_settings(config, env={"TASKCONSOLE_DATABASE_URL": url})
            began = time.perf_counter()
            load(url, n)
            print(f"loaded {n:,} seed-shaped tasks in {time.perf_counter() - began:.1f} s", file=sys.stderr)
            engine = make_engine(url)
            schema.upgrade(engine, settings)
            engine.dispose()
            yield url, settings
    finally:
        with admin.connect() as conn:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tasks", type=int, default=1_000_000)
    parser.add_argument("--seconds", type=int, default=30, help="pgbench duration per configuration")
    args = parser.parse_args()
    rows: list = []
    with seed_shaped_database("taskconsole_seed_bench", args.tasks) as (url, settings):
        engine = make_engine(url)
        print("untuned", file=sys.stderr)
        measure(url, settings, "without db tune", rows, 100)
        untuned = pgbench(url, args.tasks, args.seconds)
        forget_live_tables()
        began = time.perf_counter()
        tuning.apply(engine, tables_for(engine, settings), levels=settings.warnings.levels)
        rows.append(("db tune --apply", "making every change", round(time.perf_counter() - began, 1)))
        outside_transaction(engine, "VACUUM ANALYZE")
        print("tuned", file=sys.stderr)
        measure(url, settings, "after db tune", rows, 200)
        tuned = pgbench(url, args.tasks, args.seconds)
        engine.dispose()
    print(f"\n{args.tasks:,} tasks, seed-shaped schema (integer progress, naive Asia/Shanghai times, Chinese words)\n")
    print("| schema | what | seconds |\n|---|---|---|")
    for label, what, seconds in rows:
        print(f"| {label} | {what} | {seconds} |")
    print(f"| pgbench, 8 clients, {args.seconds} s | single-row progress update: mean latency | "
          f"{untuned} ms without db tune, {tuned} ms after it (indexes and fillfactor, no trigger): "
          f"{tuned / untuned:.2f}x |")


if __name__ == "__main__":
    main()
