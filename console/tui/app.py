"""The console app: the main screen, its keys, and the flow of data to it.

Nothing here waits on the database or a job: every such call runs in a thread worker, and
results come back as messages (``console.tui.messages``). Refreshes never overlap: the next
one is armed only when the last has been shown. ``create_app`` builds the app for the command
line and for the tests alike.
"""

from __future__ import annotations

import logging
import os
import sys
import time
from dataclasses import replace
from typing import Callable

from rich.text import Text
from textual import work
from textual.app import App, ComposeResult
from textual.containers import Horizontal
from textual.css.query import NoMatches
from textual.timer import Timer
from textual.widgets import Input
from textual.worker import Worker, WorkerState

from console.domain.runs import SchedulerState
from console.domain.text import printable
from console.service import AHEAD, SCHEDULE_DIFFERS, Dashboard, Service, describe_error
from console.tui.actions import ConsoleActions
from console.tui.finding import FILTER_HINT, FindingActions
from console.tui import heap
from console.tui.palette import JobCommands
from console.tui.i18n import Words
from console.tui.keys import bindings, localize
from console.tui.log_views import LogScreen
from console.tui.main_screen import MainScreen, Panel
from console.tui.logs import ConsoleLogHandler, LogEntry, LogPanel
from console.tui.messages import DashboardLoaded, LogRecorded, RunEventReceived
from console.tui.table import FilterableTable
from console.tui.widgets import JobsTable, NearTable, PanelRows, StatusBar, SteadyFooter, WarningsPanel, panel_rows

LOGGERS = ("console", "apscheduler")


