"""Run logs: each run's lines are kept per run (bounded), any console shows them, the leader's
reach an attached console, and `l` opens a view that filters by level and job and wraps."""

from __future__ import annotations

import logging
from dataclasses import replace
from datetime import datetime, timezone

from sqlalchemy import func, select

from console.db.demo import load_demo
from console.db.engine import make_engine
from console.db.models import RunLogLine
from console.jobs import JOBS
from console.service import Service
from console.settings import Settings
from console.tui.inspect_screens import JobScreen
from console.tui.log_views import LogScreen, RunLogScreen
from console.tui.logs import LogPanel
from tests.faults.conftest import processes, wait_for as wait_until
from tests.tui.conftest import loaded, settle
from tests.tui.test_keys import select_job, toasts, wait_for


def test_each_run_keeps_its_own_lines_and_a_chatty_run_is_bounded(frozen_service):
    service = frozen_service
    service.settings = Settings.model_validate({"run_logs": {"lines_per_run": 10}})
    real = JOBS["update_time_progress"]

    def chatty(ctx):
        for i in range(50):
            ctx.log.info("line %d of a chatty run [red]not markup[/red]", i)
        return real.run(ctx)

    runner = service.runner
    runner.run_logs.per_run = 10
    runner.jobs = {**JOBS, "update_time_progress": replace(real, run=chatty)}
    first = service.run_now("update_time_progress", actor="test").run
    runner.jobs = JOBS
    second = service.run_now("update_time_progress", actor="test").run
    lines = [line.message for line in service.run_log(first.run_id)]
    # 53 lines (started, 50, what it updated, finished): the first five, a note, the last five.
    assert len(lines) == 11 and lines[0].startswith("job update_time_progress started")
    assert lines[1] == "line 0 of a chatty run [red]not markup[/red]"
    assert lines[5] == "43 log line(s) of this run dropped here (run_logs.lines_per_run is 10)"
    assert lines[6] == "line 47 of a chatty run [red]not markup[/red]"
    assert lines[-1].startswith("job update_time_progress finished")
    assert {line.run_id for line in service.run_log(first.run_id)} == {first.run_id}
    theirs = [line.message for line in service.run_log(second.run_id)]
    assert theirs[0].startswith("job update_time_progress started") and theirs[-1].startswith(
        "job update_time_progress finished")


async def test_a_runs_whole_log_opens_from_the_job_screen(frozen_service, make_app):
    run = frozen_service.run_now("check_task_warnings", actor="test").run
    app = make_app(frozen_service, embed_scheduler=False)
    async with app.run_test(size=(120, 40)) as pilot:
        await settle(pilot)
        await select_job(pilot, "check_task_warnings")
        await pilot.press("enter")
        await loaded(pilot)
        assert isinstance(app.screen, JobScreen)
        runs = app.screen.query_one("#runs")
        runs.focus()
        runs.move_cursor(row=runs.get_row_index(str(run.run_id)))
        await pilot.press("enter")
        await loaded(pilot)
        assert isinstance(app.screen, RunLogScreen) and app.screen.run_id == run.run_id
        shown = "\n".join(line.text for line in app.screen.query_one("#run-log").lines)
        assert f"#{run.run_id} job check_task_warnings started" in shown and "job check_task_warnings finished" in shown


async def test_l_opens_the_log_view_that_filters_by_level_and_job_and_wraps(frozen_service, make_app):
    app = make_app(frozen_service, embed_scheduler=False)
    async with app.run_test(size=(100, 30)) as pilot:
        await settle(pilot)
        log = logging.getLogger("console.scheduler")
        log.warning("a warning about nothing")
        log.error("an error about nothing")
        log.info("an info line " + "long " * 40)
        panel = app.query_one(LogPanel)  # the view opens on what the panel holds: all three there
        await wait_for(pilot, lambda: any(e.message.startswith("an info line") for e in panel.entries))
        await pilot.press("l")
        await pilot.pause()
        screen = app.screen
        assert isinstance(screen, LogScreen)

        def shown() -> str:
            return "\n".join(line.text for line in screen.query_one("#log-view").lines)

        assert "an info line" in shown() and "a warning about nothing" in shown()
        assert len(shown().splitlines()) > len(screen.entries)  # the long line wraps
        await pilot.press("w")
        assert len(shown().splitlines()) == len([e for e in screen.entries])
        await pilot.press("e")  # warnings and worse
        assert "an info line" not in shown() and "a warning about nothing" in shown()
        await pilot.press("e")  # errors only
        assert "a warning about nothing" not in shown() and "an error about nothing" in shown()
        await pilot.press("e", "j")  # all levels, the first job only
        assert screen.job == "reset_periodic_tasks" and "an info line" not in shown()
        log.error("arrives while the view is open")
        await pilot.press("j", "j", "j", "j")  # back to every job
        assert screen.job is None
        await wait_for(pilot, lambda: "arrives while the view is open" in shown())
        await pilot.press("escape")
        assert not isinstance(app.screen, LogScreen)


