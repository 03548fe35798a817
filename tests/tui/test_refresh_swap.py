"""A refresh makes the tables' rows on its worker thread, and the UI thread only swaps in what
changed: a key pressed meanwhile never waits for rows being made (issue #29, item 8). The time a
key takes at a million tasks is the benchmark's (tests/benchmarks/console_keys.py); these say how."""

from __future__ import annotations

import threading

from sqlalchemy import update
from textual.widgets import DataTable

import console.tui.app as app_module
import console.tui.widgets as widgets
from console.db.models import Task
from console.tui.widgets import NearTable, SteadyFooter
from tests.tui.conftest import settle
from tests.tui.test_keys import wait_for

MUTATIONS = ("clear", "add_row", "add_rows", "update_cell", "update_cell_at", "remove_row", "add_column")


async def _refreshed(pilot) -> None:
    seen = pilot.app.refreshes
    pilot.app.request_refresh()
    await wait_for(pilot, lambda: pilot.app.refreshes > seen)
    await pilot.pause()


def _record_mutations(monkeypatch, app) -> list[tuple[str, str, tuple]]:
    """Every change made to the main screen's tables: (table id, method, arguments)."""
    done: list[tuple[str, str, tuple]] = []
    for name in MUTATIONS:
        original = getattr(DataTable, name)

        def recording(self, *args, _original=original, _name=name, **kwargs):
            if self.id in ("jobs", "near", "levels"):
                done.append((self.id, _name, args))
            return _original(self, *args, **kwargs)

        monkeypatch.setattr(DataTable, name, recording)
    return done


async def test_a_refresh_makes_the_rows_off_the_ui_thread(frozen_service, make_app, monkeypatch):
    threads: list[tuple[str, threading.Thread]] = []
    for module, name in ((app_module, "panel_rows"), (widgets, "job_rows"), (widgets, "near_rows")):
        original = getattr(module, name)

        def recording(*args, _original=original, _name=name, **kwargs):
            threads.append((_name, threading.current_thread()))
            return _original(*args, **kwargs)

        monkeypatch.setattr(module, name, recording)
    app = make_app(frozen_service, embed_scheduler=False)
    async with app.run_test(size=(120, 40)) as pilot:
        await settle(pilot)
        await _refreshed(pilot)
        await pilot.press("1")  # a level: the near panel's rows change
        await wait_for(pilot, lambda: app.query_one(NearTable).tasks and
                       {t.level for t in app.query_one(NearTable).tasks} == {5})
        assert {name for name, _ in threads} == {"panel_rows", "job_rows", "near_rows"}
        assert all(thread is not threading.main_thread() for _, thread in threads), threads


async def test_a_refresh_that_reads_the_same_changes_nothing_in_the_tables(frozen_service, make_app, monkeypatch):
    app = make_app(frozen_service, embed_scheduler=False)
    async with app.run_test(size=(120, 40)) as pilot:
        await settle(pilot)
        done = _record_mutations(monkeypatch, app)
        await _refreshed(pilot)  # the clock is frozen: the same rows, the same cells
        assert done == []
        await pilot.press("s")  # a new order: the same rows, rebuilt in it
        assert any(table == "near" and name == "add_row" for table, name, _ in done)


async def test_a_refresh_that_changes_one_cell_updates_that_cell_only(frozen_service, make_app, monkeypatch):
    app = make_app(frozen_service, embed_scheduler=False)
    async with app.run_test(size=(120, 40)) as pilot:
        await settle(pilot)
        near = app.query_one(NearTable)
        task_id = near.tasks[1].task_id
        with frozen_service.engine.begin() as conn:
            conn.execute(update(Task).where(Task.id == task_id).values(title="renamed [b]while[/b] shown"))
        done = _record_mutations(monkeypatch, app)
        await _refreshed(pilot)
        assert [(table, name, args[:2]) for table, name, args in done] == [("near", "update_cell", (str(task_id), "title"))]
        # The id first (issue #29 item 2), then the title as written, never read as markup.
        assert near.get_cell(str(task_id), "title").plain.split(None, 1) == [str(task_id), "renamed [b]while[/b] shown"]


async def test_tab_between_the_tables_makes_the_footer_again_only_when_its_keys_change(frozen_service, make_app,
                                                                                      monkeypatch):
    made: list[str] = []
    recompose = SteadyFooter.recompose

    async def recording(self):
        made.append(self.screen.focused.id if self.screen.focused else "")
        await recompose(self)

    monkeypatch.setattr(SteadyFooter, "recompose", recording)
    app = make_app(frozen_service, embed_scheduler=False)
    async with app.run_test(size=(120, 40)) as pilot:
        await settle(pilot)
        footer = app.query_one(SteadyFooter)
        keys = [getattr(key, "description", "") for key in footer.walk_children()]
        assert any(keys)
        made.clear()
        await pilot.press("tab", "shift+tab", "tab")
        assert app.focused is app.query_one(NearTable)
        assert made == []  # the same keys on either table: the footer stays as it is
        assert [getattr(key, "description", "") for key in footer.walk_children()] == keys
        await pilot.press("slash")  # the filter box: other keys, so the footer is made again
        await wait_for(pilot, lambda: made)