class TaskConsoleApp(ConsoleActions, FindingActions, App[int]):
    CSS_PATH = "app.tcss"
    TITLE = "taskconsole"
    COMMANDS = App.COMMANDS | {JobCommands}
    AUTO_FOCUS = "#jobs"
    BINDINGS = bindings("main")
    NEAR_LIMIT = 50  # rows the near panel reads
    FIRST_TAIL = 200  # run log lines of other processes shown when the console opens

    def __init__(self, service: Service, *, read_only: bool = False, embed_scheduler: bool = True,
                 api_address: str | None = None, api_error: str | None = None):
        super().__init__()
        self.service = service
        # The HTTP API this process serves (http.listen), or why it could not.
        self.api_address = api_address
        self.api_error = api_error
        self.read_only = read_only
        self.embed_scheduler = embed_scheduler
        self.words = Words(service.settings.console.locale)
        localize(self, service.settings.console.locale)
        self.tz = service.settings.tz
        self.dashboard: Dashboard | None = None
        self.refreshes = 0
        self._refreshing = False
        self._refresh_again = False
        self._timer: Timer | None = None
        self._filter_target: FilterableTable | None = None
        self._box_mode = "filter"  # what the bottom box is for: filter | goto
        self.near_show = None  # the near panel's choice: None (all), a level, or AHEAD
        self.near_search: str | None = None  # a database search the near panel shows
        self.near_found: list = []
        self.searching = False
        self.search_began = 0.0
        self.search_scanning = False
        self._tail_after: int | None = None  # the last job_run_logs line shown
        self._log_handler = ConsoleLogHandler(self)
        self._quitting = False
        self._database = service.database_label()
        self.left_running: list[str] = []  # jobs left running when the operator quit without waiting

    # -- layout ---------------------------------------------------------------------------------
    def get_default_screen(self) -> MainScreen:
        return MainScreen(id="_default")

    def compose(self) -> ComposeResult:
        w = self.words
        yield StatusBar(id="status")
        with Panel(id="jobs-panel", classes="panel") as panel:
            panel.border_title = w("Jobs")
            yield JobsTable(id="jobs")
        with Horizontal(id="middle"):
            warnings = WarningsPanel(w, id="warnings-panel", classes="panel")
            warnings.border_title = w("Warnings")
            yield warnings
            with Panel(id="near-panel", classes="panel") as panel:
                panel.border_title = w("Near thresholds")
                yield NearTable(id="near")
        with Panel(id="logs-panel", classes="panel") as panel:
            panel.border_title = w("Logs")
            yield LogPanel(self.tz, id="logs")
        yield Input(placeholder=self.words(FILTER_HINT), id="filter")
        # The palette (ctrl+p) is listed in `?` help; without it every key fits in 80 columns.
        yield SteadyFooter(compact=True, show_command_palette=False)

    def on_mount(self) -> None:
        self.query_one(JobsTable).setup(self.words)
        self.query_one(NearTable).setup(self.words)
        for name in LOGGERS:
            logging.getLogger(name).addHandler(self._log_handler)
        self.service.add_run_listener(self._on_run_event)
        if self.api_error:
            logging.getLogger("console.tui").warning("HTTP API not served: %s", self.api_error)
        self.set_interval(1.0, self._tick)
        self._tick()
        if self.embed_scheduler:
            self.start_scheduler()
        self.request_refresh()

    def on_unmount(self) -> None:
        for name in LOGGERS:
            logging.getLogger(name).removeHandler(self._log_handler)
        self.service.remove_run_listener(self._on_run_event)

    def on_resize(self, event) -> None:
        # The event's size: the app's own may still be the old one here (a resize behind).
        width, height = event.size
        self.screen.set_class(height >= 36, "-tall")
        self.screen.set_class(width >= 120, "-wide")
        self._tick()

    # -- data flow --------------------------------------------------------------------------------
    @work(thread=True, group="scheduler", exit_on_error=False)
    def start_scheduler(self) -> None:
        # Leads if no other process does; else attached, and takes over if the leader ends.
        self.service.start_scheduler(kind="console", on_change=self._on_role_change)
        self.call_from_thread(self.request_refresh)

    def _on_role_change(self, role: str) -> None:
        # On the node's thread: a message, never a direct widget call.
        self.post_message(RunEventReceived({"event": "role", "role": role}))

    def request_refresh(self) -> None:
        if self._refreshing:
            self._refresh_again = True
            return
        self._refreshing = True
        self.collect()

    @work(thread=True, group="refresh", exit_on_error=False)
    def collect(self) -> None:
        dashboard = self.service.dashboard(self.NEAR_LIMIT, self.near_show)
        # With the database away the dashboard says so: no second wait for it.
        lines, high = self._read_tail() if dashboard.error is None else ([], None)
        # The tables' rows, made here: the UI thread only swaps them in (a failed refresh keeps
        # the rows last read, made again there).
        rows = None
        if dashboard.error is None:
            rows = panel_rows(dashboard, self.service.job_names(), self.tz, self.service.running_here(), self.words,
                              near=self.near_search is None)
        self.post_message(DashboardLoaded(dashboard, lines, high, rows))

    def _read_tail(self) -> tuple[list, int | None]:
        """Run log lines other processes wrote (the leader's, for an attached console). The first
        read takes the newest few and where the table ends, so that nothing older is read again
        later (nor toasted as if new). On a thread worker."""
        try:
            first = self._tail_after is None
            high = self.service.last_log_line_id() if first else None  # before the lines: none lost
            return self.service.log_tail(self._tail_after, limit=self.FIRST_TAIL if first else 500), high
        except Exception:  # noqa: BLE001 - the next refresh says the database is down
            return [], None

    def on_dashboard_loaded(self, message: DashboardLoaded) -> None:
        try:
            self._show_dashboard(message.dashboard, message.rows)
            self._show_tail(message.lines, message.high)
        except NoMatches:
            return  # closing
        if self.refreshes == 1:
            self.call_after_refresh(heap.settle)  # once the first screen is drawn (console.tui.heap)
        self._refresh_done()

    def _show_tail(self, lines, high: int | None) -> None:
        first = self._tail_after is None
        if first and high is None:
            return  # the database was away: read from the start of the tail next time
        self._tail_after = max(high if first else self._tail_after, lines[-1].id if lines else 0)
        for line in lines:
            self.add_log_entry(LogEntry.from_line(line))
            # A run that failed elsewhere (through the leader) says so here too, once, when new.
            if not first and line.level in ("ERROR", "CRITICAL") and line.message.startswith("job "):
                self.notify(printable(f"{line.job_id} #{line.run_id}: {line.message}"), severity="error",
                            markup=False, timeout=10)

    def add_log_entry(self, entry) -> None:
        self.query_one(LogPanel).add_entry(entry)
        if isinstance(self.screen, LogScreen):
            self.screen.add(entry)

    def _show_dashboard(self, d: Dashboard, rows: PanelRows | None = None) -> None:
        previous = self.dashboard
        if d.error and previous is not None:
            # A failed refresh keeps the rows last read (marked stale) rather than emptying the
            # tables: an empty table would move the cursor, and a key would act on another row.
            d = replace(d, jobs=previous.jobs, warnings=previous.warnings, near=previous.near,
                        leader=previous.leader, forecast=previous.forecast,
                        stale_since=previous.stale_since or d.now)
        self.dashboard = d
        self.refreshes += 1
        jobs, near = self.query_one(JobsTable), self.query_one(NearTable)
        if rows is None:
            jobs.show(d.jobs, self.service.job_names(), d.now, self.tz, self.service.running_here(), self.words)
        else:
            jobs.set_rows(rows.jobs, rows.job_signatures)
        self.query_one(WarningsPanel).show(d.warnings, d.forecast)
        if self.near_search is None:  # a search's rows stay until escape
            near.show(d.near, d.now, self.tz, ahead_view=self.near_show == AHEAD, rows=rows.near if rows else None)
        self.show_panel_notes()
        self._tick()
        if d.error:
            self.query_one(LogPanel).add(_record(logging.ERROR, f"refresh failed: {d.error}"))

    def show_panel_notes(self) -> None:
        """Panel titles and subtitles: how many rows of how many, the near panel's level, order
        and search, an active filter, and rows left from before a failed refresh."""
        d, w = self.dashboard, self.words
        stale = ""
        if d is not None and d.stale_since is not None:
            stale = f"{w('stale since')} {d.stale_since.astimezone(self.tz).strftime('%H:%M:%S')}"
        jobs, near = self.query_one(JobsTable), self.query_one(NearTable)
        notes = {"#jobs-panel": [], "#near-panel": [], "#warnings-panel": []}
        if d is not None and any(j.schedule_differs for j in d.jobs):
            notes["#jobs-panel"].append(f"* {w(SCHEDULE_DIFFERS)}")
        if jobs.filter_text:
            notes["#jobs-panel"].append(f"{w('filter')} “{jobs.filter_text}” {jobs.row_count}/{jobs.total}")
        if near.filter_text:
            notes["#near-panel"].append(f"{w('filter')} “{near.filter_text}” {near.row_count}/{near.total}")
        if self.near_search is not None:
            if self.searching and self.search_scanning:
                seconds = time.monotonic() - self.search_began
                found = f"{w('scanning every processing task (db tune adds a title index)')} {seconds:.0f} s"
            elif self.searching:
                found = w("searching…")
            else:
                more = "+" if len(self.near_found) >= self.NEAR_LIMIT else ""
                found = f"{len(self.near_found)}{more} {w('found')}"
            notes["#near-panel"].append(f"{w('search')} “{self.near_search}” {found} (esc)")
        if stale:
            for key in notes:
                notes[key].append(stale)
        # Text, not str: a border title given as a string is read as markup, and these hold what
        # the operator typed.
        for panel_id, parts in notes.items():
            self.query_one(panel_id).border_subtitle = Text(printable(" · ".join(parts))) if parts else None
        self.query_one("#near-panel").border_title = Text(self._near_title())

    def _near_title(self) -> str:
        w, near, d = self.words, self.query_one(NearTable), self.dashboard
        title = w("Near thresholds")
        if self.near_search is None and d is not None and d.warnings is not None:
            in_levels = {lv.level: lv.in_level for lv in d.warnings.levels}
            if self.near_show is None:
                shown_in_level = sum(1 for t in near.tasks if t.level)
                title += f" {shown_in_level} {w('of')} {sum(in_levels.values()):,}"
                if near.total > shown_in_level:
                    title += f" +{near.total - shown_in_level} {w('ahead')}"
            elif self.near_show == AHEAD:
                title += f" · {w('ahead')} {near.total}"
            else:
                title += f" · {self.near_show}% {near.total} {w('of')} {in_levels.get(self.near_show, 0):,}"
        if near.sort != "severity":
            title += f" · {w('by')} {w(near.sort)}"
        return title

    def _refresh_done(self) -> None:
        self._refreshing = False
        if self._timer is not None:
            self._timer.stop()
        if self._refresh_again:
            self._refresh_again = False
            self.request_refresh()
        else:
            self._timer = self.set_timer(self.service.settings.console.refresh_interval, self.request_refresh)

    def _tick(self) -> None:
        try:
            self._show_status()
            if self.searching:
                self.show_panel_notes()  # the seconds a scanning search has taken
        except NoMatches:
            pass  # the app is closing: its widgets are gone before its timers stop

    def _show_status(self) -> None:
        dashboard = self.dashboard or Dashboard(now=self.service.clock(), scheduler_state=SchedulerState.STARTING,
                                                database="…", redis="…")
        live_state = self.service.scheduler_state
        if live_state != dashboard.scheduler_state:
            dashboard = replace(dashboard, scheduler_state=live_state)
        self.query_one(StatusBar).show(dashboard, self.tz, self.words, read_only=self.read_only,
                                       clock=self.service.clock(), api=self.api_address,
                                       database=self._database, width=self.screen.size.width)

    def _on_run_event(self, event: dict) -> None:
        # Called on the runner's thread (or this one, for actions started here).
        self.post_message(RunEventReceived(event))

    def on_run_event_received(self, message: RunEventReceived) -> None:
        self.request_refresh()

    def on_log_recorded(self, message: LogRecorded) -> None:
        try:
            self.add_log_entry(LogEntry.from_record(message.record))
        except NoMatches:
            pass  # closing

    def on_worker_state_changed(self, event: Worker.StateChanged) -> None:
        if event.state != WorkerState.ERROR:
            return
        # Said as the service says database errors: no SQL, no URL, no password.
        error = describe_error(event.worker.error, self.service.settings.database.url)
        try:
            self.query_one(LogPanel).add(_record(logging.ERROR, f"{event.worker.name} failed: {error}"))
        except NoMatches:
            return  # closing
        self.notify(printable(f"{event.worker.name} failed: {error}"), severity="error", markup=False)
        if event.worker.group == "refresh":
            self._refresh_done()

    # -- selection ------------------------------------------------------------------------------
    def selected_job(self) -> str | None:
        return self.query_one(JobsTable).selected_key

    def job_info(self, job_id: str):
        if self.dashboard is None:
            return None
        return next((j for j in self.dashboard.jobs if j.id == job_id), None)


