"""The console at scale: ``python -m tests.benchmarks.console_keys [--tasks 1000000] [--keep]``.

Creates a PostgreSQL database in the design document's shape (``tests.benchmarks.task_system``'s
loader: naive Asia/Shanghai times, Chinese words, integer progress; with ``--keep`` loaded once
into ``taskconsole_keys_bench_N`` and kept for the next run), then drives the real console at
120x40 (no embedded scheduler, so nothing else runs) without ``db tune`` and after
``db tune --apply``, and times:

- each of the keys down, up, tab, shift+tab and ``s``, from the moment the key is sent (as the
  terminal driver sends it) until what it changes is on the widgets and every widget has handled
  what was queued by then: pressed one after another while the refresh timer runs, and again
  sent from the refresh worker's thread just behind a refresh's rows, so that it lands while the
  UI thread takes them in (the worst moment for a key); median and p99 of each;
- the UI thread's longest stall meanwhile (how late a 5 ms sleep on its event loop woke);
- with Pilot: a level key until its rows are shown, ``g`` + a task id + enter until the task's
  screen has loaded, and a title search until its rows are shown.

Prints a Markdown table; the targets (a key: median 50 ms, p99 150 ms; 300 ms going to a task,
300 ms a tuned title search) are read off it, never asserted.
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import sys
import time
from datetime import datetime, timezone

from contextlib import contextmanager
import tempfile
from pathlib import Path

from sqlalchemy import create_engine, text

from console.db import schema, tuning
from console.db.engine import make_engine, outside_transaction
from console.db.task_tables import forget_live_tables, tables_for
from console.service import Service
from console.settings import load_settings
from console.tui.app import create_app
from console.tui.inspect_screens import TaskScreen
from tests.benchmarks.task_system import ADMIN_URL, load, seed_shaped_database
from tests.integration.task_schemas import SEED_SETTINGS


KEYS = ("down", "up", "tab", "shift+tab", "s")  # each changes what the screen shows: see _state


async def _idle(pilot) -> None:
    await pilot.app.workers.wait_for_complete()
    await pilot.pause()


def _state(app) -> tuple:
    """What a key changes: the focused widget, its cursor, the near panel's order and first row."""
    focused = app.focused
    near = app.query_one("#near")
    first = near.coordinate_to_cell_key((0, 0)).row_key.value if near.row_count else None
    return (id(focused), getattr(focused, "cursor_coordinate", None), near.sort, first)


class Keys:
    """Key presses timed from the moment the key is sent (as the terminal driver sends it) until
    its effect is on the widgets and every widget has handled what was queued by then. Pilot's
    ``press`` also waits until the whole process is idle (worker threads included): not what an
    operator waits for, so it is not used for these.

    ``during``: the key is sent from the refresh worker's thread just behind the refresh's rows
    (``DashboardLoaded``), so it lands while the UI thread takes them in: the worst moment."""

    def __init__(self, app, pilot):
        self.app, self.pilot = app, pilot
        self.times: dict[str, list[float]] = {}
        self._armed: str | None = None
        self._sent_at = 0.0
        self._sent = asyncio.Event()
        loop = asyncio.get_running_loop()
        post = app.post_message

        def post_message(message):  # on the refresh worker's thread for DashboardLoaded
            queued = post(message)
            if type(message).__name__ == "DashboardLoaded" and self._armed is not None:
                key, self._armed = self._armed, None
                self._sent_at = time.perf_counter()
                self._send(key)
                loop.call_soon_threadsafe(self._sent.set)
            return queued

        app.post_message = post_message

    def _send(self, key: str) -> None:
        from textual import events
        from textual.keys import _character_to_key

        char = key if len(key) == 1 else None
        name = _character_to_key(key) if len(key) == 1 and not key.isalnum() else key
        event = events.Key(name, char)
        event.set_sender(self.app)
        self.app._driver.send_message(event)

    async def _answered(self, before: tuple | None) -> None:
        give_up = time.perf_counter() + 10
        while before is not None and _state(self.app) == before:
            if time.perf_counter() > give_up:
                error = self.app.dashboard.error if self.app.dashboard else "no refresh shown"
                raise SystemExit(f"a key changed nothing on screen in 10 s: {before}, screen {self.app.screen}, "
                                 f"focused {self.app.focused}, refresh error {error}")
            await asyncio.sleep(0.001)
        await self.pilot._wait_for_screen()

    async def press(self, key: str, name: str, *, changes: bool = True) -> None:
        before = _state(self.app) if changes else None
        began = time.perf_counter()
        self._send(key)
        await self._answered(before)
        self.times.setdefault(name, []).append(time.perf_counter() - began)

    async def press_during_refresh(self, key: str, name: str) -> None:
        before = _state(self.app)
        self._sent.clear()
        self._armed = key
        self.app.request_refresh()
        await self._sent.wait()
        await self._answered(before)
        self.times.setdefault(name, []).append(time.perf_counter() - self._sent_at)


