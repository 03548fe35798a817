"""The main screen's panels. Each takes plain data and shows it; none does I/O.

The tables' rows are made by functions of plain data (``panel_rows``), so a refresh makes them on
its worker thread and the UI thread only swaps them in (``console.tui.table``).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from zoneinfo import ZoneInfo

from rich.text import Text
from textual.app import ComposeResult
from textual.containers import Horizontal
from textual.screen import Screen
from textual.widgets import DataTable, Footer, Label, Sparkline, Static

from console.domain.runs import JobState, RunStatus, SchedulerState
from console.domain.text import printable
from console.service.dashboard import WarningStats
from console.service.facade import Dashboard, JobInfo
from console.service.forecast import Forecast
from console.service.near import NearTask
from console.tui.format import (
    level_style,
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
from console.tui.keys import localize
from console.tui.main_screen import Panel
from console.tui.table import Column, FilterableTable, Row, Signature, signatures


class StatusBar(Static):
    """The top line: the scheduler's role here, the database watched (host and name, never a
    password) and its health, Redis, read-only, the warnings worth a look, the HTTP API's
    address where this process serves it, and the clock.

    Each part has a rank; where the line is too narrow the lowest ranks go first (the clock, then
    the API address), so the role, the database and read-only stay whole at 80 columns."""

    def show(self, dashboard: Dashboard, tz: ZoneInfo, words: Words, *, read_only: bool, clock: datetime,
             api: str | None = None, database: str = "", width: int | None = None) -> None:
        parts: list[tuple[int, Text]] = []  # (rank: higher stays longer, text), in screen order
        parts.append((9, Text(" taskconsole ", style="bold reverse")))
        role = Text(" ")
        state = dashboard.scheduler_state
        if state in (SchedulerState.RUNNING, SchedulerState.PAUSED):
            role.append(words("leading"), style="bold")
            role.append(" (")
            role.append_text(status(state, words(state)))
            role.append(")")
        else:
            role.append_text(status(state, words(state)))
        leader = dashboard.leader
        if state == SchedulerState.ATTACHED:
            # Host names are data: printable() strips control characters, Text never reads markup.
            where = f"{printable(leader.host)} pid {leader.pid}, {words(leader.state)}" if leader else words("none")
            role.append(f", {words('leader')} {where}")
        parts.append((8, role))
        if read_only:  # before the database's address, which may be long: whole at 80 columns
            parts.append((8, Text(f"  [{words('read-only')}]", style="bold magenta")))
        db = Text("  db ")
        db.append_text(status(dashboard.database, words(dashboard.database)))
        if database:
            db.append(f" {printable(database)}", style="bold")
        parts.append((7, db))
        redis = Text("  redis ")
        redis.append_text(status(dashboard.redis, words(dashboard.redis)))
        parts.append((6, redis))
        if dashboard.fenced:  # the role says "fenced"; this says what it means where there is room
            parts.append((5, Text(f"  {words('fenced: this release does not know the database schema; no job runs here')}",
                                  style="bold red")))
        # Tasks the near panel left out because a window timestamp is out of range (NearTasks).
        skipped = dashboard.near.skipped
        if skipped:
            parts.append((4, Text(f"  {skipped} {words('skipped (timestamp out of range)')}", style="yellow")))
        if dashboard.warnings_every_s:
            hint = " (db tune)" if dashboard.warnings_untuned else ""
            parts.append((3, Text(f"  {words('warning counts every')} {dashboard.warnings_every_s:.0f} s{hint}",
                                  style="yellow")))
        if dashboard.unclassified:
            parts.append((4, Text(f"  {dashboard.unclassified} {words('unclassified (status not in task_system.values)')}",
                                  style="yellow")))
        if api:
            parts.append((2, Text(f"  api {api}")))
        parts.append((1, Text(f"  {clock.astimezone(tz).strftime('%m-%d %H:%M:%S %Z')}")))
        if width:
            # Drop the lowest ranks first until the line fits.
            for rank in sorted({r for r, _ in parts}):
                if sum(t.cell_len for _, t in parts) <= width or rank >= 7:
                    break
                parts = [(r, t) for r, t in parts if r != rank]
        text = Text(no_wrap=True, overflow="ellipsis")
        for _, part in parts:
            text.append_text(part)
        # One line, as wide as the screen whatever it says: no layout of the screen at each second.
        self.update(text, layout=False)


class SteadyFooter(Footer):
    """The footer, made again only when the keys it shows change. Textual's makes its keys anew at
    every change of focus; between the main screen's tables (the same keys) that cost a key such as
    tab a new layout of the whole screen."""

    _shown: tuple | None = None

    def bindings_changed(self, screen: Screen) -> None:
        shown = tuple((b.key, b.action, b.description, b.tooltip, enabled, tooltip)
                      for _, b, enabled, tooltip in screen.active_bindings.values() if b.show)
        if shown == self._shown:
            return
        if screen.app.app_focus and self.is_attached and screen is self.screen:
            self._shown = shown  # what Footer will show now
        super().bindings_changed(screen)


class JobsTable(FilterableTable):
    # Screen order; rank says what goes first where the width is short (the description, then
    # the trigger). "last run" takes the room left, so its status word is always whole.
    COLUMNS = (Column("job", 20, 0), Column("trigger", 19, 4), Column("next run", 15, 2), Column("state", 9, 1),
               Column("last run", 24, 1, flex=90), Column("does", 16, 5))

    def setup(self, words: Words) -> None:
        self.nothing_chosen = words("no job selected (the row went away); choose one with the arrows")
        self.labels = {c.key: words(c.key) for c in self.COLUMNS}

    def show(self, jobs: list[JobInfo], short: dict[str, str], now: datetime, tz: ZoneInfo, running: set[str],
             words: Words) -> None:
        self.set_rows(job_rows(jobs, short, now, tz, running, words))


def job_rows(jobs: list[JobInfo], short: dict[str, str], now: datetime, tz: ZoneInfo, running: set[str],
             words: Words) -> list[Row]:
    """The Jobs panel's rows; plain data in, no widget touched (made on the refresh's worker)."""
    rows = []
    for job in jobs:
        state = JobState.RUNNING if job.id in running else job.state
        if job.state == JobState.PAUSED and not job.paused and job.enabled:
            # Held by the scheduler-wide pause: its own next time is not when it will run.
            next_run = Text(words("all paused"), style="yellow")
        elif job.next_run_time:
            next_run = Text(f"{local_time(job.next_run_time, tz, '%H:%M')} "
                            f"{words.relative(relative(job.next_run_time, now))}")
        else:
            next_run = Text("-", style="dim")
        last = job.last_run
        if last is None:
            last_text = Text(words("never run"), style="dim")
        else:
            last_text = status(last.status, words(last.status))
            last_text.append(f" {words.relative(relative(last.started_at, now))} "
                             f"{words.duration(duration(last.duration_s))} ", style="")
            last_text.append_text(safe(last.error if last.status == RunStatus.FAILED else words.counts(changed(last.counts))))
        last_text.no_wrap, last_text.overflow = True, "ellipsis"
        trigger = safe(words.trigger(job.trigger))
        if job.schedule_differs:  # the stored trigger, not the settings': the panel's subtitle says so
            trigger.append(" *", style="bold yellow")
        cells = {"job": safe(job.id, "bold"), "trigger": trigger, "next run": next_run,
                 "state": status(state, words(state)), "last run": last_text,
                 "does": safe(words(short.get(job.id, "")))}
        rows.append((job.id, cells, f"{job.id} {job.name} {job.trigger} {state}"))
    return rows


# The near panel's orders (``s`` cycles): the service's (most severe level first, then the
# tasks ahead by their next threshold), next threshold soonest, deadline soonest, and the gap
# between time and work, widest first.
SORTS = ("severity", "next threshold", "deadline", "progress gap")
HORIZON_S = 3600  # a threshold within this is "approaching": its cell stands out


def _sort_key(sort: str, t: NearTask):
    far = float("inf")
    if sort == "next threshold":
        return (t.next_at.timestamp() if t.next_at else far, t.task_id)
    if sort == "deadline":
        return (t.window_end.timestamp() if t.window_end else far, t.task_id)
    if sort == "progress gap":
        return (-(t.time_progress - t.progress), t.task_id)
    return 0


class NearTable(FilterableTable):
    BAR = 3  # cells per progress bar: with the numbers, the column fits beside the title at 80 columns
    RESERVE = 2  # the vertical scrollbar
    COLUMNS = (Column("level", 5, 0), Column("title", 16, 0, flex=48), Column("work / time", work_and_time_width(3), 1),
               Column("next level", 14, 2), Column("due", 9, 3), Column("notified", 9, 3), Column("handler", 12, 4))

    def __init__(self, **kwargs):
        super().__init__(**kwargs)
        self.sort = "severity"
        self.words = Words("en")
        self.ahead_view = False  # showing only tasks with a threshold ahead: the next level matters most
        self._tasks: list[NearTask] = []
        self._now: datetime | None = None
        self._built = NearRows({}, {})

    def setup(self, words: Words) -> None:
        localize(self, words.locale)
        self.words = words
        self.nothing_chosen = words("no task selected")
        self.labels = {c.key: words(c.key) for c in self.COLUMNS}
        self.labels["title"] = f"{words('id')} {words('title')}"  # each title follows its task's id

    def columns_now(self) -> tuple[Column, ...]:
        if not self.ahead_view:
            return self.COLUMNS
        return tuple(Column(c.key, c.width, {"next level": 1, "work / time": 2}.get(c.key, c.rank), c.flex)
                     for c in self.COLUMNS)

    def show(self, tasks: list[NearTask], now: datetime, tz: ZoneInfo, *, ahead_view: bool = False,
             rows: NearRows | None = None) -> None:
        """``rows``: the tasks' rows made off the UI thread (``near_rows``); else made here."""
        self._tasks, self._now = list(tasks), now
        self._built = rows if rows is not None else near_rows(self._tasks, now, self.words)
        if ahead_view != self.ahead_view:
            self.ahead_view = ahead_view
            self.refit()
        self.resort()

    @property
    def tasks(self) -> list[NearTask]:
        return self._tasks

    def resort(self) -> None:
        """The rows in the chosen order: the rows are made already, only their order is new."""
        tasks = self._tasks
        if self.sort != "severity":
            tasks = sorted(tasks, key=lambda t: _sort_key(self.sort, t))
        built = self._built.rows
        self.set_rows([built[str(t.task_id)] for t in tasks], self._built.signatures)


