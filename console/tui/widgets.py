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
    """A row-cursor table that keeps its rows, shows those matching a filter, and keeps the
    operator's choice.

    Selection is identity: ``chosen`` is the key of the row the operator last put the cursor on.
    Every redraw (a refresh, a filter, a new sort) puts the cursor back on that row; if the row is
    gone the cursor is hidden and ``selected_key`` is None, so no action lands on whichever row
    took its place. The first key press that moves the cursor shows it again.
    """

    BINDINGS = bindings("table")

    def __init__(self, **kwargs):
        super().__init__(cursor_type="row", zebra_stripes=True, **kwargs)
        self._rows: list[tuple[str, Sequence[Text], str]] = []
        self.filter_text = ""
        self.chosen: str | None = None
        self._restoring = False
        self.nothing_chosen = "no row selected"  # said when a key needs a row and none is chosen

    def set_rows(self, rows: list[tuple[str, Sequence[Text], str]]) -> None:
        """``rows``: (key, cells, text the filter searches)."""
        self._rows = rows
        self.redraw()

    def apply_filter(self, text: str) -> None:
        self.filter_text = text.strip().lower()
        self.redraw()

    @property
    def total(self) -> int:
        return len(self._rows)

    def redraw(self) -> None:
        # clear() scrolls to the top-left: keep where the operator scrolled, sideways too.
        scroll_x, scroll_y = self.scroll_x, self.scroll_y
        self._restoring = True
        try:
            self.clear()
            for key, cells, haystack in self._rows:
                if self.filter_text and self.filter_text not in haystack.lower():
                    continue
                self.add_row(*cells, key=key)
            if self.chosen is None and self.row_count:
                # Nothing chosen yet (the console just opened): the first row.
                self.chosen = self.coordinate_to_cell_key(self.cursor_coordinate).row_key.value
            if self.chosen is not None and self.chosen in self.rows:
                self.show_cursor = True
                self.move_cursor(row=self.get_row_index(self.chosen), animate=False, scroll=False)
            else:
                self.show_cursor = False
        finally:
            self._restoring = False
        # After the refresh: until then the table's virtual size is that of an empty table.
        self.call_after_refresh(self._restore_scroll, scroll_x, scroll_y)

    def _restore_scroll(self, x: float, y: float) -> None:
        self.scroll_to(x, y, animate=False, immediate=True)
        if self.show_cursor and self.row_count:
            self._scroll_cursor_into_view(animate=False)

    def watch_cursor_coordinate(self, old, new) -> None:
        super().watch_cursor_coordinate(old, new)
        if not self._restoring and self.show_cursor and self.row_count:
            try:
                self.chosen = self.coordinate_to_cell_key(new).row_key.value
            except Exception:  # noqa: BLE001 - no row there
                pass

    def _wake_cursor(self) -> bool:
        """With the cursor hidden (the chosen row went away), a cursor key shows it on the first
        row instead of moving it; True if it did."""
        if self.show_cursor or not self.row_count:
            return False
        self.show_cursor = True
        self.move_cursor(row=0, animate=False)
        self.chosen = self.coordinate_to_cell_key(self.cursor_coordinate).row_key.value
        return True

    def action_cursor_down(self) -> None:
        if not self._wake_cursor():
            super().action_cursor_down()

    def action_cursor_up(self) -> None:
        if not self._wake_cursor():
            super().action_cursor_up()

    def action_page_down(self) -> None:
        if not self._wake_cursor():
            super().action_page_down()

    def action_page_up(self) -> None:
        if not self._wake_cursor():
            super().action_page_up()

    def action_select_cursor(self) -> None:
        if self.selected_key is None:
            self.notify(f"enter: {self.nothing_chosen}", severity="warning", markup=False)
        else:
            super().action_select_cursor()

    @property
    def selected_key(self) -> str | None:
        """The chosen row's key while it is on screen under the cursor; else None."""
        if not self.show_cursor or self.chosen is None or self.chosen not in self.rows:
            return None
        return self.chosen


class JobsTable(FilterableTable):
    def setup(self, words: Words) -> None:
        localize(self, words.locale)
        self.nothing_chosen = words("no job selected (the row went away); choose one with the arrows")
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
            if job.state == "paused" and not job.paused and job.enabled:
                # Held by the scheduler-wide pause: its own next time is not when it will run.
                next_run = Text(words("all paused"), style="yellow")
            elif job.next_run_time:
                next_run = Text(f"{local_time(job.next_run_time, tz, '%H:%M')} {relative(job.next_run_time, now)}")
            else:
                next_run = Text("-", style="dim")
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
            self.nothing_chosen = words("no task selected")
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
