"""The audit view (a) and the notifications view (n): one key away, and filterable."""

from __future__ import annotations

import getpass

from console.tui.history_views import AuditScreen, NotesScreen
from console.tui.inspect_screens import TaskScreen
from console.tui.widgets import JobsTable
from tests.tui.conftest import loaded, settle
from tests.tui.test_keys import select_job, wait_for


def _rows(screen) -> list[dict]:
    table = screen.table
    return [dict(zip(table.widths, (cell.plain for cell in table.get_row(row.key)))) for row in table.ordered_rows]


async def test_a_shows_who_did_what_to_which_job_and_from_where(frozen_service, make_app):
    app = make_app(frozen_service, embed_scheduler=False)
    async with app.run_test(size=(160, 40)) as pilot:
        await settle(pilot)
        await select_job(pilot, "cleanup_old_data")
        await pilot.press("p")
        await wait_for(pilot, lambda: frozen_service.store.get("cleanup_old_data") is not None
                       and frozen_service.store.get("cleanup_old_data").paused)
        await pilot.press("a")
        await loaded(pilot)
        assert isinstance(app.screen, AuditScreen)
        [row] = _rows(app.screen)
        assert row["who"] == getpass.getuser() and row["action"] == "pause" and row["job"] == "cleanup_old_data"
        assert row["from"] and row["outcome"]
        await pilot.press("slash", *"resume")
        await pilot.pause()
        assert app.screen.table.row_count == 0
        await pilot.press("escape")  # clears the filter
        await pilot.pause()
        assert app.screen.table.row_count == 1
        await pilot.press("escape")  # back
        assert isinstance(app.focused, JobsTable)


async def test_n_shows_what_the_jobs_sent_by_type_and_by_task(frozen_service, make_app):
    app = make_app(frozen_service, embed_scheduler=False)
    async with app.run_test(size=(160, 40)) as pilot:
        await settle(pilot)
        await pilot.press("n")
        await loaded(pilot)
        screen = app.screen
        assert isinstance(screen, NotesScreen)
        rows = _rows(screen)
        warning_type = frozen_service.settings.notifications.warning.type
        assert rows and {r["type"] for r in rows} >= {warning_type}
        task = rows[0]["task"]
        await pilot.press("t")  # the first type: resets
        await loaded(pilot)
        assert screen.kind == frozen_service.settings.notifications.reset.type
        assert all(r["type"] == screen.kind for r in _rows(screen))
        await pilot.press("t")
        await loaded(pilot)
        assert screen.kind == warning_type and _rows(screen) and all(r["type"] == warning_type for r in _rows(screen))
        await pilot.press("slash", *task, "enter")
        await loaded(pilot)
        assert screen.task_id == int(task) and _rows(screen) and {r["task"] for r in _rows(screen)} == {task}
        await pilot.press("enter")  # opens the notification's task
        await loaded(pilot)
        assert isinstance(app.screen, TaskScreen) and app.screen.task_id == int(task)
        await pilot.press("escape")
        await pilot.press("escape")  # the task filter goes first
        await loaded(pilot)
        assert screen.task_id is None and len(_rows(screen)) >= 1


async def test_n_takes_a_typed_task_id_and_says_of_how_many_a_capped_list_is(frozen_service, make_app):
    """As the README says: a task id + Enter reads that task's; 500 of 16,000 never reads as all."""
    from sqlalchemy import func, insert, select

    from console.db.models import Notification
    from console.tui.history_views import LIMIT

    engine = frozen_service.engine
    with engine.connect() as conn:
        user = conn.execute(select(func.min(Notification.user_id))).scalar_one()
    with engine.begin() as conn:
        conn.execute(insert(Notification), [dict(user_id=user, type="系统", title=f"t{i}", content="c", task_id=None,
                                                 is_read=False, created_at=frozen_service.clock())
                                            for i in range(LIMIT + 100)])
    with engine.connect() as conn:
        total = conn.execute(select(func.count()).select_from(Notification)).scalar_one()
    app = make_app(frozen_service, embed_scheduler=False)
    async with app.run_test(size=(160, 40)) as pilot:
        await settle(pilot)
        await pilot.press("n")
        await loaded(pilot)
        screen = app.screen
        heading = str(screen.query_one("#history-heading").render())
        assert f"newest {LIMIT} of {total:,}" in heading, heading
        task = next(r["task"] for r in _rows(screen) if r["task"] != "-") if any(
            r["task"] != "-" for r in _rows(screen)) else None
        if task is None:  # the newest 500 are the ones made above: read a task's through the database
            with engine.connect() as conn:
                task = str(conn.execute(select(func.max(Notification.task_id))).scalar_one())
        await pilot.press(*task, "enter")  # digits on the list, no slash first
        await loaded(pilot)
        assert screen.task_id == int(task) and _rows(screen) and {r["task"] for r in _rows(screen)} == {task}


async def test_d_lists_the_deliveries_by_state_with_their_errors(frozen_service, make_app):
    """Issue #28: the outbox on screen (channel, event, to whom, state, tries, last error); t steps the state."""
    from datetime import datetime, timezone

    from sqlalchemy import insert

    from console.db.models import Delivery
    from console.domain.deliveries import DeliveryState
    from console.tui.history_views import DeliveriesScreen

    at = datetime(2026, 11, 28, 8, 0, tzinfo=timezone.utc)
    with frozen_service.engine.begin() as conn:
        conn.execute(insert(Delivery), [
            dict(channel="mail", event="warning", address="h@example.com", task_id=1, subject="t", state=state,
                 tries=tries, held=False, created_at=at, next_try_at=at, last_error=error)
            for state, tries, error in ((DeliveryState.SENT, 1, None),
                                        (DeliveryState.FAILED, 9, "[red]Connection refused\x1b[0m"))])
    app = make_app(frozen_service, embed_scheduler=False)
    async with app.run_test(size=(160, 40)) as pilot:
        await settle(pilot)
        await pilot.press("d")
        await loaded(pilot)
        screen = app.screen
        assert isinstance(screen, DeliveriesScreen)
        rows = _rows(screen)
        assert [(r["channel"], r["to"], r["state"], r["tries"]) for r in rows] == [
            ("mail", "h@example.com", "failed", "9"), ("mail", "h@example.com", "sent", "1")]
        assert rows[0]["error"].startswith("[red]Connection refused")  # shown literally, no escape sequence
        assert "\x1b" not in rows[0]["error"]
        for _ in range(4):  # pending, sending, sent, failed
            await pilot.press("t")
            await loaded(pilot)
        assert screen.state == DeliveryState.FAILED and [r["state"] for r in _rows(screen)] == ["failed"]
        await pilot.press("escape")
        assert not isinstance(app.screen, DeliveriesScreen)