@dataclass(frozen=True)
class NearRows:
    rows: dict[str, Row]  # by task id, whatever the order
    signatures: dict[str, Signature]


def near_rows(tasks: list[NearTask], now: datetime, w: Words) -> NearRows:
    """The near panel's rows, by task id; plain data in, no widget touched (made on the refresh's
    worker). The order is the table's (``NearTable.resort``): the cells do not depend on it."""
    rows = []
    id_width = max((len(str(t.task_id)) for t in tasks), default=0)
    for t in tasks:
        # The task's id first, whole, then its title, cut where the column ends: at any width the
        # id stays and the title gives way (many tasks may share a title).
        title = Text(no_wrap=True, overflow="ellipsis")
        title.append(f"{t.task_id:>{id_width}}", style="bold")
        title.append(" ")
        title.append_text(safe(t.title))
        # The level with a mark: ✓ its warning was sent, ! not yet (text, so NO_COLOR keeps it).
        if t.level:
            sent = t.level in t.notified_levels
            level = Text(f"{t.level:>2}%{'✓' if sent else '!'}", style=level_style(t.level))
        else:
            level = Text("  -", style="dim")
        soon = t.next_at is not None and (t.next_at - now).total_seconds() <= HORIZON_S
        upcoming = (Text(f"{t.next_level}% {w.relative(relative(t.next_at, now))}", style="bold" if soon else "")
                    if t.next_at else Text("-", style="dim"))
        notified = Text(",".join(f"{lv}%" for lv in t.notified_levels) or "-",
                        style="" if t.notified_levels else "dim")
        cells = {"level": level, "title": title,
                 "work / time": work_and_time(t.progress, t.time_progress, NearTable.BAR), "next level": upcoming,
                 "due": Text(w.relative(relative(t.window_end, now))), "notified": notified,
                 "handler": safe(t.handler or "-")}
        rows.append((str(t.task_id), cells, f"{t.task_id} {t.title} {t.handler or ''}"))
    return NearRows({row[0]: row for row in rows}, signatures(rows))