async def test_a_run_that_failed_in_another_process_shows_a_toast_here(frozen_service, make_app):
    app = make_app(frozen_service, embed_scheduler=False)
    async with app.run_test(size=(120, 40)) as pilot:
        await settle(pilot)
        with frozen_service.engine.begin() as conn:  # as the leader's process writes it
            conn.execute(RunLogLine.__table__.insert().values(
                run_id=77, job_id="check_task_warnings", at=datetime.now(timezone.utc), level="ERROR",
                logger="console.scheduler", message="job check_task_warnings failed after 0.20 s: boom",
                host="elsewhere", pid=1))
        seen = app.refreshes
        app.request_refresh()
        await wait_for(pilot, lambda: app.refreshes > seen)
        assert "check_task_warnings #77: job check_task_warnings failed after 0.20 s: boom" in toasts(app)
        assert any(e.remote and e.run_id == 77 for e in app.query_one(LogPanel).entries)


async def test_failures_from_before_the_console_opened_are_shown_but_not_toasted_nor_read_twice(frozen_service,
                                                                                                make_app):
    with frozen_service.engine.begin() as conn:
        conn.execute(RunLogLine.__table__.insert().values(
            run_id=5, job_id="check_task_warnings", at=datetime.now(timezone.utc), level="ERROR",
            logger="console.scheduler", message="job check_task_warnings failed after 1.00 s: old news",
            host="elsewhere", pid=1))
    app = make_app(frozen_service, embed_scheduler=False)
    async with app.run_test(size=(120, 40)) as pilot:
        await settle(pilot)
        for _ in range(2):
            seen = app.refreshes
            app.request_refresh()
            await wait_for(pilot, lambda: app.refreshes > seen)
        old = [e for e in app.query_one(LogPanel).entries if e.remote]
        assert [e.run_id for e in old] == [5]  # shown once, read once
        assert not any("old news" in t for t in toasts(app))


async def test_an_attached_console_shows_the_leaders_run_logs(pg, tmp_path, make_app):
    engine = make_engine(pg.url)
    load_demo(engine, 300, now=datetime.now(timezone.utc))
    with processes(pg.url, tmp_path) as start:
        leader = start("run")
        wait_until(lambda: pg.scalar("SELECT count(*) FROM scheduler_nodes WHERE role = 'leader' AND pid = :p",
                                     p=leader.pid), timeout=30, what="the leader to lead", proc=leader)
        service = Service(Settings(), engine, clock=lambda: datetime.now(timezone.utc))
        app = make_app(service)
        try:
            async with app.run_test(size=(120, 40)) as pilot:
                await settle(pilot)
                await wait_for(pilot, lambda: service.scheduler_state == "attached", seconds=20)
                await select_job(pilot, "check_task_warnings")
                await pilot.press("t")  # a command: the leader runs it, in its own process
                run_id = None

                def leader_line():
                    for entry in app.query_one(LogPanel).entries:
                        if entry.remote and entry.message.startswith("job check_task_warnings finished"):
                            return entry
                    return None

                await wait_for(pilot, lambda: leader_line() is not None, seconds=30)
                run_id = leader_line().run_id
                with engine.connect() as conn:
                    pid = conn.execute(select(func.min(RunLogLine.pid)).where(RunLogLine.run_id == run_id)).scalar()
                assert pid == leader.pid  # written by the leader's process, read here
                await pilot.press("q")
        finally:
            service.stop_scheduler()
            engine.dispose()
    assert run_id is not None and not any("failed" in t for t in toasts(app))
