"""The charts (issue #29): a job's run durations over 7 days with its failures marked, on its
screen; warnings sent per hour by level over 7 days beside the next 24 hours, on the warnings
screen (``w``, ``:warnings``, or a click on the Warnings panel). Snapshots at 80x24 and 200x50,
under NO_COLOR and in zh_CN, from a seeded week (``seed_week``) and a frozen clock."""

from __future__ import annotations

import pytest

from console.settings import Settings
from console.tui.charts import HourChart
from console.tui.inspect_screens import JobScreen, WarningsScreen
from console.tui.widgets import JobsTable, WarningsPanel
from tests.tui.conftest import loaded, settle


def opening(*keys: str, job: str | None = None):
    async def run_before(pilot):
        await settle(pilot)
        if job is not None:
            table = pilot.app.query_one(JobsTable)
            table.move_cursor(row=table.get_row_index(job))
        await pilot.press(*keys)
        await loaded(pilot)
        await pilot.pause(0.1)

    return run_before


def job_chart(week_service, make_app):
    return make_app(week_service, embed_scheduler=False), opening("enter", job="check_task_warnings")


@pytest.mark.parametrize("size", [(80, 24), (200, 50)], ids=["80x24", "200x50"])
def test_job_durations_chart(week_service, make_app, snap_compare, size):
    app, before = job_chart(week_service, make_app)
    assert snap_compare(app, terminal_size=size, run_before=before)


@pytest.mark.parametrize("size", [(80, 24), (200, 50)], ids=["80x24", "200x50"])
def test_warnings_chart(week_service, make_app, snap_compare, size):
    app = make_app(week_service, embed_scheduler=False)
    assert snap_compare(app, terminal_size=size, run_before=opening("w"))


def test_job_durations_chart_without_colour(week_service, make_app, snap_compare, monkeypatch):
    monkeypatch.setenv("NO_COLOR", "1")
    app, before = job_chart(week_service, make_app)
    assert snap_compare(app, terminal_size=(80, 24), run_before=before)


def test_warnings_chart_without_colour(week_service, make_app, snap_compare, monkeypatch):
    monkeypatch.setenv("NO_COLOR", "1")
    app = make_app(week_service, embed_scheduler=False)
    assert snap_compare(app, terminal_size=(80, 24), run_before=opening("w"))


def test_warnings_chart_in_chinese(week_service, make_app, snap_compare):
    week_service.settings = Settings.model_validate({"console": {"locale": "zh_CN"}})
    app = make_app(week_service, embed_scheduler=False)
    assert snap_compare(app, terminal_size=(80, 24), run_before=opening("w"))


async def test_the_warnings_screen_opens_by_key_command_and_click(week_service, make_app):
    app = make_app(week_service, embed_scheduler=False)
    async with app.run_test(size=(80, 24)) as pilot:
        await settle(pilot)
        for how in (("w",), ("colon", *"warnings", "enter")):
            await pilot.press(*how)
            await loaded(pilot)
            assert isinstance(app.screen, WarningsScreen), how
            await pilot.press("escape")
        await pilot.click(WarningsPanel)
        await loaded(pilot)
        assert isinstance(app.screen, WarningsScreen)
        chart = app.screen.query_one("#sent-chart", HourChart)
        # 7 days by the hour, the most severe level on top; its totals those of the seeded week.
        assert chart.data.hours == 168 and [s.label for s in chart.data.strips] == ["5%", "10%", "20%"]
        assert app.screen.query_one("#ahead-chart", HourChart).data.hours == 24


async def test_the_job_chart_marks_each_failed_hour(week_service, make_app):
    app = make_app(week_service, embed_scheduler=False)
    async with app.run_test(size=(200, 50)) as pilot:
        await opening("enter", job="check_task_warnings")(pilot)
        assert isinstance(app.screen, JobScreen)
        chart = app.screen.query_one("#durations", HourChart)
        # One column per hour at 200 columns: a ✗ under each hour with a failure (seed_week: every
        # 29th hour ago, and the frozen history's failure 5 h ago).
        marks = chart.render_text(200).plain.splitlines()[4]
        assert marks.count("✗") == sum(1 for n in chart.data.strips[0].marks if n) == 6


async def test_the_job_chart_caption_counts_one_run_as_one_run(week_service, make_app):
    from datetime import datetime, timezone

    from textual.widgets import Label

    from console.service.charts import HourlyRuns

    app, _ = job_chart(week_service, make_app)
    async with app.run_test(size=(80, 24)) as pilot:
        await opening("enter", job="check_task_warnings")(pilot)
        screen = app.screen
        assert isinstance(screen, JobScreen)
        one = HourlyRuns(datetime(2026, 12, 1, tzinfo=timezone.utc), 3, [None, 1.5, None], [0, 1, 0], [0, 0, 0])
        screen.show_chart(one)
        caption = str(screen.query_one("#durations-caption", Label).render())
        assert "1 run, 0 failed" in caption, caption
