"""The console at scale: ``python -m tests.benchmarks.console_keys [--tasks 1000000]``.

Creates a PostgreSQL database in the design document's shape (``tests.benchmarks.task_system``'s
loader: naive Asia/Shanghai times, Chinese words, integer progress), then drives the real console
with Pilot (no embedded scheduler, so nothing else runs) and times, without ``db tune`` and after
``db tune --apply``: a key press answered (the screen idle again after it), a level key until its
rows are shown, ``g`` + a task id + enter until the task's screen has loaded, and a title search
until its rows are shown. Prints a Markdown table; the targets (100 ms a key, 300 ms going to a
task, 300 ms a tuned title search) are read off it, never asserted.
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import sys
import time
from datetime import datetime, timezone

from console.db import tuning
from console.db.engine import make_engine, outside_transaction
from console.db.task_tables import forget_live_tables, tables_for
from console.service import Service
from console.tui.app import create_app
from console.tui.inspect_screens import TaskScreen
from tests.benchmarks.task_system import seed_shaped_database


async def _idle(pilot) -> None:
    await pilot.app.workers.wait_for_complete()
    await pilot.pause()


async def drive(service: Service, task_id: int, word: str) -> dict[str, float]:
    app = create_app(service, embed_scheduler=False)
    out: dict[str, list[float]] = {}

    def note(name: str, began: float) -> None:
        out.setdefault(name, []).append(time.perf_counter() - began)

    async with app.run_test(size=(120, 40)) as pilot:
        for _ in range(200):
            await pilot.pause(0.05)
            if app.refreshes:
                break
        await _idle(pilot)
        for _ in range(10):
            began = time.perf_counter()
            await pilot.press("x")
            note("a key bound to nothing (Pilot's own cost, for comparison)", began)
            for key in ("down", "up", "tab", "s", "shift+tab"):
                began = time.perf_counter()
                await pilot.press(key)
                note("a key (down, up, tab, s)", began)
        for key in ("1", "2", "3", "4", "0"):
            seen = app.refreshes
            began = time.perf_counter()
            await pilot.press(key)
            while app.refreshes == seen:
                await pilot.pause(0.005)
            note("a level key, until its rows are shown", began)
        for _ in range(5):
            await pilot.press("g", *str(task_id))
            began = time.perf_counter()
            await pilot.press("enter")
            while not isinstance(app.screen, TaskScreen):
                await pilot.pause(0.005)
            await _idle(pilot)
            note("g + task id, from enter until the task's screen has loaded", began)
            await pilot.press("escape")
        for _ in range(3):
            app.query_one("#near").focus()
            await pilot.press("slash", *word)
            began = time.perf_counter()
            await pilot.press("enter")
            while app.searching:
                await pilot.pause(0.005)
            note(f"title search “{word}”, from enter until its rows are shown", began)
            await pilot.press("escape")
            await _idle(pilot)
    return {name: round(statistics.median(times), 3) for name, times in out.items()} | {
        f"{name} (slowest)": round(max(times), 3) for name, times in out.items() if len(times) > 3}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tasks", type=int, default=1_000_000)
    args = parser.parse_args()
    rows: list = []
    with seed_shaped_database("taskconsole_keys_bench", args.tasks) as (url, settings):
        engine = make_engine(url)
        task_id = args.tasks * 3 // 5 + 1  # one of the last processing tasks: no cache holds it
        word = f"任务 {args.tasks - 7}"
        for label in ("without db tune", "after db tune"):
            if label == "after db tune":
                forget_live_tables()
                tuning.apply(engine, tables_for(engine, settings))
                outside_transaction(engine, "VACUUM ANALYZE")
            service = Service(settings, engine, clock=lambda: datetime.now(timezone.utc))
            for what, seconds in asyncio.run(drive(service, task_id, word)).items():
                rows.append((label, what, seconds))
                print(f"  {label}: {what}: {seconds} s", file=sys.stderr, flush=True)
            service.stop_scheduler()
        engine.dispose()
    print(f"\n{args.tasks:,} tasks, seed-shaped schema; medians (and the slowest), Pilot at 120x40\n")
    print("| schema | what | seconds |\n|---|---|---|")
    for label, what, seconds in rows:
        print(f"| {label} | {what} | {seconds} |")


if __name__ == "__main__":
    main()
