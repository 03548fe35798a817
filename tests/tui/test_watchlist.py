"""The near panel as a watchlist: how many of how many, one level at a time, four orders, warned
and not yet warned told apart, a search of the whole tasks table, and a task opened by its id."""

from __future__ import annotations

from sqlalchemy import select
from textual.content import Content

from console.db.models import Task
from console.service import AHEAD
from console.tui.format import level_style
from console.tui.inspect_screens import TaskScreen
from console.tui.widgets import JobsTable, NearTable
from tests.tui.conftest import loaded, settle
from tests.tui.test_keys import toasts, wait_for


async def _press_until_refreshed(pilot, *keys: str) -> None:
    """Press ``keys`` and wait for a refresh that began after them."""
    seen = pilot.app.refreshes
    await pilot.press(*keys)
    await wait_for(pilot, lambda: pilot.app.refreshes > seen)
    await pilot.app.workers.wait_for_complete()
    await pilot.pause()


def _title(app) -> str:
    return str(app.query_one("#near-panel").border_title)


async def test_the_title_says_how_many_of_how_many_and_each_level_key_shows_one_level(frozen_service, make_app):
    app = make_app(frozen_service, embed_scheduler=False)
    async with app.run_test(size=(120, 40)) as pilot:
        await settle(pilot)
        near = app.query_one(NearTable)
        in_levels = {lv.level: lv.in_level for lv in app.dashboard.warnings.levels}
        shown = sum(1 for t in near.tasks if t.level)
        assert f"Near thresholds {shown} of {sum(in_levels.values()):,}" in _title(app)
        for key, level in (("1", 5), ("2", 10), ("3", 20)):
            await _press_until_refreshed(pilot, key)
            assert app.near_show == level and near.tasks and {t.level for t in near.tasks} == {level}
            assert f"{level}% {near.total} of {in_levels[level]:,}" in _title(app)
        await _press_until_refreshed(pilot, "4")
        assert app.near_show == AHEAD and near.tasks
        assert all(t.level is None and t.next_at is not None for t in near.tasks)
        await _press_until_refreshed(pilot, "0")
        assert app.near_show is None and near.tasks[0].level == 5


async def test_s_cycles_the_order_and_the_chosen_task_stays_chosen(frozen_service, make_app):
    app = make_app(frozen_service, embed_scheduler=False)
    async with app.run_test(size=(120, 40)) as pilot:
        await settle(pilot)
        near = app.query_one(NearTable)
        near.focus()
        await pilot.press("down", "down")
        chosen = near.selected_key
        await pilot.press("s")
        assert near.sort == "next threshold" and "by next threshold" in _title(app)
        nexts = [next(t for t in near.tasks if str(t.task_id) == row.key.value).next_at for row in near.ordered_rows]
        known = [n for n in nexts if n is not None]
        assert known == sorted(known) and near.selected_key == chosen
        await pilot.press("s")
        assert near.sort == "deadline"
        ends = [t.window_end for t in sorted(near.tasks, key=lambda t: (t.window_end, t.task_id))]
        shown = [next(t for t in near.tasks if str(t.task_id) == row.key.value).window_end for row in near.ordered_rows]
        assert shown == ends
        await pilot.press("s")
        assert near.sort == "progress gap"
        gaps = [next(t for t in near.tasks if str(t.task_id) == row.key.value) for row in near.ordered_rows]
        assert [t.time_progress - t.progress for t in gaps] == sorted((t.time_progress - t.progress for t in gaps),
                                                                      reverse=True)
        await pilot.press("s")
        assert near.sort == "severity" and "by " not in _title(app)
        assert near.selected_key == chosen


async def test_warned_and_not_yet_warned_levels_are_told_apart_in_text(frozen_service, make_app):
    app = make_app(frozen_service, embed_scheduler=False)
    async with app.run_test(size=(120, 40)) as pilot:
        await settle(pilot)
        near = app.query_one(NearTable)
        marks = {near.cell(str(t.task_id), "level").plain[-1]: t for t in near.tasks if t.level}
        # check_task_warnings ran over the frozen data: every task in a level was warned once.
        assert "✓" in marks
        warned = marks["✓"]
        assert warned.level in warned.notified_levels


