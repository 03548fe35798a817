"""``tasks forecast`` as text: one line per hour with its count per level, then the totals."""

from __future__ import annotations

from console.cli.output import table
from console.service.forecast import Forecast


def totals_line(forecast: Forecast) -> str:
    """"next 24 h: 1,204 (20%: 800, 10%: 300, 5%: 104)"."""
    per_level = ", ".join(f"{level}%: {n:,}" for level, n in forecast.totals.items())
    return f"next {forecast.hours} h: {forecast.total:,} ({per_level})"


def forecast_text(forecast: Forecast) -> str:
    headers = ("HOUR", *(f"{level}%" for level in forecast.levels), "ALL")
    rows = []
    for hour, counts in forecast.hourly():
        # The zone's abbreviation too: across a daylight-saving change a wall-clock hour repeats.
        rows.append((hour.strftime("%Y-%m-%d %H:%M %Z"), *(f"{counts[lv]:,}" for lv in forecast.levels),
                     f"{sum(counts.values()):,}"))
    return f"{table(headers, rows)}\n\n{totals_line(forecast)}"
