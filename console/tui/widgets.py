"""The main screen's panels. Each takes plain data and shows it; none does I/O."""

from __future__ import annotations

from datetime import datetime
from typing import Sequence
from zoneinfo import ZoneInfo

from rich.text import Text
from textual.app import ComposeResult
from textual.containers import Horizontal, Vertical
from textual.widgets import DataTable, Label, Sparkline, Static

from console.domain.text import printable
from console.service.dashboard import WarningStats
from console.service.facade import Dashboard, JobInfo
from console.service.near import NearTask
from console.tui.format import (
    LEVEL_STYLES,
    changed,
    duration,
    local_time,
    relative,
    safe,
    status,
    work_and_time,
    work_and_time_width,
)
from console.tui.i18n import Words
from console.tui.keys import bindings, localize


class StatusBar(Static):
    """Scheduler state, the clock in the settings' timezone, database and Redis health, and the
    HTTP API's address where this process serves it."""

    def show(self, dashboard: Dashboard, tz: ZoneInfo, words: Words, *, read_only: bool, clock: datetime,
             api: str | None = None) -> None:
        text = Text(no_wrap=True, overflow="ellipsis")
        text.append(" taskconsole ", style="bold reverse")
        text.append(f" {words('scheduler')} ")
        text.append_text(status(dashboard.scheduler_state, words(dashboard.scheduler_state)))
        leader = dashboard.leader
        if dashboard.scheduler_state == "attached":
            # Host names are data: printable() strips control characters, Text never reads markup.
            where = f"{printable(leader.host)} pid {leader.pid}, {words(leader.state)}" if leader else words("none")
            text.append(f" {words('leader')} {where}")
        text.append(f"  {clock.astimezone(tz).strftime('%m-%d %H:%M:%S %Z')}")
        text.append("  db ")
        text.append_text(status(dashboard.database))
        text.append("  redis ")
        text.append_text(status(dashboard.redis))
        if api:
            text.append(f"  api {api}")
        # Tasks the near panel left out because a window timestamp is out of range (NearTasks).
        skipped = getattr(dashboard.near, "skipped", 0)
        if skipped:
            text.append(f"  {skipped} {words('skipped (timestamp out of range)')}", style="yellow")
        if dashboard.warnings_every_s:
            text.append(f"  {words('warning counts every')} {dashboard.warnings_every_s:.0f} s (db tune)", style="yellow")
        if dashboard.unclassified:
            text.append(f"  {dashboard.unclassified} {words('unclassified (status not in task_system.values)')}",
                        style="yellow")
        if read_only:
            text.append(f"  [{words('read-only')}]", style="bold magenta")
        self.update(text)


class FilterableTable(DataTable):
    """A row-cursor table that keeps its rows, shows those matching a filter, and keeps the cursor."""

    BINDINGS = bindings("table")

    def __init__(self, **kwargs):
        super().__init__(cursor_type="row", zebra_stripes=True, **kwargs)
        self._rows: list[tuple[str, Sequence[Text], str]] = []
        self.filter_text = ""

    def set_rows(self, rows: list[tuple[str, Sequence[Text], str]]) -> None:
        """``rows``: (key, cells, text the filter searches)."""
        self._rows = rows
        self.redraw()

    def apply_filter(self, text: str) -> None:
        self.filter_text = text.strip().lower()
        self.redraw()

    def redraw(self) -> None:
        selected = self.selected_key
        self.clear()
        for key, cells, haystack in self._rows:
            if self.filter_text and self.filter_text not in haystack.lower():
                continue
            self.add_row(*cells, key=key)
        if selected is not None and selected in self.rows:
            self.move_cursor(row=self.get_row_index(selected), animate=False)

    @property
    def selected_key(self) -> str | None:
        if self.row_count == 0:
            return None
        try:
            return self.coordinate_to_cell_key(self.cursor_coordinate).row_key.value
        except Exception:  # noqa: BLE001 - no row under the cursor
            return None


