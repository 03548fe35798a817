"""The Warnings panel's forecast line (issue #27): the warnings falling due in the next 24 hours,
their total beside a sparkline of them per hour, read with the Dashboard off the UI thread and
at most once a minute; in the console's language."""

from __future__ import annotations

from textual.widgets import Label, Sparkline

from console.service.forecast import PanelForecast
from console.settings import Settings
from tests.tui.conftest import settle


async def test_the_warnings_panel_shows_the_next_24_hours_total_and_per_hour(frozen_service, make_app):
    expected = frozen_service.warning_forecast(24)
    assert expected.total > 0  # the demo has thresholds ahead
    app = make_app(frozen_service, embed_scheduler=False)
    async with app.run_test(size=(80, 24)) as pilot:
        await settle(pilot)
        label = app.query_one("#ahead-label", Label)
        assert str(label.render()) == f"next 24 h {expected.total:,} "
        spark = app.query_one("#ahead-per-hour", Sparkline)
        assert list(spark.data) == [float(v) for v in expected.per_hour] and len(spark.data) == 24
        assert "20% " in str(spark.tooltip)
        # The whole row is inside the panel at 80x24, beside the sent/h row.
        row, panel = app.query_one("#ahead-row").region, app.query_one("#warnings-panel").region
        assert row.bottom < panel.bottom and row.y == app.query_one("#spark-row").region.y + 1


async def test_in_chinese(frozen_service, make_app):
    frozen_service.settings = Settings.model_validate({"console": {"locale": "zh_CN"}})
    app = make_app(frozen_service, embed_scheduler=False)
    async with app.run_test(size=(120, 40)) as pilot:
        await settle(pilot)
        assert str(app.query_one("#ahead-label", Label).render()).startswith("未来24小时 ")


def test_the_panels_forecast_is_read_at_most_once_a_minute():
    reads, clock = [], [0.0]
    panel = PanelForecast(lambda: reads.append(1) or len(reads), clock=lambda: clock[0])
    assert panel.get() == 1 and panel.get() == 1
    clock[0] = 59.0
    assert panel.get() == 1
    clock[0] = 60.0
    assert panel.get() == 2 and len(reads) == 2


def test_the_dashboard_carries_it_and_reads_it_once_a_minute(frozen_service, monkeypatch):
    calls = []
    real = frozen_service.warning_forecast
    monkeypatch.setattr(frozen_service._forecast, "_read", lambda: calls.append(1) or real())
    first, second = frozen_service.dashboard(), frozen_service.dashboard()
    assert first.forecast is not None and second.forecast is first.forecast and len(calls) == 1
    assert first.forecast.total == real().total