def test_no_color_keeps_every_level_readable(monkeypatch):
    monkeypatch.setenv("NO_COLOR", "1")
    assert "reverse" in level_style(5) and "bold" in level_style(10)
    assert "grey" not in level_style(20) and "dim" not in level_style(20)
    monkeypatch.delenv("NO_COLOR")
    assert level_style(5) == "bold red"


async def test_the_near_filter_searches_every_task_on_enter_and_escape_returns(frozen_service, make_app):
    app = make_app(frozen_service, embed_scheduler=False)
    async with app.run_test(size=(120, 40)) as pilot:
        await settle(pilot)
        near = app.query_one(NearTable)
        loaded_ids = {t.task_id for t in near.tasks}
        with frozen_service.engine.connect() as conn:
            far = conn.execute(select(Task.id).where(Task.status == "processing", Task.id.not_in(loaded_ids))
                               .order_by(Task.id.desc()).limit(1)).scalar_one()
        near.focus()
        await pilot.press("slash", *str(far))
        await pilot.pause()
        assert near.row_count == 0  # typing narrows the loaded rows: it is not among them
        await pilot.press("enter")
        await wait_for(pilot, lambda: not app.searching and near.total > 0)
        assert str(far) in [row.key.value for row in near.ordered_rows]
        assert f"search “{far}”" in str(app.query_one("#near-panel").border_subtitle)
        seen = app.refreshes
        app.request_refresh()
        await wait_for(pilot, lambda: app.refreshes > seen)
        await app.workers.wait_for_complete()
        assert str(far) in [row.key.value for row in near.ordered_rows]  # a refresh keeps the search
        await _press_until_refreshed(pilot, "escape")
        assert app.near_search is None and {t.task_id for t in near.tasks} == loaded_ids
        assert not app.query_one("#near-panel").border_subtitle


async def test_escape_clears_a_kept_filter_and_the_panel_says_one_is_on(frozen_service, make_app):
    app = make_app(frozen_service, embed_scheduler=False)
    async with app.run_test(size=(120, 40)) as pilot:
        await settle(pilot)
        jobs = app.query_one(JobsTable)
        await pilot.press("slash", *"check", "enter")
        await pilot.pause()
        assert jobs.row_count == 1 and app.focused is jobs
        assert "filter “check” 1/4" in str(app.query_one("#jobs-panel").border_subtitle)
        await pilot.press("escape")
        await pilot.pause()
        assert jobs.row_count == 4 and not app.query_one("#jobs-panel").border_subtitle


async def test_g_then_an_id_opens_that_task_and_garbage_says_why(frozen_service, make_app):
    app = make_app(frozen_service, embed_scheduler=False)
    async with app.run_test(size=(120, 40)) as pilot:
        await settle(pilot)
        with frozen_service.engine.connect() as conn:
            task_id = conn.execute(select(Task.id).order_by(Task.id.desc()).limit(1)).scalar_one()
        await pilot.press("g", *"abc", "enter")
        await pilot.pause()
        assert any(t.startswith("g: a task id is a number") for t in toasts(app))
        await pilot.press("g", *"99999999", "enter")
        await wait_for(pilot, lambda: any(t == "g: no task 99999999" for t in toasts(app)))
        await pilot.press("g", *str(task_id), "enter")
        await wait_for(pilot, lambda: isinstance(app.screen, TaskScreen))
        assert app.screen.task_id == task_id
        await loaded(pilot)


async def test_what_the_operator_types_is_shown_literally_in_the_panel_notes(frozen_service, make_app):
    app = make_app(frozen_service, embed_scheduler=False)
    async with app.run_test(size=(120, 40)) as pilot:
        await settle(pilot)
        await pilot.press("slash", *"[bold]x[/bold]", "enter")
        await pilot.pause()
        # Textual keeps a border title as markup: what it draws is that markup's text.
        note = Content.from_markup(app.query_one("#jobs-panel").border_subtitle).plain
        assert "[bold]x[/bold]" in note
        await pilot.press("tab", "slash", *"[red]q", "enter")
        await wait_for(pilot, lambda: not app.searching)
        assert "search “[red]q”" in Content.from_markup(app.query_one("#near-panel").border_subtitle).plain