class JobsTable(FilterableTable):
    def setup(self, words: Words) -> None:
        localize(self, words.locale)
        # Most needed first: at 80 columns the description is the part that scrolls out of view.
        # Fixed widths: the layout must not depend on when the rows arrive.
        for name, width in (("job", 20), ("trigger", 19), ("next run", 15), ("state", 9), ("last run", 44),
                            ("does", 16)):
            self.add_column(words(name), width=width)

    def show(self, jobs: list[JobInfo], short: dict[str, str], now: datetime, tz: ZoneInfo, running: set[str],
             words: Words) -> None:
        rows = []
        for job in jobs:
            state = "running" if job.id in running else job.state
            next_run = (Text(f"{local_time(job.next_run_time, tz, '%H:%M')} {relative(job.next_run_time, now)}")
                        if job.next_run_time else Text("-", style="dim"))
            last = job.last_run
            if last is None:
                last_text = Text("never run", style="dim")
            else:
                last_text = status(last.status)
                last_text.append(f" {relative(last.started_at, now)} {duration(last.duration_s)} ", style="")
                last_text.append_text(safe(last.error if last.status == "failed" else changed(last.counts)))
            cells = [safe(job.id, "bold"), safe(job.trigger), next_run, status(state, words(state)), last_text,
                     safe(short.get(job.id, ""))]
            rows.append((job.id, cells, f"{job.id} {job.name} {job.trigger} {state}"))
        self.set_rows(rows)


class NearTable(FilterableTable):
    title_width = 0
    BAR = 5  # cells per progress bar

    def setup(self, words: Words, title_width: int = 16) -> None:
        if self.columns and self.title_width == title_width:
            return
        if not self.columns:
            localize(self, words.locale)
        self.title_width = title_width
        self.clear(columns=True)
        # Fixed widths: the layout must not depend on which rows arrived first.
        self.add_column(words("level"), width=5)
        self.add_column(words("title"), width=title_width)
        self.add_column(words("work / time"), width=work_and_time_width(self.BAR))
        for name in ("next run", "notified", "handler"):
            self.add_column(words(name))
        self.redraw()

    def show(self, tasks: list[NearTask], now: datetime, tz: ZoneInfo) -> None:
        rows = []
        for t in tasks:
            level = (Text(f"{t.level:>2}%", style=LEVEL_STYLES.get(t.level, "bold red")) if t.level
                     else Text("  -", style="dim"))
            upcoming = (Text(f"{t.next_level}% {relative(t.next_at, now)}") if t.next_at else Text("-", style="dim"))
            notified = Text(",".join(f"{lv}%" for lv in t.notified_levels) or "-",
                            style="" if t.notified_levels else "dim")
            cells = [level, safe(t.title), work_and_time(t.progress, t.time_progress, self.BAR), upcoming, notified,
                     safe(t.handler or "-")]
            rows.append((str(t.task_id), cells, f"{t.task_id} {t.title} {t.handler or ''}"))
        self.set_rows(rows)


class WarningsPanel(Vertical):
    """Per level: tasks in it now, sent in the last 24 h, pending; and warnings sent per hour."""

    def __init__(self, words: Words, **kwargs):
        super().__init__(**kwargs)
        self.words = words

    def compose(self) -> ComposeResult:
        # No cell padding: the numbers are right-aligned in fixed widths, so 80 columns suffice.
        table = DataTable(id="levels", cursor_type="none", show_cursor=False, cell_padding=0)
        table.can_focus = False
        yield table
        with Horizontal(id="spark-row"):
            yield Label("24h", id="spark-label")
            yield Sparkline([0] * 24, id="per-hour")

    def on_mount(self) -> None:
        table = self.query_one("#levels", DataTable)
        w = self.words
        for name, width in (("level", 6), ("now", 7), ("24h", 7), ("pending", 9)):
            label = Text(w(name), justify="left" if name == "level" else "right")
            table.add_column(label, width=width)

    def show(self, stats: WarningStats | None) -> None:
        table = self.query_one("#levels", DataTable)
        table.clear()
        if stats is None:
            return
        for lv in sorted(stats.levels, key=lambda s: s.at, reverse=True):
            style = LEVEL_STYLES.get(lv.level, "")
            table.add_row(Text(f"{lv.level}%", style=style), Text(f"{lv.in_level:,}", justify="right"),
                          Text(f"{lv.notified_24h:,}", justify="right"),
                          Text(f"{lv.pending:,}", style="bold yellow" if lv.pending else "dim", justify="right"))
        self.query_one("#per-hour", Sparkline).data = [float(v) for v in stats.per_hour]
        self.query_one("#spark-label", Label).update(Text(f"sent/h {sum(stats.per_hour):,} "))
        self.query_one("#per-hour", Sparkline).tooltip = self.words("warnings sent per hour, last 24 h")
