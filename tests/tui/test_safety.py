"""Data on screen is data: markup in titles, errors and logs shows literally; no escape reaches the terminal."""

from __future__ import annotations

import logging

from console.tui.logs import LogPanel
from console.tui.widgets import NearTable
from tests.tui.conftest import HOSTILE, settle
from tests.tui.test_keys import wait_for


def visible(text: str) -> str:
    return "".join(ch for ch in text if ch >= " " and not 0x7f <= ord(ch) <= 0x9f)


async def test_a_hostile_title_is_shown_literally(hostile_service, make_app):
    app = make_app(hostile_service, embed_scheduler=False)
    async with app.run_test(size=(200, 50)) as pilot:
        await settle(pilot)
        near = app.query_one(NearTable)
        cells = {key.value: near.cell(key.value, "title") for key in near.rows}
        [(task_id, cell)] = [(k, t) for k, t in cells.items() if "evil" in t.plain]
        hostile = cell[len(task_id) + 1:]  # the cell is the task's id (in bold), then the title
        assert cell.plain.startswith(f"{task_id} ")
        assert hostile.plain == visible(HOSTILE)  # brackets kept, ESC and BEL gone
        assert "\x1b" not in hostile.plain and "\x07" not in hostile.plain
        assert hostile.spans == [] and hostile.style == ""  # nothing was read as markup
        await pilot.press("tab", "enter")  # the task's own screen shows it literally too
        await app.workers.wait_for_complete()
        await pilot.pause()
        summary = app.screen.query_one("#summary").render()
        assert visible(HOSTILE) in summary.plain and "\x1b" not in summary.plain


async def test_log_lines_and_errors_are_literal(frozen_service, make_app):
    app = make_app(frozen_service, embed_scheduler=False)
    async with app.run_test(size=(120, 40)) as pilot:
        await settle(pilot)
        logging.getLogger("console.jobs").error("job failed: [bold]boom[/bold] \x1b[2J cleared?")
        panel = app.query_one(LogPanel)
        await wait_for(pilot, lambda: panel.lines and "cleared?" in panel.lines[-1].text)
        last = panel.lines[-1].text
        assert "job failed: [bold]boom[/bold] [2J cleared?" in last
        assert "\x1b" not in last