@dataclass(frozen=True)
class PanelRows:
    """The main screen's table rows for one refresh, made on its worker thread."""
    jobs: list[Row]
    job_signatures: dict[str, Signature]
    near: NearRows | None  # None while a search's rows are shown


def panel_rows(d: Dashboard, short: dict[str, str], tz: ZoneInfo, running: set[str], words: Words, *,
               near: bool = True) -> PanelRows:
    jobs = job_rows(d.jobs, short, d.now, tz, running, words)
    return PanelRows(jobs, signatures(jobs), near_rows(list(d.near), d.now, words) if near else None)


class WarningsPanel(Panel):
    """Per level: tasks in it now, sent in the last 24 h, pending; warnings sent per hour over the
    last day, and those falling due per hour over the next (every level together)."""

    def __init__(self, words: Words, **kwargs):
        super().__init__(**kwargs)
        self.words = words
        self._shown: tuple | None = None  # the counts and forecast on screen: the same again changes nothing

    def compose(self) -> ComposeResult:
        # No cell padding: the numbers are right-aligned in fixed widths, so 80 columns suffice.
        table = DataTable(id="levels", cursor_type="none", show_cursor=False, cell_padding=0)
        table.can_focus = False
        yield table
        # Shown only while some task in a level has no handler: counted there, but nobody is warned.
        yield Label("", id="no-handler")
        with Horizontal(id="spark-row"):
            yield Label("24h", id="spark-label")
            yield Sparkline([0] * 24, id="per-hour")
        with Horizontal(id="ahead-row"):
            yield Label("", id="ahead-label")
            yield Sparkline([0] * 24, id="ahead-per-hour")

    async def on_click(self) -> None:
        await self.app.run_action("warnings")  # the warnings screen: its charts and the forecast

    def on_mount(self) -> None:
        table = self.query_one("#levels", DataTable)
        w = self.words
        for name, width in (("level", 6), ("now", 7), ("24h", 7), ("pending", 9)):
            label = Text(w(name), justify="left" if name == "level" else "right")
            table.add_column(label, width=width)

    def show(self, stats: WarningStats | None, forecast: Forecast | None = None) -> None:
        if self._shown == (stats, forecast):
            return
        self._shown = (stats, forecast)
        self._show_forecast(forecast)
        table = self.query_one("#levels", DataTable)
        table.clear()
        if stats is None:
            return
        ordered = sorted(stats.levels, key=lambda s: s.at, reverse=True)  # most severe first
        for lv in ordered:
            style = level_style(lv.level)
            table.add_row(Text(f"{lv.level}%", style=style), Text(f"{lv.in_level:,}", justify="right"),
                          Text(f"{lv.notified_24h:,}", justify="right"),
                          Text(f"{lv.pending:,}", style="bold yellow" if lv.pending else "dim", justify="right"))
        unhandled = [(lv.level, lv.no_handler) for lv in ordered if lv.no_handler]
        note = self.query_one("#no-handler", Label)
        note.update(Text(f"{self.words('no handler')}: " + ", ".join(f"{lv}% {n:,}" for lv, n in unhandled),
                         style="yellow") if unhandled else Text(""))
        note.display = bool(unhandled)
        self.query_one("#per-hour", Sparkline).data = [float(v) for v in stats.per_hour]
        self.query_one("#spark-label", Label).update(Text(f"{self.words('sent/h')} {sum(stats.per_hour):,} "))
        self.query_one("#per-hour", Sparkline).tooltip = self.words("warnings sent per hour, last 24 h")

    def _show_forecast(self, forecast: Forecast | None) -> None:
        label, spark = self.query_one("#ahead-label", Label), self.query_one("#ahead-per-hour", Sparkline)
        if forecast is None:
            label.update(Text(f"{self.words('next 24 h')} - "))
            spark.data = [0.0] * 24
            return
        label.update(Text(f"{self.words('next 24 h')} {forecast.total:,} "))
        spark.data = [float(v) for v in forecast.per_hour]
        per_level = ", ".join(f"{level}% {n:,}" for level, n in forecast.totals.items())
        spark.tooltip = f"{self.words('warnings falling due per hour, next 24 h (each level counted)')}: {per_level}"
