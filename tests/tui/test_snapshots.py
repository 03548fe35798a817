"""Snapshots of the main screen at 80x24, 120x40 and 200x50 and of each inspect screen.

Frozen demo data, frozen clock, no embedded scheduler (so nothing fires while the picture is
taken), and the run history written at fixed times.
"""

from __future__ import annotations

from console.tui.widgets import JobsTable, NearTable
from tests.tui.conftest import loaded, settle


def app_for(frozen_service, make_app):
    return make_app(frozen_service, embed_scheduler=False)


async def _ready(pilot) -> None:
    await settle(pilot)


def test_main_screen_80x24(frozen_service, make_app, snap_compare):
    assert snap_compare(app_for(frozen_service, make_app), terminal_size=(80, 24), run_before=_ready)


def test_main_screen_120x40(frozen_service, make_app, snap_compare):
    assert snap_compare(app_for(frozen_service, make_app), terminal_size=(120, 40), run_before=_ready)


def test_main_screen_200x50(frozen_service, make_app, snap_compare):
    assert snap_compare(app_for(frozen_service, make_app), terminal_size=(200, 50), run_before=_ready)


def test_main_screen_in_chinese(frozen_service, make_app, snap_compare):
    from console.settings import Settings

    frozen_service.settings = Settings.model_validate({"console": {"locale": "zh_CN"}})
    assert snap_compare(app_for(frozen_service, make_app), terminal_size=(120, 40), run_before=_ready)


def opening(key: str, *, job: str | None = None):
    """A run_before that selects ``job`` (or focuses the near table) and presses ``key``."""

    async def run_before(pilot):
        await settle(pilot)
        if job is None:
            pilot.app.query_one(NearTable).focus()
        else:
            table = pilot.app.query_one(JobsTable)
            table.move_cursor(row=table.get_row_index(job))
        await pilot.press(key)
        await loaded(pilot)

    return run_before


def test_job_inspect_screen(frozen_service, make_app, snap_compare):
    assert snap_compare(app_for(frozen_service, make_app), terminal_size=(120, 40),
                        run_before=opening("enter", job="check_task_warnings"))


def test_task_inspect_screen(frozen_service, make_app, snap_compare):
    assert snap_compare(app_for(frozen_service, make_app), terminal_size=(120, 40), run_before=opening("enter"))


def test_preview_screen(frozen_service, make_app, snap_compare):
    assert snap_compare(app_for(frozen_service, make_app), terminal_size=(120, 40),
                        run_before=opening("v", job="reset_periodic_tasks"))
