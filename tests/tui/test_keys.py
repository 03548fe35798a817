"""Every key of the console, driven with Pilot against a real SQLite database and scheduler."""

from __future__ import annotations

import asyncio
import getpass
import threading
from dataclasses import replace

from sqlalchemy import select

from console.db.models import AuditEntry, JobRun, Task
from console.domain.text import printable
from console.jobs import JOBS
from console.tui.dialogs import Confirm, Help
from console.tui.quitting import Stopping
from console.tui.inspect_screens import JobScreen, PreviewScreen, TaskScreen
from console.tui.messages import DashboardLoaded, RunEventReceived
from console.tui.widgets import JobsTable, NearTable
from tests.tui.conftest import loaded, settle


def rows_of(engine, model):
    with engine.connect() as conn:
        return conn.execute(select(model).order_by(model.id)).all()


async def wait_for(pilot, condition, seconds: float = 10.0) -> None:
    for _ in range(int(seconds / 0.05)):
        if condition():
            return
        await pilot.pause(0.05)
    raise AssertionError("condition not met in time")


def toasts(app) -> list[str]:
    """Every toast shown so far (those the factory recorded), whether or not it has timed out."""
    shown = getattr(app, "toasts_shown", None)
    return list(shown) if shown is not None else [n.message for n in app._notifications]


async def select_job(pilot, job_id: str) -> None:
    table = pilot.app.query_one(JobsTable)
    table.focus()
    table.move_cursor(row=table.get_row_index(job_id))
    await pilot.pause()


async def test_starts_on_the_jobs_table_with_every_panel_filled(live_service, make_app):
    app = make_app(live_service)
    async with app.run_test(size=(80, 24)) as pilot:
        await settle(pilot)
        await wait_for(pilot, lambda: live_service.scheduler_state == "running")
        assert isinstance(app.focused, JobsTable)
        assert [str(k.value) for k in app.query_one(JobsTable).rows] == list(JOBS)
        assert app.query_one(NearTable).row_count > 0
        assert app.dashboard.warnings is not None and len(app.dashboard.warnings.levels) == 3


async def test_t_runs_the_selected_job_as_a_manual_run_by_the_operator(live_service, make_app):
    app = make_app(live_service)
    async with app.run_test() as pilot:
        await settle(pilot)
        await select_job(pilot, "update_time_progress")
        await pilot.press("t")
        await wait_for(pilot, lambda: any(r.trigger_kind == "manual" and r.status == "success"
                                          for r in rows_of(live_service.engine, JobRun)))
        manual = [r for r in rows_of(live_service.engine, JobRun) if r.trigger_kind == "manual"]
        assert [(r.job_id, r.actor) for r in manual] == [("update_time_progress", getpass.getuser())]
        audit = rows_of(live_service.engine, AuditEntry)
        assert [(a.action, a.job_id, a.actor) for a in audit] == [("run", "update_time_progress", getpass.getuser())]


async def test_cleanup_asks_first_and_no_means_no(live_service, make_app):
    app = make_app(live_service)
    async with app.run_test() as pilot:
        await settle(pilot)
        await select_job(pilot, "cleanup_old_data")
        await pilot.press("t")
        await pilot.pause()
        assert isinstance(app.screen, Confirm)
        await pilot.press("n")
        await app.workers.wait_for_complete()
        assert not [r for r in rows_of(live_service.engine, JobRun) if r.job_id == "cleanup_old_data"]
        await pilot.press("t")
        await pilot.pause()
        await pilot.press("y")
        await wait_for(pilot, lambda: any(r.job_id == "cleanup_old_data" and r.status == "success"
                                          for r in rows_of(live_service.engine, JobRun)))


async def test_p_pauses_and_resumes_the_selected_job(live_service, make_app):
    app = make_app(live_service)
    async with app.run_test() as pilot:
        await settle(pilot)
        await wait_for(pilot, lambda: live_service.live is not None)
        await select_job(pilot, "check_task_warnings")
        await pilot.press("p")
        await wait_for(pilot, lambda: live_service.store.get("check_task_warnings").paused)
        await wait_for(pilot, lambda: app.job_info("check_task_warnings").paused)
        await pilot.press("p")
        await wait_for(pilot, lambda: not live_service.store.get("check_task_warnings").paused)
        assert [a.action for a in rows_of(live_service.engine, AuditEntry)] == ["pause", "resume"]


async def test_capital_p_pauses_and_resumes_the_whole_scheduler(live_service, make_app):
    app = make_app(live_service)
    async with app.run_test() as pilot:
        await settle(pilot)
        await wait_for(pilot, lambda: live_service.scheduler_state == "running")
        await pilot.press("P")
        await wait_for(pilot, lambda: isinstance(app.screen, Confirm))  # pausing everything asks
        await pilot.press("n")
        await wait_for(pilot, lambda: not isinstance(app.screen, Confirm))  # answered
        await app.workers.wait_for_complete()  # whatever the answer set going has finished
        await pilot.pause()
        assert live_service.scheduler_state == "running"
        await pilot.press("P")
        await wait_for(pilot, lambda: isinstance(app.screen, Confirm))
        await pilot.press("y")
        await wait_for(pilot, lambda: live_service.scheduler_state == "paused")
        await wait_for(pilot, lambda: "all paused" in app.query_one(JobsTable).cell("cleanup_old_data", "next run").plain)
        await pilot.press("P")  # resuming does not ask
        await wait_for(pilot, lambda: live_service.scheduler_state == "running")
        assert any("scheduler paused" in t for t in toasts(app))


