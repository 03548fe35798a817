"""A console opened while another process leads: it attaches, shows the leader, and its keys
travel to the leader as durable commands (the real console, a real second scheduler process
role, one SQLite file)."""

from __future__ import annotations

import os
from datetime import datetime, timezone

from console.db.models import AuditEntry, JobRun, SchedulerCommand
from console.service import Service
from console.tui.widgets import StatusBar
from tests.tui.conftest import settle
from tests.tui.test_keys import rows_of, select_job, wait_for


async def test_console_attaches_to_the_leader_and_its_keys_act_through_it(live_service, make_app):
    leader = Service(live_service.settings, live_service.engine, clock=lambda: datetime.now(timezone.utc))
    leader.start_scheduler(kind="run")
    assert leader.live is not None  # it leads: nobody else did
    try:
        app = make_app(live_service)
        async with app.run_test() as pilot:
            await settle(pilot)
            await wait_for(pilot, lambda: live_service.node is not None and app.dashboard is not None
                           and app.dashboard.leader is not None)
            assert live_service.scheduler_state == "attached" and live_service.live is None
            bar = str(app.query_one(StatusBar).render())
            assert "attached" in bar and f"leader {leader.node.id.split(':')[0]} pid {os.getpid()}" in bar

            await select_job(pilot, "check_task_warnings")
            await pilot.press("p")  # pause, carried out by the leader's scheduler
            await wait_for(pilot, lambda: leader.store.get("check_task_warnings").paused)
            await pilot.press("t")  # run now, as a command: the leader runs it
            await wait_for(pilot, lambda: any(r.job_id == "check_task_warnings" and r.status == "success"
                                              for r in rows_of(live_service.engine, JobRun)))
            # The leader closes the command just after the run it carried out (a run command says
            # "started" while its run goes on: closed is done_at, not an outcome).
            await wait_for(pilot, lambda: all(c.done_at for c in rows_of(live_service.engine, SchedulerCommand)))
            commands = rows_of(live_service.engine, SchedulerCommand)
            assert [(c.action, c.job_id, c.outcome) for c in commands] == [
                ("pause", "check_task_warnings", "done"), ("run", "check_task_warnings", "success")]
            assert all(c.taken_by == leader.node.id for c in commands)
            assert [a.action for a in rows_of(live_service.engine, AuditEntry)] == ["pause", "run"]
            assert not live_service.running_here()  # nothing ran in the console's process
            await pilot.press("q")
    finally:
        leader.stop_scheduler()


async def test_attached_console_takes_over_when_the_leader_stops(live_service, make_app):
    leader = Service(live_service.settings, live_service.engine, clock=lambda: datetime.now(timezone.utc))
    leader.start_scheduler(kind="run")
    app = make_app(live_service)
    try:
        async with app.run_test() as pilot:
            await settle(pilot)
            await wait_for(pilot, lambda: live_service.scheduler_state == "attached")
            leader.stop_scheduler()
            await wait_for(pilot, lambda: live_service.scheduler_state == "running", seconds=15)
            await wait_for(pilot, lambda: "running" in str(app.query_one(StatusBar).render()))
            await pilot.press("q")
    finally:
        leader.stop_scheduler()
