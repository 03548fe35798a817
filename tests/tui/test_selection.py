"""Selection is identity: the chosen row stays chosen, by its key, across refreshes (failed ones
too), filters and rows that go away, so a key never acts on a row the operator did not choose."""

from __future__ import annotations

import os

from console.tui.widgets import JobsTable, NearTable
from tests.tui.conftest import settle
from tests.tui.test_keys import toasts, wait_for

THIRD = "update_time_progress"


async def _refreshed(pilot) -> None:
    seen = pilot.app.refreshes
    pilot.app.request_refresh()
    await wait_for(pilot, lambda: pilot.app.refreshes > seen)
    await pilot.pause()


async def test_the_console_opens_on_the_jobs_table_with_its_first_row_chosen(frozen_service, make_app):
    app = make_app(frozen_service, embed_scheduler=False)
    async with app.run_test(size=(120, 40)) as pilot:
        await settle(pilot)
        jobs = app.query_one(JobsTable)
        assert app.focused is jobs
        assert [row.key.value for row in jobs.ordered_rows] == list(frozen_service.settings.jobs)
        assert jobs.selected_key == jobs.ordered_rows[0].key.value


async def test_a_failed_refresh_keeps_the_rows_and_the_chosen_job_and_p_pauses_that_one(frozen_service, make_app):
    app = make_app(frozen_service, embed_scheduler=False)
    db = frozen_service.engine.url.database
    async with app.run_test(size=(120, 40)) as pilot:
        await settle(pilot)
        await pilot.press("down", "down")
        jobs = app.query_one(JobsTable)
        assert jobs.selected_key == THIRD
        # The database goes away: SQLite finds an empty file where its tables were.
        frozen_service.engine.dispose()
        os.rename(db, db + ".away")
        try:
            await _refreshed(pilot)
            assert app.dashboard.error
            assert jobs.row_count == 4 and jobs.selected_key == THIRD  # the rows last read, still chosen
            assert "stale since" in str(app.query_one("#jobs-panel").border_subtitle)
        finally:
            frozen_service.engine.dispose()
            os.replace(db + ".away", db)
        await _refreshed(pilot)
        assert not app.dashboard.error and app.query_one("#jobs-panel").border_subtitle in (None, "")
        assert jobs.selected_key == THIRD
        await pilot.press("p")
        await wait_for(pilot, lambda: frozen_service.store.get(THIRD) is not None
                       and frozen_service.store.get(THIRD).paused)
        assert [j.id for j in frozen_service.jobs() if j.paused] == [THIRD]
        assert any(t == f"{THIRD} paused" for t in toasts(app)), toasts(app)


async def test_a_filter_that_hides_the_chosen_row_leaves_no_cursor_and_actions_say_so(frozen_service, make_app):
    app = make_app(frozen_service, embed_scheduler=False)
    async with app.run_test(size=(120, 40)) as pilot:
        await settle(pilot)
        await pilot.press("down", "down")
        jobs = app.query_one(JobsTable)
        await pilot.press("slash", *"cleanup", "enter")
        await pilot.pause()
        assert jobs.row_count == 1 and jobs.selected_key is None and not jobs.show_cursor
        await pilot.press("p")
        await pilot.pause()
        assert any(t.startswith("p: no job selected") for t in toasts(app)), toasts(app)
        assert not any(j.paused for j in frozen_service.jobs())
        await pilot.press("slash", "ctrl+u", "enter")  # the filter emptied: the chosen job is back
        await pilot.pause()
        assert jobs.row_count == 4 and jobs.selected_key == THIRD
        await pilot.press("slash", *"cleanup", "enter", "down")  # a cursor key shows the cursor again
        await pilot.pause()
        assert jobs.selected_key == "cleanup_old_data"


async def test_the_chosen_task_stays_chosen_across_refreshes_and_goes_when_its_row_does(frozen_service, make_app):
    app = make_app(frozen_service, embed_scheduler=False)
    async with app.run_test(size=(120, 40)) as pilot:
        await settle(pilot)
        near = app.query_one(NearTable)
        near.focus()
        await pilot.press("down", "down", "down")
        chosen = near.selected_key
        index = near.cursor_row
        assert chosen is not None and index == 3
        # The rows above it change order: the cursor follows the task, not the row number.
        near.set_rows(list(reversed(near._rows)))
        assert near.selected_key == chosen and near.cursor_row == near.row_count - 1 - index
        near.set_rows([r for r in near._rows if r[0] != chosen])
        assert near.selected_key is None and not near.show_cursor
        await pilot.press("enter")
        await pilot.pause()
        assert any(t.startswith("enter: no task selected") for t in toasts(app)), toasts(app)