async def test_enter_inspects_a_job_and_a_task(live_service, make_app):
    app = make_app(live_service)
    async with app.run_test(size=(120, 40)) as pilot:
        await settle(pilot)
        await select_job(pilot, "check_task_warnings")
        await pilot.press("enter")
        await pilot.pause()
        assert isinstance(app.screen, JobScreen) and app.screen.job_id == "check_task_warnings"
        await app.workers.wait_for_complete()
        await pilot.press("escape")
        await pilot.pause()
        near = app.query_one(NearTable)
        near.focus()
        await pilot.pause()
        first = near.selected_key
        await pilot.press("enter")
        await pilot.pause()
        assert isinstance(app.screen, TaskScreen) and app.screen.task_id == int(first)
        await app.workers.wait_for_complete()
        await pilot.pause()
        with live_service.engine.connect() as conn:
            title, status = conn.execute(select(Task.title, Task.status).where(Task.id == int(first))).one()
        summary = app.screen.query_one("#summary").render().plain
        # The task's own summary: its title first, then its status (not an error, not another task).
        assert summary.startswith(printable(title)) and f"status {status}" in summary, summary


async def test_tab_moves_between_panels(live_service, make_app):
    app = make_app(live_service)
    async with app.run_test() as pilot:
        await settle(pilot)
        assert isinstance(app.focused, JobsTable)
        await pilot.press("tab")
        assert isinstance(app.focused, NearTable)


async def test_v_previews_without_writing(live_service, make_app):
    app = make_app(live_service)
    async with app.run_test() as pilot:
        await settle(pilot)
        await select_job(pilot, "reset_periodic_tasks")
        before = rows_of(live_service.engine, JobRun)
        await pilot.press("v")
        await pilot.pause()
        assert isinstance(app.screen, PreviewScreen)
        await app.workers.wait_for_complete()
        await pilot.pause()
        assert "would_reset" in app.screen.query_one("#counts").render().plain
        assert rows_of(live_service.engine, JobRun) == before


async def test_slash_filters_the_focused_table_and_escape_clears(live_service, make_app):
    app = make_app(live_service)
    async with app.run_test() as pilot:
        await settle(pilot)
        await pilot.press("slash", *"clean")
        await pilot.pause()
        assert app.query_one(JobsTable).row_count == 1
        await pilot.press("escape")
        await pilot.pause()
        assert app.query_one(JobsTable).row_count == 4 and isinstance(app.focused, JobsTable)


async def test_r_refreshes_now(live_service, make_app):
    app = make_app(live_service)
    async with app.run_test() as pilot:
        await settle(pilot)
        seen = app.refreshes
        await pilot.press("r")
        await wait_for(pilot, lambda: app.refreshes > seen, seconds=3)


async def test_question_mark_shows_help(live_service, make_app):
    app = make_app(live_service)
    async with app.run_test() as pilot:
        await settle(pilot)
        await pilot.press("question_mark")
        await pilot.pause()
        assert isinstance(app.screen, Help)
        await pilot.press("escape")
        await pilot.pause()
        assert not isinstance(app.screen, Help)


async def test_q_stops_the_scheduler_gracefully_and_exits(live_service, make_app):
    app = make_app(live_service)
    async with app.run_test() as pilot:
        await settle(pilot)
        await wait_for(pilot, lambda: live_service.scheduler_state == "running")
        await pilot.press("q")
        await wait_for(pilot, lambda: app.return_code is not None)
    assert app.return_value == 0
    assert live_service.scheduler_state == "stopped"


def slow_time_progress(service) -> threading.Event:
    """update_time_progress waits (up to 20 s) until the event returned is set."""
    release = threading.Event()
    real = JOBS["update_time_progress"]

    def slow(ctx):
        release.wait(20)
        return real.run(ctx)

    service.runner.jobs = {**JOBS, "update_time_progress": replace(real, run=slow)}
    return release


async def test_q_asks_while_a_job_is_running(live_service, make_app):
    release = slow_time_progress(live_service)
    app = make_app(live_service)
    async with app.run_test() as pilot:
        await settle(pilot)
        await select_job(pilot, "update_time_progress")
        await pilot.press("t")
        await wait_for(pilot, lambda: "update_time_progress" in live_service.running_here())
        await pilot.press("q")
        await pilot.pause()
        assert isinstance(app.screen, Confirm)
        await pilot.press("n")
        await pilot.pause()
        assert app.return_code is None
        release.set()
        await wait_for(pilot, lambda: not live_service.running_here())
        await pilot.press("q")
        await wait_for(pilot, lambda: app.return_code is not None)
    assert [r.status for r in rows_of(live_service.engine, JobRun) if r.trigger_kind == "manual"] == ["success"]