class Stalls:
    """The UI thread's stalls: how late a 5 ms sleep on its event loop wakes."""

    def __init__(self):
        self.late: list[float] = []
        self._task = asyncio.get_running_loop().create_task(self._watch())

    async def _watch(self) -> None:
        while True:
            began = time.perf_counter()
            await asyncio.sleep(0.005)
            self.late.append(time.perf_counter() - began - 0.005)

    def stop(self) -> list[float]:
        self._task.cancel()
        return self.late


def _p99(times: list[float]) -> float:
    ordered = sorted(times)
    return ordered[min(len(ordered) - 1, round(0.99 * (len(ordered) - 1)))]


async def drive(service: Service, task_id: int, word: str, rounds: int = 20, during: int = 12) -> dict[str, float]:
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
        keys = Keys(app, pilot)
        stalls = Stalls()
        for _ in range(rounds):  # the refresh timer runs meanwhile: some of these land in one
            await keys.press("x", "a key bound to nothing", changes=False)
            for key in KEYS:
                await keys.press(key, f"`{key}`")
        for _ in range(during):
            for key in KEYS:
                await keys.press_during_refresh(key, f"`{key}` landing as a refresh's rows arrive")
        late = stalls.stop()
        await _idle(pilot)
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
    result = {}
    for name, times in (keys.times | out).items():
        result[f"{name}: median"] = round(statistics.median(times), 3)
        result[f"{name}: p99 of {len(times)}" if name in keys.times else f"{name}: slowest"] = round(
            _p99(times) if name in keys.times else max(times), 3)
    result["UI thread's longest stall while keys were timed"] = round(max(late), 3)
    return result


@contextmanager
def kept_database(n: int):
    """Like ``seed_shaped_database``, but kept between runs (``--keep``): a 1M load takes a minute.
    Loaded under another name and renamed when whole, so a load cut short is never reused."""
    name = f"taskconsole_keys_bench_{n}"
    admin = create_engine(ADMIN_URL, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        if not conn.execute(text("SELECT 1 FROM pg_database WHERE datname = :n"), {"n": name}).scalar():
            conn.execute(text(f'DROP DATABASE IF EXISTS "{name}_loading" WITH (FORCE)'))
            conn.execute(text(f'CREATE DATABASE "{name}_loading"'))
            loading = ADMIN_URL.rsplit("/", 1)[0] + f"/{name}_loading"
            load(loading, n)
            engine = make_engine(loading)
            schema.upgrade(engine, _settings(loading))
            engine.dispose()
            conn.execute(text(f'ALTER DATABASE "{name}_loading" RENAME TO "{name}"'))
    admin.dispose()
    url = ADMIN_URL.rsplit("/", 1)[0] + f"/{name}"
    yield url, _settings(url)


def _settings(url: str):
    with tempfile.TemporaryDirectory() as folder:
        config = Path(folder) / "settings.yaml"
        config.write_text(SEED_SETTINGS, encoding="utf-8")
        return load_settings(config, env={"TASKCONSOLE_DATABASE_URL": url})


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tasks", type=int, default=1_000_000)
    parser.add_argument("--keep", action="store_true",
                        help="load the tasks once into taskconsole_keys_bench_N and keep that database")
    parser.add_argument("--rounds", type=int, default=20, help="presses of each key, at any moment")
    parser.add_argument("--during", type=int, default=12, help="presses of each key landing as a refresh's rows arrive")
    args = parser.parse_args()
    rows: list = []
    database = kept_database(args.tasks) if args.keep else seed_shaped_database("taskconsole_keys_bench", args.tasks)
    with database as (url, settings):
        engine = make_engine(url)
        task_id = args.tasks * 3 // 5 + 1  # one of the last processing tasks: no cache holds it
        word = f"任务 {args.tasks - 7}"
        for label in ("without db tune", "after db tune"):
            if label == "without db tune" and args.keep:  # a kept database may be tuned from the last run
                forget_live_tables()
                if tuning.apply(engine, tables_for(engine, settings), undo=True):
                    outside_transaction(engine, "VACUUM ANALYZE")
            if label == "after db tune":
                forget_live_tables()
                tuning.apply(engine, tables_for(engine, settings))
                outside_transaction(engine, "VACUUM ANALYZE")
            service = Service(settings, engine, clock=lambda: datetime.now(timezone.utc))
            for what, seconds in asyncio.run(drive(service, task_id, word, args.rounds, args.during)).items():
                rows.append((label, what, seconds))
                print(f"  {label}: {what}: {seconds} s", file=sys.stderr, flush=True)
            service.stop_scheduler()
        engine.dispose()
    print(f"\n{args.tasks:,} tasks, seed-shaped schema, Pilot at 120x40\n")
    print("| schema | what | seconds |\n|---|---|---|")
    for label, what, seconds in rows:
        print(f"| {label} | {what} | {seconds} |")


if __name__ == "__main__":
    main()
