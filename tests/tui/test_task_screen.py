"""The task screen at 80 columns: the stored time progress on a line of its own, never read as
the work progress beside the bars."""

from __future__ import annotations

from sqlalchemy import func, select

from console.db.models import Task
from console.tui.inspect_screens import TaskScreen
from tests.tui.conftest import loaded, settle


async def test_the_stored_time_progress_has_a_line_of_its_own(frozen_service, make_app):
    with frozen_service.engine.connect() as conn:
        task_id = conn.execute(select(func.max(Task.id)).where(Task.status == "processing")).scalar_one()
    app = make_app(frozen_service, embed_scheduler=False)
    async with app.run_test(size=(80, 24)) as pilot:
        await settle(pilot)
        app.push_screen(TaskScreen(task_id))
        await loaded(pilot)
        plain = app.screen.query_one("#summary").render().plain
        lines = plain.splitlines()
        [stored] = [line for line in lines if "stored time progress" in line]
        assert stored.startswith("stored time progress: "), lines
        assert not any("work / time" in line and "stored" in line for line in lines), lines
