"""Tab between the main screen's tables draws again only what changed (issue #29, item 8): a
table's cells, once rendered with the focus and without it, are not rendered again at each change
of focus while its rows stay the same (``FilterableTable.notify_style_update``), and the screen
looks as it did when they were first rendered; the change of focus restyles the two panels and
tables it concerns, once each, and does not draw the whole screen (``console.tui.main_screen``).
No full collection of the garbage collector walks the objects the console holds once it shows
(``console.tui.heap``). The time a key takes at a million tasks is the benchmark's
(tests/benchmarks/console_keys.py); these say how."""

from __future__ import annotations

import gc

from textual._compositor import Compositor
from textual.css.stylesheet import Stylesheet
from textual.widgets import DataTable

from console.tui.widgets import JobsTable, NearTable
from tests.tui.conftest import settle


def _count_cells(monkeypatch) -> dict[str, int]:
    """Cells rendered, by table id, from now on."""
    rendered: dict[str, int] = {}
    original = DataTable._render_cell

    def render_cell(self, row_index, column_index, base_style, width, cursor=False, hover=False):
        before = len(self._cell_render_cache)
        lines = original(self, row_index, column_index, base_style, width, cursor, hover)
        if len(self._cell_render_cache) != before:  # rendered, not read from the cache
            rendered[self.id] = rendered.get(self.id, 0) + 1
        return lines

    monkeypatch.setattr(DataTable, "_render_cell", render_cell)
    return rendered


async def _idle(pilot) -> None:
    await pilot.pause()
    await pilot.wait_for_scheduled_animations()
    await pilot.pause()


async def _drawn(pilot) -> str:
    """The screen as drawn (the screenshot draws it whole: not while counting what a key draws)."""
    await _idle(pilot)
    return pilot.app.export_screenshot()


async def test_tab_back_to_a_table_whose_rows_stayed_renders_none_of_its_cells_again(frozen_service, make_app,
                                                                                  monkeypatch):
    app = make_app(frozen_service, embed_scheduler=False)
    async with app.run_test(size=(120, 40)) as pilot:
        await settle(pilot)
        jobs, near = app.query_one(JobsTable), app.query_one(NearTable)
        assert app.focused is jobs
        first = await _drawn(pilot)
        await pilot.press("tab")  # each table drawn in the other state once: rendered
        assert app.focused is near
        tabbed = await _drawn(pilot)
        assert tabbed != first  # the focus shows: the panel's border, the cursor's colour
        await pilot.press("shift+tab")
        back = await _drawn(pilot)
        rendered = _count_cells(monkeypatch)
        for _ in range(3):
            await pilot.press("tab")
            assert await _drawn(pilot) == tabbed
            await pilot.press("shift+tab")
            assert await _drawn(pilot) == back == first
        assert rendered == {}


async def test_new_rows_or_new_styles_render_the_cells_again(frozen_service, make_app, monkeypatch):
    app = make_app(frozen_service, embed_scheduler=False)
    async with app.run_test(size=(120, 40)) as pilot:
        await settle(pilot)
        await pilot.press("tab", "shift+tab")
        await _drawn(pilot)
        rendered = _count_cells(monkeypatch)
        await pilot.press("s")  # the near panel in a new order, while the jobs table has the focus
        await pilot.press("tab")
        await _drawn(pilot)
        assert rendered.get("near", 0) > 0  # its rows in the new order, with the focus
        rendered.clear()
        app.theme = "textual-light" if app.theme != "textual-light" else "textual-dark"
        light = await _drawn(pilot)
        assert rendered.get("near", 0) > 0  # in the new colours
        rendered.clear()
        await pilot.press("shift+tab")
        await _drawn(pilot)
        assert rendered.get("jobs", 0) > 0  # drawn before only in the old colours
        await pilot.press("tab")
        assert await _drawn(pilot) == light


async def test_the_heap_is_settled_once_the_first_screen_is_shown(frozen_service, make_app):
    app = make_app(frozen_service, embed_scheduler=False)
    async with app.run_test(size=(120, 40)) as pilot:
        await settle(pilot)
        await pilot.pause(0.1)
        # What the process holds by then is out of the collector's sight (console.tui.heap): a
        # full collection walks only what was made since.
        assert gc.get_freeze_count() > 0


async def test_tab_restyles_each_table_once_and_draws_the_panels_it_concerns_not_the_screen(frozen_service, make_app,
                                                                                            monkeypatch):
    restyled: list[str] = []
    full: list[int] = []
    update_nodes, render_full_update = Stylesheet.update_nodes, Compositor.render_full_update

    def recording_update(self, nodes, animate=False):
        nodes = list(nodes)
        restyled.extend(str(node.id) for node in nodes)
        return update_nodes(self, nodes, animate)

    def recording_full(self, *args, **kwargs):
        full.append(1)
        return render_full_update(self, *args, **kwargs)

    monkeypatch.setattr(Stylesheet, "update_nodes", recording_update)
    monkeypatch.setattr(Compositor, "render_full_update", recording_full)
    app = make_app(frozen_service, embed_scheduler=False)
    async with app.run_test(size=(120, 40)) as pilot:
        await settle(pilot)
        await _drawn(pilot)
        jobs_panel, near_panel = app.query_one("#jobs-panel"), app.query_one("#near-panel")
        assert jobs_panel.has_class("-focus") and not near_panel.has_class("-focus")
        restyled.clear()
        full.clear()
        await pilot.press("tab")
        await _idle(pilot)
        assert near_panel.has_class("-focus") and not jobs_panel.has_class("-focus")  # the border says where
        assert sorted(restyled) == ["jobs", "jobs-panel", "near", "near-panel"]
        assert full == []  # the screen is not drawn whole again
        await pilot.press("tab")  # to the logs
        await _idle(pilot)
        assert app.query_one("#logs-panel").has_class("-focus") and not near_panel.has_class("-focus")