async def test_quitting_while_a_job_runs_shows_what_it_waits_for_and_a_second_q_can_leave_the_run(
        live_service, make_app):
    release = slow_time_progress(live_service)
    app = make_app(live_service)
    try:
        async with app.run_test() as pilot:
            await settle(pilot)
            await select_job(pilot, "update_time_progress")
            await pilot.press("t")
            await wait_for(pilot, lambda: "update_time_progress" in live_service.running_here())
            seen = app.refreshes
            app.request_refresh()
            await wait_for(pilot, lambda: app.refreshes > seen)
            await pilot.press("ctrl+c")  # Ctrl-C quits as q does: it asks first
            await wait_for(pilot, lambda: isinstance(app.screen, Confirm))
            await pilot.press("y")
            await wait_for(pilot, lambda: isinstance(app.screen, Stopping))
            await wait_for(pilot, lambda: "waiting for update_time_progress (running for"
                           in str(app.screen.query_one("#waiting").render()))
            await pilot.press("q")  # a second q: leave the run?
            await wait_for(pilot, lambda: isinstance(app.screen, Confirm))
            await pilot.press("n")
            await pilot.pause()
            assert isinstance(app.screen, Stopping) and app.return_code is None
            await pilot.press("ctrl+c", "y")
            await wait_for(pilot, lambda: app.return_code is not None)
            # The app ended while the job still runs: it did not wait for it.
            assert "update_time_progress" in live_service.running_here()
        assert app.left_running == ["update_time_progress"]
    finally:
        release.set()


async def test_read_only_disables_every_changing_key(live_service, make_app):
    app = make_app(live_service, read_only=True)
    async with app.run_test() as pilot:
        await settle(pilot)
        await wait_for(pilot, lambda: live_service.scheduler_state == "running")
        await select_job(pilot, "update_time_progress")
        for key in ("t", "p", "P"):
            await pilot.press(key)
        await pilot.pause(0.3)
        await app.workers.wait_for_complete()
        assert [r for r in rows_of(live_service.engine, JobRun) if r.trigger_kind == "manual"] == []
        assert rows_of(live_service.engine, AuditEntry) == []
        assert live_service.scheduler_state == "running"
        assert app.check_action("trigger", ()) is None  # dimmed in the footer
        said = toasts(app)
        for key in ("t", "p", "P"):  # each key answered, by name
            assert any(t.startswith(f"{key}: ") and "read-only" in t for t in said), said


async def test_scheduler_events_reach_the_screen_as_messages(live_service, make_app):
    seen = []
    app = make_app(live_service)
    async with app.run_test(message_hook=seen.append) as pilot:
        await settle(pilot)
        refreshes = app.refreshes
        # A run started elsewhere in the process, on another thread (as a scheduled run is).
        await asyncio.to_thread(live_service.runner.execute, "update_time_progress", "scheduled")
        await wait_for(pilot, lambda: any(isinstance(m, RunEventReceived) for m in seen))
        await wait_for(pilot, lambda: app.refreshes > refreshes)
        assert any(isinstance(m, DashboardLoaded) for m in seen)


async def test_task_screen_shows_the_rule_in_words_and_flags_a_bad_one(live_service, make_app):
    from sqlalchemy import select as _select

    from console.db.models import Task

    with live_service.engine.connect() as conn:
        good, bad = conn.execute(_select(Task.id).where(Task.category == "periodic").limit(2)).scalars().all()
    live_service.set_recurrence(good, "FREQ=WEEKLY;BYDAY=MO;BYHOUR=9;BYMINUTE=0")
    with live_service.engine.begin() as conn:
        conn.execute(Task.__table__.update().where(Task.id == bad).values(recurrence="bogus rule"))
    app = make_app(live_service)
    async with app.run_test(size=(120, 40)) as pilot:
        await settle(pilot)
        for task_id, expected in ((good, "every Monday 09:00"), (bad, "INVALID")):
            app.push_screen(TaskScreen(task_id))
            await loaded(pilot)
            text = app.screen.query_one("#summary").render().plain
            assert expected in text
            if task_id == good:
                assert "next window:" in text
            await pilot.press("escape")
            await pilot.pause()


async def test_preview_rows_open_the_task(live_service, make_app):
    app = make_app(live_service)
    async with app.run_test(size=(120, 40)) as pilot:
        await settle(pilot)
        await select_job(pilot, "reset_periodic_tasks")
        await pilot.press("v")
        await loaded(pilot)
        samples = app.screen.query_one("#samples")
        samples.focus()
        first = samples.coordinate_to_cell_key(samples.cursor_coordinate).row_key.value
        await pilot.press("enter")
        await pilot.pause()
        assert isinstance(app.screen, TaskScreen) and app.screen.task_id == int(first)
