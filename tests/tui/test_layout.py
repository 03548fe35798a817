"""The main screen fits its terminal: every border inside it, no screen scrollbar, panels that
drop whole columns by rank as the width shrinks, and a resize that relayouts at once."""

from __future__ import annotations

from console.tui.table import Column, fit_columns
from console.tui.widgets import JobsTable, NearTable, StatusBar
from tests.tui.conftest import settle


def test_columns_are_dropped_whole_by_rank_and_the_room_left_goes_to_flexible_ones():
    columns = (Column("a", 10, 0), Column("b", 10, 2), Column("c", 5, 1, flex=30))
    assert fit_columns(columns, 100) == {"a": 10, "b": 10, "c": 30}
    assert fit_columns(columns, 21) == {"a": 10, "c": 7}  # b (rank 2) goes first; c takes the rest
    assert fit_columns(columns, 13) == {"a": 10}
    assert fit_columns(columns, 11) == {}  # the most needed does not fit: nothing less needed shows instead


async def _size(pilot, width: int, height: int) -> None:
    await pilot.resize_terminal(width, height)
    await pilot.pause()
    await pilot.pause()


def _bottom(app, selector: str) -> int:
    region = app.query_one(selector).region
    return region.y + region.height


async def test_at_80x24_everything_fits_with_the_logs_border_right_above_the_footer(frozen_service, make_app):
    app = make_app(frozen_service, embed_scheduler=False)
    async with app.run_test(size=(80, 24)) as pilot:
        await settle(pilot)
        screen = app.screen
        assert screen.virtual_size.height <= 24 and screen.scroll_y == 0
        assert not screen.show_vertical_scrollbar
        assert _bottom(app, "#logs-panel") == 23  # the footer is row 23
        for panel in ("#jobs-panel", "#warnings-panel", "#near-panel", "#logs-panel"):
            region = app.query_one(panel).region
            assert region.right <= 80 and region.bottom <= 23, (panel, region)
        jobs = app.query_one(JobsTable)
        assert list(jobs.widths) == ["job", "next run", "state", "last run"]  # trigger and does dropped whole
        last = jobs.get_row("check_task_warnings")[list(jobs.widths).index("last run")]  # as shown
        assert jobs.widths["last run"] >= len("success") and last.plain.startswith("success")
        assert list(app.query_one(NearTable).widths) == ["level", "title", "work / time"]


async def test_wider_terminals_show_every_column(frozen_service, make_app):
    app = make_app(frozen_service, embed_scheduler=False)
    async with app.run_test(size=(200, 50)) as pilot:
        await settle(pilot)
        assert list(app.query_one(JobsTable).widths) == [c.key for c in JobsTable.COLUMNS]
        assert list(app.query_one(NearTable).widths) == [c.key for c in NearTable.COLUMNS]
        assert app.query_one(JobsTable).widths["last run"] > 60


async def test_a_resize_relayouts_at_once_and_never_loses_the_header(frozen_service, make_app):
    app = make_app(frozen_service, embed_scheduler=False)
    async with app.run_test(size=(200, 50)) as pilot:
        await settle(pilot)
        assert app.screen.has_class("-wide")
        await _size(pilot, 80, 24)
        assert not app.screen.has_class("-wide")
        assert "does" not in app.query_one(JobsTable).widths
        await _size(pilot, 40, 10)
        await _size(pilot, 80, 24)
        assert app.screen.scroll_y == 0 and app.query_one(StatusBar).region.y == 0
        assert _bottom(app, "#logs-panel") == 23


async def test_the_header_names_the_database_and_keeps_it_whole_at_80_columns(frozen_service, make_app):
    app = make_app(frozen_service, embed_scheduler=False, read_only=True, api_address="127.0.0.1:8080")
    async with app.run_test(size=(200, 50)) as pilot:
        await settle(pilot)
        wide = app.query_one(StatusBar).render().plain
        assert "db ok sqlite console.db" in wide and "api 127.0.0.1:8080" in wide and "[read-only]" in wide
        assert "11-28 16:00:00 CST" in wide.split("api 127.0.0.1:8080")[1]  # the clock: NOW in Asia/Shanghai
        await _size(pilot, 80, 24)
        app._tick()
        narrow = app.query_one(StatusBar).render().plain
        # The clock and the API address go first; the role, database and read-only stay whole.
        assert "api " not in narrow and "…" not in narrow, narrow
        assert "standby" in narrow and "db ok sqlite console.db" in narrow and "[read-only]" in narrow
        assert len(narrow) <= 80
