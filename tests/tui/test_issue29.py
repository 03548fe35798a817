"""Issue #29, items 2, 4, 6 and 9 on the console: the near panel always shows a task's id; toasts
keep off the Logs panel; Tab onto the near panel chooses a row that Enter opens; a job whose stored
trigger is not the settings' is marked in the Jobs panel."""

from __future__ import annotations

import html
import re
from datetime import timedelta

import pytest
from sqlalchemy import insert, select, update
from textual.widgets._toast import Toast

from console.db.models import Task
from console.service import SCHEDULE_DIFFERS, Service
from console.settings import Settings
from console.tui.inspect_screens import TaskScreen
from console.tui.widgets import JobsTable, NearTable
from tests.conftest import NOW
from tests.tui.conftest import loaded, settle
from tests.tui.test_keys import toasts, wait_for

URGENT = "🔥紧急修复🔥 支付网关超时导致订单重复扣款"


def screen_lines(app) -> list[str]:
    """The screen's text, line by line, from its SVG export."""
    rows: dict[float, list[tuple[float, str]]] = {}
    for x, y, text in re.findall(r'<text[^>]*x="([\d.]+)" y="([\d.]+)"[^>]*>([^<]*)</text>', app.export_screenshot()):
        rows.setdefault(float(y), []).append((float(x), html.unescape(text).replace("\xa0", " ")))
    return ["".join(t for _, t in sorted(parts)) for _, parts in sorted(rows.items())]


def urgent_tasks(service: Service, n: int = 8) -> list[int]:
    """``n`` processing tasks with one title (no id in it), each past its 5 % threshold."""
    with service.engine.begin() as conn:
        for i in range(n):
            conn.execute(insert(Task).values(
                title=URGENT, category="normal", status="processing", progress=1.0, time_progress=0.0,
                expected_start_time=NOW - timedelta(hours=99, minutes=i), expected_end_time=NOW + timedelta(hours=1),
                current_handler_id=3, created_at=NOW - timedelta(days=5), updated_at=NOW - timedelta(days=1)))
        return list(conn.execute(select(Task.id).where(Task.title == URGENT).order_by(Task.id)).scalars())


@pytest.mark.parametrize("size", [(80, 24), (120, 40)], ids=["80x24", "120x40"])
async def test_every_near_row_shows_its_tasks_id_and_the_title_gives_way(hostile_service, make_app, size):
    ids = urgent_tasks(hostile_service)
    app = make_app(hostile_service, embed_scheduler=False)
    async with app.run_test(size=size) as pilot:
        await settle(pilot)
        await pilot.press("colon", *"search 紧急", "enter")
        await wait_for(pilot, lambda: not app.searching and app.near_search is not None)
        await pilot.pause(0.2)
        near = app.query_one(NearTable)
        assert sorted(int(key.value) for key in near.rows) == ids
        shown = [line for line in screen_lines(app) if "🔥" in line]
        assert len(shown) >= 5, screen_lines(app)
        # Every row on screen carries its own id, before the (cut) title: as many ids as rows.
        on_screen = [int(m[1]) for line in shown for m in [re.search(r"(\d+) 🔥", line)] if m]
        assert len(on_screen) == len(shown) and len(set(on_screen)) == len(shown) and set(on_screen) <= set(ids), shown


@pytest.mark.parametrize("size", [(80, 24), (120, 40), (200, 50)], ids=["80x24", "120x40", "200x50"])
async def test_toasts_do_not_cover_the_logs_panel(frozen_service, make_app, size):
    app = make_app(frozen_service, embed_scheduler=False)
    async with app.run_test(size=size, notifications=True) as pilot:
        await settle(pilot)
        for i in range(3):
            app.notify(f"update_time_progress: toast {i}", timeout=30)
        await pilot.pause(0.3)
        shown = list(app.screen.query(Toast))
        assert len(shown) == 3
        logs = app.query_one("#logs-panel").region
        for toast in shown:
            assert toast.region.height and not toast.region.overlaps(logs), (toast.region, logs)


async def test_tab_onto_the_near_panel_chooses_a_row_enter_opens(frozen_service, make_app):
    app = make_app(frozen_service, embed_scheduler=False)
    async with app.run_test(size=(80, 24)) as pilot:
        await settle(pilot)
        near = app.query_one(NearTable)
        first = near.chosen
        assert first is not None and app.focused is app.query_one(JobsTable)
        # The chosen row leaves the panel (its task completed) while the jobs table has the focus:
        # the near panel's rows are replaced, and nothing there is chosen any more.
        with frozen_service.engine.begin() as conn:
            conn.execute(update(Task).where(Task.id == int(first)).values(status="completed"))
        seen = app.refreshes
        await pilot.press("r")
        await wait_for(pilot, lambda: app.refreshes > seen)
        await app.workers.wait_for_complete()
        await pilot.pause()
        assert first not in near.rows and near.row_count
        await pilot.press("tab")
        assert app.focused is near
        await pilot.press("enter")
        await loaded(pilot)
        assert isinstance(app.screen, TaskScreen), toasts(app)
        assert app.screen.task_id == int(near.chosen)


async def test_a_job_whose_stored_trigger_differs_from_the_settings_is_marked(frozen_service, make_app):
    # The last leader ran with a 5-second trigger; this console has the shipped settings (30 min).
    fast = Settings.model_validate({"jobs": {"update_time_progress": {"trigger": {"every": 5}}}})
    Service(fast, frozen_service.engine).store.sync()
    app = make_app(frozen_service, embed_scheduler=False)
    async with app.run_test(size=(120, 40)) as pilot:
        await settle(pilot)
        jobs = app.query_one(JobsTable)
        # The trigger that fires, beside its next run time, marked; the others unmarked.
        assert jobs.cell("update_time_progress", "trigger").plain == "every 5 s *"
        assert jobs.cell("check_task_warnings", "trigger").plain == "hourly, on the hour"
        assert SCHEDULE_DIFFERS in str(app.query_one("#jobs-panel").border_subtitle)
