"""The : command line (every action by name, with completion) and help that shows the keys of
the screen it is opened on."""

from __future__ import annotations

from console.tui.command_line import CommandSuggester
from console.tui.dialogs import Confirm, Help
from console.tui.inspect_screens import TaskScreen
from console.tui.log_views import LogScreen
from console.tui.widgets import NearTable
from tests.tui.conftest import loaded, settle
from tests.tui.test_keys import toasts, wait_for


async def test_colon_pause_then_resume_a_job_by_name(frozen_service, make_app):
    app = make_app(frozen_service, embed_scheduler=False)
    async with app.run_test(size=(120, 40)) as pilot:
        await settle(pilot)
        await pilot.press("colon", *"pause cleanup_old_data", "enter")
        await wait_for(pilot, lambda: frozen_service.store.get("cleanup_old_data") is not None
                       and frozen_service.store.get("cleanup_old_data").paused)
        assert "cleanup_old_data paused" in toasts(app)
        app.request_refresh()
        await settle(pilot, app.refreshes + 1)
        await pilot.press("colon", *"resume cleanup_old_data", "enter")
        await wait_for(pilot, lambda: not frozen_service.store.get("cleanup_old_data").paused)


async def test_colon_task_logs_level_and_garbage(frozen_service, make_app):
    app = make_app(frozen_service, embed_scheduler=False)
    async with app.run_test(size=(120, 40)) as pilot:
        await settle(pilot)
        task_id = app.query_one(NearTable).tasks[0].task_id
        await pilot.press("colon", *f"task {task_id}", "enter")
        await wait_for(pilot, lambda: isinstance(app.screen, TaskScreen))
        assert app.screen.task_id == task_id
        await loaded(pilot)
        await pilot.press("escape", "colon", *"logs", "enter")
        await pilot.pause()
        assert isinstance(app.screen, LogScreen)
        await pilot.press("escape", "colon", *"level 10", "enter")
        await wait_for(pilot, lambda: app.near_show == 10)
        await pilot.press("colon", *"frobnicate now", "enter")
        await pilot.press("colon", *"pause nosuchjob", "enter")
        await pilot.press("colon", *"logs please", "enter")
        await pilot.pause()
        said = toasts(app)
        assert any(t.startswith(": no command 'frobnicate'") for t in said), said
        assert any(t.startswith(": no job 'nosuchjob'") for t in said)
        assert any(t == ": :logs takes nothing after it" for t in said)


async def test_colon_commands_that_change_something_say_read_only(frozen_service, make_app):
    app = make_app(frozen_service, embed_scheduler=False, read_only=True)
    async with app.run_test(size=(120, 40)) as pilot:
        await settle(pilot)
        await pilot.press("colon", *"pause cleanup_old_data", "enter")
        await pilot.pause()
        assert any(t.startswith("pause: ") and "read-only" in t for t in toasts(app))
        assert not any(j.paused for j in frozen_service.jobs())


async def test_the_suggester_completes_commands_then_job_ids(frozen_service):
    jobs = list(frozen_service.job_names())
    suggest = CommandSuggester(lambda kind: jobs if kind == "job" else ["5", "10", "20"] if kind == "level" else [])
    assert await suggest.get_suggestion("pa") == "pause"
    assert await suggest.get_suggestion("pause cl") == "pause cleanup_old_data"
    assert await suggest.get_suggestion("level 1") == "level 10"
    assert await suggest.get_suggestion("zzz") is None


async def test_help_shows_the_keys_of_the_screen_it_opens_on(frozen_service, make_app):
    app = make_app(frozen_service, embed_scheduler=False)
    async with app.run_test(size=(120, 40)) as pilot:
        await settle(pilot)
        await pilot.press("question_mark")
        await pilot.pause()
        main_help = str(app.screen.query_one("Static").render())
        assert isinstance(app.screen, Help) and "ctrl+q" in main_help and "go to a task by its id" in main_help
        assert "the audit of manual actions" in main_help and ":  run, pause" in main_help
        await pilot.press("escape", "l", "question_mark")
        await pilot.pause()
        log_help = str(app.screen.query_one("Static").render())
        assert "keys of the log view" in log_help and "wrap long lines" in log_help
        assert "go to a task by its id" not in log_help


async def test_help_fits_80x24_and_scrolls_to_its_last_key(frozen_service, make_app):
    app = make_app(frozen_service, embed_scheduler=False)
    async with app.run_test(size=(80, 24)) as pilot:
        await settle(pilot)
        await pilot.press("question_mark")
        await pilot.pause()
        box = app.screen.query_one("#help")
        assert box.region.bottom <= 24 and box.max_scroll_y > 0  # taller than the screen: it scrolls
        await pilot.press("end")
        await pilot.pause()
        assert box.scroll_y == box.max_scroll_y
        assert isinstance(app.screen, Help)


async def test_read_only_refuses_the_palette_and_the_job_screen_as_it_refuses_the_keys(frozen_service, make_app):
    from console.tui.inspect_screens import JobScreen
    from console.tui.keys import BY_ID
    from console.tui.palette import JobCommands

    app = make_app(frozen_service, embed_scheduler=False, read_only=True)
    async with app.run_test(size=(120, 40)) as pilot:
        await settle(pilot)
        # The palette offers nothing that changes something; what it offers runs through perform.
        names = [name for name, _, _ in JobCommands(app.screen)._commands()]
        assert "Logs" in names and "Inspect cleanup_old_data" in names
        assert not any(name.startswith(("Run", "Pause")) for name in names), names
        app.perform(BY_ID["trigger"], "cleanup_old_data")  # as a palette entry would, were it offered
        await pilot.pause()
        assert not isinstance(app.screen, Confirm)
        assert any(t.startswith("t: ") and "read-only" in t for t in toasts(app))
        # t on the job screen: dimmed, and said when pressed.
        await pilot.press("colon", *"inspect cleanup_old_data", "enter")
        await wait_for(pilot, lambda: isinstance(app.screen, JobScreen))
        await loaded(pilot)
        app.clear_notifications()
        await pilot.press("t")
        await pilot.pause()
        assert not isinstance(app.screen, Confirm)
        assert any(t.startswith("t: ") and "read-only" in t for t in toasts(app)), toasts(app)
