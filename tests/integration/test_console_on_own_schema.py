"""The console's finding and history on a task system's own schema, every name changed: the
title search, g + id, and the notifications view read through the mapping."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

from console.service import Service
from console.tui.app import create_app
from console.tui.history_views import NotesScreen
from console.tui.inspect_screens import TaskScreen
from console.tui.widgets import NearTable
from tests.integration.task_schemas import RENAMED_DDL, RENAMED_SETTINGS, fresh  # noqa: F401 - a fixture
from tests.integration.test_adopted_database import adopt
from tests.tui.conftest import loaded, settle
from tests.tui.test_keys import wait_for

NOW = datetime(2026, 12, 3, 8, 0, tzinfo=timezone.utc)


async def test_search_go_to_and_notifications_through_a_renamed_mapping(fresh):  # noqa: F811
    db = adopt(fresh, RENAMED_DDL, RENAMED_SETTINGS, ("staff", "JobItems", "inbox"))
    # Naive UTC, as the task system's ORM writes them (the mapping's naive_timestamps: utc).
    start, end = (NOW - timedelta(days=9)).replace(tzinfo=None), (NOW + timedelta(days=1)).replace(tzinfo=None)
    db.run("INSERT INTO staff (uid, display_name, admin_flag) VALUES (7, '张伟', 0)")
    db.run('INSERT INTO "JobItems" (pk, headline, kind, "State", pct_done, pct_time, plan_from, plan_to, owner_id, '
           "made, touched) VALUES (4242, '发票核对 [red]急[/red]', 'normal', 'busy', 10, 0, :s, :e, 7, :s, :s)",
           {"s": start, "e": end})
    db.run("INSERT INTO inbox (recipient, kind, subject, body, about_task, seen, sent_at) "
           "VALUES (7, '任务预警', '任务预警：剩余10%时间', 'body', 4242, 0, :t)", {"t": NOW.replace(tzinfo=None)})
    service = Service(db.settings, db.engine, clock=lambda: NOW)
    app = create_app(service, embed_scheduler=False)
    async with app.run_test(size=(120, 40)) as pilot:
        await settle(pilot)
        near = app.query_one(NearTable)
        near.focus()
        await pilot.press("slash", *"发票", "enter")
        await wait_for(pilot, lambda: not app.searching)
        assert [row.key.value for row in near.ordered_rows] == ["4242"]
        assert near.cell("4242", "title").plain == "4242 发票核对 [red]急[/red]"  # the id leads the title
        await pilot.press("escape", "g", *"4242", "enter")
        await wait_for(pilot, lambda: isinstance(app.screen, TaskScreen))
        await loaded(pilot)
        # The task screen reads its notifications through the mapping too (inbox.kind is the type).
        notes = app.screen.query_one("#notes")
        assert [[cell.plain for cell in notes.get_row(r.key)][2:4] for r in notes.ordered_rows] == [
            ["任务预警", "任务预警：剩余10%时间"]]
        summary = str(app.screen.query_one("#summary").render())
        assert "发票核对 [red]急[/red]" in summary
        await pilot.press("escape", "n")
        await loaded(pilot)
        assert isinstance(app.screen, NotesScreen)
        [row] = [app.screen.table.get_row(r.key) for r in app.screen.table.ordered_rows]
        shown = {key: cell.plain for key, cell in zip(app.screen.table.widths, row)}
        assert shown["task"] == "4242" and shown["to"] == "张伟" and shown["type"] == "任务预警"
    service.engine.dispose()