def _record(level: int, message: str) -> logging.LogRecord:
    return logging.LogRecord("console.tui", level, __file__, 0, message, None, None)


def create_app(service: Service, *, read_only: bool = False, embed_scheduler: bool = True,
               api_address: str | None = None, api_error: str | None = None) -> TaskConsoleApp:
    """The one factory for the console, used by ``taskconsole`` and by the tests."""
    return TaskConsoleApp(service, read_only=read_only, embed_scheduler=embed_scheduler, api_address=api_address,
                          api_error=api_error)


def run_console(service: Service, *, read_only: bool = False, api_address: str | None = None,
                api_error: str | None = None, factory: Callable[..., TaskConsoleApp] = create_app) -> int:
    """Open the console; logs go to its panel instead of the terminal while it runs."""
    root = logging.getLogger()
    saved = root.handlers[:]
    for handler in saved:
        root.removeHandler(handler)
    for name in LOGGERS:
        logging.getLogger(name).setLevel(logging.INFO)
    left: list[str] = []
    try:
        app = factory(service, read_only=read_only, api_address=api_address, api_error=api_error)
        result = app.run()
        left = app.left_running
    finally:
        if not left:
            service.stop_scheduler()
        for handler in saved:
            root.addHandler(handler)
    if left:
        # The operator chose not to wait: end now, without joining the job's thread. The run
        # stays "running" with this process's pid; the next leader marks it abandoned and reruns it.
        logging.getLogger("console.tui").warning("quit without waiting; left running: %s", ", ".join(left))
        logging.shutdown()
        sys.stdout.flush()
        sys.stderr.flush()
        os._exit(result or 0)
    return result or 0


__all__ = ["TaskConsoleApp", "create_app", "run_console"]
