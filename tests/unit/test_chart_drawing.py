"""The text charts' drawing (console.tui.charts): columns that follow the width, bars in eighths,
dates under the columns where days begin."""

from __future__ import annotations

from datetime import datetime
from zoneinfo import ZoneInfo

from console.tui.charts import GUTTER, ChartData, HourChart, Strip, bar_rows, bucket, columns_for, date_axis

SHANGHAI = ZoneInfo("Asia/Shanghai")


def test_columns_cover_every_hour_once_at_any_width():
    for width in (1, 24, 72, 168, 400):
        spans = columns_for(168, width)
        assert len(spans) == min(168, width)
        assert [h for span in spans for h in span] == list(range(168))


def test_a_column_shows_the_most_of_its_hours_and_nothing_stays_blank():
    assert bucket([1.0, None, 3.0, None], columns_for(4, 2)) == [1.0, 3.0]
    assert bucket([None, None], columns_for(2, 1)) == [None]
    # Two rows: the top value fills both; a small one still shows an eighth; zero and None nothing.
    assert bar_rows([4.0, 0.01, 0.0, None, 2.0], 2, 4.0) == ["█    ", "█▁  █"]


def test_dates_stand_under_the_columns_where_days_begin():
    start = datetime(2026, 11, 21, 17, tzinfo=SHANGHAI)  # 7 hours before midnight
    axis = date_axis(start, columns_for(168, 168))
    assert axis.startswith("|11-21") and axis[7:].startswith("|11-22") and axis.count("|") == 8
    assert len(date_axis(start, columns_for(168, 20))) == 20  # fewer labels, never wider than the chart


def test_the_chart_follows_the_width_and_marks_failures_in_text():
    values = [None] * 168
    values[0], values[167] = 1.0, 2.0
    marks = [0] * 168
    marks[167] = 1
    chart = HourChart()
    chart.data = ChartData(datetime(2026, 11, 21, 17, tzinfo=SHANGHAI), 168,
                           [Strip("", values, rows=2, marks=marks, scale=lambda v: f"{v:.0f} s", mark_label="failed")])
    for width in (80, 200):
        lines = chart.render_text(width).plain.splitlines()
        assert all(len(line) <= width for line in lines)
        assert lines[0].startswith("    2 s│") and lines[2].rstrip().endswith("✗")
        assert lines[2].count("✗") == 1 and len(lines) == 4
    assert GUTTER == 8
