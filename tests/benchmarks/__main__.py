"""The benchmark suite: ``python -m tests.benchmarks [--sizes 10000,100000,1000000] [--sqlite]``.

Loads N tasks into a fresh PostgreSQL database (and, with --sqlite, a SQLite file at 100k), times
each job in a process of its own (wall time, rows touched, peak RSS), times the seed document's
per-row algorithm on the same rows where it finishes in minutes, times the console's panel
queries and ``taskconsole jobs list``, and prints a Markdown table.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
import time
import uuid
from datetime import datetime, timezone
from pathlib import Path

from sqlalchemy import create_engine, text

from console.db import schema
from console.db.engine import make_engine
from tests.benchmarks import scenarios

ADMIN_URL = os.environ.get("TASKCONSOLE_BENCH_PG", "postgresql+psycopg2://root@127.0.0.1:5432/postgres")
SEED_PROGRESS_MAX = 100_000


def measure(kind: str, url: str, now: datetime, run_id: int = 1) -> dict:
    proc = subprocess.run([sys.executable, "-m", "tests.benchmarks.one", kind, url, now.isoformat(), str(run_id)],
                          capture_output=True, text=True, check=False)
    if proc.returncode != 0:
        raise SystemExit(f"{kind} failed:\n{proc.stderr}")
    return json.loads(proc.stdout.strip().splitlines()[-1])


def touched(result: dict) -> int:
    counts = result["counts"]
    for key in ("updated", "notified", "reset", "rows"):
        if key in counts:
            return int(counts[key])
    return int(counts.get("deleted_tasks", 0)) + int(counts.get("deleted_notifications", 0))


def bench_size(url: str, n: int, rows: list, label: str) -> None:
    engine = make_engine(url)
    now = datetime.now(timezone.utc)
    share = min(100_000, n // 10)

    def add(what: str, result: dict, note: str = "") -> None:
        rows.append((label, what, n, result["duration_s"], touched(result), result["peak_rss_mb"], note))
        print(f"  {what}: {result['duration_s']} s, {touched(result):,} rows, {result['peak_rss_mb']} MB {note}",
              file=sys.stderr, flush=True)

    print(f"{label} N={n:,}", file=sys.stderr, flush=True)
    scenarios.load(engine, n, now)
    progress = measure("job:update_time_progress", url, now, 1)
    add("update_time_progress (all change)", progress)
    if n <= SEED_PROGRESS_MAX:
        with engine.begin() as conn:
            conn.execute(text("UPDATE tasks SET time_progress = 0"))
        seed = measure("seed:update_time_progress", url, now)
        ratio = seed["duration_s"] / max(progress["duration_s"], 1e-6)
        add("seed per-row progress update", seed, f"ours is {ratio:.0f}x faster")

    scenarios.load(engine, n, now, crossing=share)
    first = measure("job:check_task_warnings", url, now, 2)
    add(f"check_task_warnings ({share:,} cross)", first)
    quiet = measure("job:check_task_warnings", url, now, 3)
    add("check_task_warnings (none new)", quiet)
    panel = measure("panels", url, now)
    for name, seconds in panel["panels_s"].items():
        rows.append((label, f"panel query: {name}", n, seconds, "", panel["peak_rss_mb"], ""))
    print(f"  panels: {panel['panels_s']}", file=sys.stderr, flush=True)

    scenarios.load(engine, n, now, due=share)
    add(f"reset_periodic_tasks ({share:,} due)", measure("job:reset_periodic_tasks", url, now, 4))

    scenarios.load(engine, n, now, old_closed=n // 2)
    scenarios.load_read_notifications(engine, n // 2, now)
    cleanup = measure("job:cleanup_old_data", url, now, 5)
    add("cleanup_old_data", cleanup, f"longest transaction {cleanup['longest_transaction_s']} s; "
        f"update_time_progress meanwhile {cleanup.get('other_job_s')} s")
    engine.dispose()


def seed_warnings(url: str, rows: list) -> None:
    """The seed's warning check is quadratic: timed where it finishes in minutes, beside ours."""
    engine = make_engine(url)
    now = datetime.now(timezone.utc)
    for n in (1000, 2000, 4000):
        scenarios.load(engine, n, now, crossing=n // 10)
        seed = measure("seed:check_task_warnings", url, now)
        scenarios.load(engine, n, now, crossing=n // 10)
        ours = measure("job:check_task_warnings", url, now, 9)
        ratio = seed["duration_s"] / max(ours["duration_s"], 1e-6)
        rows.append(("PostgreSQL", f"seed per-row warning check ({n // 10:,} warned)", n, seed["duration_s"],
                     touched(seed), seed["peak_rss_mb"], f"ours {ours['duration_s']} s: {ratio:.0f}x faster"))
        print(f"  seed warnings N={n}: {seed['duration_s']} s vs ours {ours['duration_s']} s", file=sys.stderr,
              flush=True)
    engine.dispose()


def cpu_check() -> float:
    """Seconds for a fixed pure-Python loop (best of 3): the same code on the same kind of machine
    has run 1.6x slower from one day to the next here, so each table says how fast its machine was."""
    best = float("inf")
    for _ in range(3):
        t = time.perf_counter()
        total = 0
        for i in range(5_000_000):
            total += i
        best = min(best, time.perf_counter() - t)
    return round(best, 3)


def cli_jobs_list(url: str) -> float:
    env = {**os.environ, "TASKCONSOLE_DATABASE_URL": url}
    env.pop("TASKCONSOLE_CONFIG", None)
    best = float("inf")
    for _ in range(3):
        t = time.perf_counter()
        subprocess.run([sys.executable, "-m", "console", "jobs", "list"], env=env, capture_output=True, check=True)
        best = min(best, time.perf_counter() - t)
    return round(best, 3)


def demo_load(url: str) -> float:
    env = {**os.environ, "TASKCONSOLE_DATABASE_URL": url}
    t = time.perf_counter()
    subprocess.run([sys.executable, "-m", "console", "demo", "--replace", "--tasks", "1000000"], env=env,
                   capture_output=True, check=True)
    return round(time.perf_counter() - t, 1)


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m tests.benchmarks", description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", default="10000,100000,1000000")
    parser.add_argument("--sqlite", action="store_true", help="also run the 100k case on SQLite")
    parser.add_argument("--demo", action="store_true", help="also time `taskconsole demo --tasks 1000000`")
    parser.add_argument("--no-seed-warnings", action="store_true",
                        help="skip the seed's quadratic warning check (1,000 to 4,000 tasks, about a minute)")
    args = parser.parse_args()
    sizes = [int(s) for s in args.sizes.split(",")]
    admin = create_engine(ADMIN_URL, isolation_level="AUTOCOMMIT")
    name = f"taskconsole_bench_{uuid.uuid4().hex[:8]}"
    with admin.connect() as conn:
        conn.execute(text(f'CREATE DATABASE "{name}"'))
    url = ADMIN_URL.rsplit("/", 1)[0] + f"/{name}"
    rows: list = []
    extra: list[str] = []
    speed_before = cpu_check()
    try:
        engine = make_engine(url)
        schema.upgrade(engine)
        with engine.connect() as conn:
            version = conn.execute(text("SHOW server_version")).scalar()
        engine.dispose()
        if not args.no_seed_warnings:
            seed_warnings(url, rows)
        for n in sizes:
            bench_size(url, n, rows, "PostgreSQL")
        extra.append(f"`taskconsole jobs list`, start to exit: {cli_jobs_list(url)} s "
                     f"({sizes[-1]:,} tasks loaded)")
        if args.demo:
            extra.append(f"`taskconsole demo --tasks 1000000` on PostgreSQL: {demo_load(url)} s")
            # The console's queries again, on the demo's mix (about 1 % of tasks in a level)
            # rather than the scenario above where 100,000 tasks are in a level at once.
            panel = measure("panels", url, datetime.now(timezone.utc))
            for query, seconds in panel["panels_s"].items():  # not `name`: that is the database to drop
                rows.append(("PostgreSQL", f"panel query on demo data: {query}", 1_000_000, seconds, "",
                             panel["peak_rss_mb"], ""))
        if args.sqlite:
            path = Path(f"/tmp/{name}.db")
            sqlite_url = f"sqlite:///{path}"
            schema.upgrade(make_engine(sqlite_url))
            bench_size(sqlite_url, 100_000, rows, "SQLite")
            for leftover in (path, Path(f"{path}-wal"), Path(f"{path}-shm")):
                leftover.unlink(missing_ok=True)
    finally:
        with admin.connect() as conn:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
    print(f"Machine: {os.cpu_count()} cores, {platform.machine()}, Python {platform.python_version()}, "
          f"PostgreSQL {version}, SQLite {__import__('sqlite3').sqlite_version}; "
          f"CPU check (5M-step Python loop): {speed_before} s before, {cpu_check()} s after\n")
    print("| backend | what | N tasks | wall s | rows touched | peak RSS MB | notes |")
    print("|---|---|---:|---:|---:|---:|---|")
    for backend, what, n, seconds, count, rss, note in rows:
        count_text = f"{count:,}" if isinstance(count, int) else count
        print(f"| {backend} | {what} | {n:,} | {seconds} | {count_text} | {rss} | {note} |")
    print()
    for line in extra:
        print(f"- {line}")


if __name__ == "__main__":
    main()
