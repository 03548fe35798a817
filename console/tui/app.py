"""The console app: the main screen, its keys, and the flow of data to it.

Nothing here waits on the database or a job: every such call runs in a thread worker, and
results come back as messages (``console.tui.messages``). Refreshes never overlap: the next
one is armed only when the last has been shown. ``create_app`` builds the app for the command
line and for the tests alike.
"""

from __future__ import annotations

import logging
from dataclasses import replace
from typing import Callable

from textual import on, work
from textual.app import App, ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical
from textual.timer import Timer
from textual.widgets import DataTable, Footer, Input
from textual.worker import Worker, WorkerState

from console.domain.text import printable
from console.scheduler.ledger import os_user
from console.scheduler.runner import AlreadyRunning
from console.service.facade import Dashboard, Service
from console.tui.commands import JobCommands
from console.tui.dialogs import Confirm, Help
from console.tui.format import changed, duration
from console.tui.i18n import Words
from console.tui.inspect import JobScreen, PreviewScreen, TaskScreen
from console.tui.logs import ConsoleLogHandler, LogPanel
from console.tui.messages import DashboardLoaded, LogRecorded, RunEventReceived
from console.tui.widgets import FilterableTable, JobsTable, NearTable, StatusBar, WarningsPanel

CHANGING_ACTIONS = {"trigger", "toggle_job", "toggle_scheduler"}
MAIN_SCREEN_ACTIONS = CHANGING_ACTIONS | {"inspect", "preview", "filter", "refresh", "quit_console"}
CONFIRM_BEFORE = {"cleanup_old_data"}
LOGGERS = ("console", "apscheduler")


class TaskConsoleApp(App[int]):
    CSS_PATH = "app.tcss"
    TITLE = "taskconsole"
    COMMANDS = App.COMMANDS | {JobCommands}
    AUTO_FOCUS = "#jobs"
    BINDINGS = [
        Binding("t", "trigger", "Run", id="trigger", tooltip="Run the selected job now (recorded as manual)"),
        Binding("p", "toggle_job", "Pause", id="toggle-job", tooltip="Pause or resume the selected job"),
        Binding("P", "toggle_scheduler", "Pause all", id="toggle-scheduler", key_display="P",
                tooltip="Pause or resume the whole scheduler"),
        Binding("enter", "inspect", "Inspect", id="inspect", tooltip="Inspect the selected job or task"),
        Binding("v", "preview", "Preview", id="preview", tooltip="Dry run: what the selected job would change now"),
        Binding("slash", "filter", "Filter", id="filter", key_display="/", tooltip="Filter the focused table"),
        Binding("r", "refresh", "Refresh", id="refresh", tooltip="Refresh every panel now"),
        Binding("question_mark", "help", "Help", id="help", key_display="?", tooltip="Show every key"),
        Binding("q", "quit_console", "Quit", id="quit", tooltip="Stop the scheduler gracefully and quit"),
        Binding("ctrl+q", "quit_console", "Quit", show=False, priority=True),
        Binding("escape", "close_filter", show=False),
    ]

    def __init__(self, service: Service, *, read_only: bool = False, embed_scheduler: bool = True):
        super().__init__()
        self.service = service
        self.read_only = read_only
        self.embed_scheduler = embed_scheduler
        self.words = Words(service.settings.console.locale)
        self.tz = service.settings.tz
        self.dashboard: Dashboard | None = None
        self.refreshes = 0
        self._refreshing = False
        self._refresh_again = False
        self._timer: Timer | None = None
        self._filter_target: FilterableTable | None = None
        self._log_handler = ConsoleLogHandler(self)
        self._quitting = False

    # -- layout ---------------------------------------------------------------------------------
    def compose(self) -> ComposeResult:
        w = self.words
        yield StatusBar(id="status")
        with Vertical(id="jobs-panel", classes="panel") as panel:
            panel.border_title = w("Jobs")
            yield JobsTable(id="jobs")
        with Horizontal(id="middle"):
            warnings = WarningsPanel(w, id="warnings-panel", classes="panel")
            warnings.border_title = w("Warnings")
            yield warnings
            with Vertical(id="near-panel", classes="panel") as panel:
                panel.border_title = w("Near thresholds")
                yield NearTable(id="near")
        with Vertical(id="logs-panel", classes="panel") as panel:
            panel.border_title = w("Logs")
            yield LogPanel(self.tz, id="logs")
        yield Input(placeholder="filter: type to narrow the table, enter or escape to close", id="filter")
        # The palette (ctrl+p) is listed in `?` help; without it every key fits in 80 columns.
        yield Footer(compact=True, show_command_palette=False)

    def on_mount(self) -> None:
        self.query_one(JobsTable).setup(self.words)
        self.query_one(NearTable).setup(self.words, self._title_width())
        for name in LOGGERS:
            logging.getLogger(name).addHandler(self._log_handler)
        self.service.bus.add_listener(self._on_run_event)
        self.set_interval(1.0, self._tick)
        self._tick()
        if self.embed_scheduler:
            self.start_scheduler()
        self.request_refresh()

    def on_unmount(self) -> None:
        for name in LOGGERS:
            logging.getLogger(name).removeHandler(self._log_handler)
        self.service.bus.remove_listener(self._on_run_event)

    def _title_width(self) -> int:
        return max(16, min(48, self.size.width - 96))

    def on_resize(self) -> None:
        self.screen.set_class(self.size.height >= 36, "-tall")
        self.screen.set_class(self.size.width >= 120, "-wide")
        near = self.query_one(NearTable)
        if near.columns:
            near.setup(self.words, self._title_width())

    # -- data flow --------------------------------------------------------------------------------
    @work(thread=True, group="scheduler", exit_on_error=False)
    def start_scheduler(self) -> None:
        self.service.start_scheduler()
        self.call_from_thread(self.request_refresh)

    def request_refresh(self) -> None:
        if self._refreshing:
            self._refresh_again = True
            return
        self._refreshing = True
        self.collect()

    @work(thread=True, group="refresh", exit_on_error=False)
    def collect(self) -> None:
        self.post_message(DashboardLoaded(self.service.dashboard()))

    def on_dashboard_loaded(self, message: DashboardLoaded) -> None:
        d = self.dashboard = message.dashboard
        self.refreshes += 1
        running = self.service.running_here()
        short = {job_id: spec.short for job_id, spec in self.service.runner.jobs.items()}
        self.query_one(JobsTable).show(d.jobs, short, d.now, self.tz, running, self.words)
        self.query_one(WarningsPanel).show(d.warnings)
        self.query_one(NearTable).show(d.near, d.now, self.tz)
        self._tick()
        if d.error:
            self.query_one(LogPanel).add(_record(logging.ERROR, f"refresh failed: {d.error}"))
        self._refresh_done()

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
        dashboard = self.dashboard or Dashboard(now=self.service.clock(), scheduler_state="starting",
                                                database="…", redis="…")
        live_state = self.service.scheduler_state
        if live_state != dashboard.scheduler_state:
            dashboard = replace(dashboard, scheduler_state=live_state)
        self.query_one(StatusBar).show(dashboard, self.tz, self.words, read_only=self.read_only,
                                       clock=self.service.clock())

    def _on_run_event(self, event: dict) -> None:
        # Called on the runner's thread (or this one, for actions started here).
        self.post_message(RunEventReceived(event))

    def on_run_event_received(self, message: RunEventReceived) -> None:
        self.request_refresh()

    def on_log_recorded(self, message: LogRecorded) -> None:
        self.query_one(LogPanel).add(message.record)

    def on_worker_state_changed(self, event: Worker.StateChanged) -> None:
        if event.state != WorkerState.ERROR:
            return
        error = event.worker.error
        self.query_one(LogPanel).add(_record(logging.ERROR, f"{event.worker.name} failed: {error}"))
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

    # -- keys -----------------------------------------------------------------------------------
    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        if action in MAIN_SCREEN_ACTIONS and len(self.screen_stack) > 1:
            return False  # another screen is on top: its own keys apply
        if action in CHANGING_ACTIONS and self.read_only:
            return None  # shown, but disabled
        return True

    def action_trigger(self) -> None:
        job_id = self.selected_job()
        if job_id:
            self.trigger_job(job_id)

    def trigger_job(self, job_id: str) -> None:
        if self.read_only:
            return
        if job_id in self.service.running_here():
            self.notify(f"{job_id} is already running", severity="warning", markup=False)
            return
        if job_id in CONFIRM_BEFORE:
            question = f"Run {job_id} now? It deletes old data for good."
            self.push_screen(Confirm(question), lambda yes: self._run_job(job_id) if yes else None)
        else:
            self._run_job(job_id)

    @work(thread=True, group="actions", exit_on_error=False)
    def _run_job(self, job_id: str) -> None:
        self.call_from_thread(self.notify, f"{job_id}: started", markup=False)
        try:
            result = self.service.run_job(job_id, actor=os_user())
        except AlreadyRunning as exc:
            self.call_from_thread(self.notify, printable(str(exc)), severity="warning", markup=False)
            return
        if result.status == "success":
            text = f"{job_id}: done in {duration(result.duration_s)}, {changed(result.counts)}"
            self.call_from_thread(self.notify, printable(text), markup=False)
        else:
            text = f"{job_id} failed: {result.error}"
            self.call_from_thread(self.notify, printable(text), severity="error", markup=False, timeout=10)

    def action_toggle_job(self) -> None:
        job_id = self.selected_job()
        if job_id:
            self.toggle_job(job_id)

    def toggle_job(self, job_id: str) -> None:
        if self.read_only:
            return
        info = self.job_info(job_id)
        self._set_paused(job_id, not (info is not None and info.paused))

    @work(thread=True, group="actions", exit_on_error=False)
    def _set_paused(self, job_id: str, pause: bool) -> None:
        actor = os_user()
        if pause:
            self.service.pause_job(job_id, actor=actor)
        else:
            self.service.resume_job(job_id, actor=actor)
        self.call_from_thread(self.notify, f"{job_id} {'paused' if pause else 'resumed'}", markup=False)
        self.call_from_thread(self.request_refresh)

    def action_toggle_scheduler(self) -> None:
        if self.read_only:
            return
        if self.service.live is None:
            self.notify("no scheduler runs in this console", severity="warning", markup=False)
            return
        self._toggle_scheduler(self.service.scheduler_state == "running")

    @work(thread=True, group="actions", exit_on_error=False)
    def _toggle_scheduler(self, pause: bool) -> None:
        actor = os_user()
        if pause:
            self.service.pause_scheduler(actor=actor)
        else:
            self.service.resume_scheduler(actor=actor)
        self.call_from_thread(self.notify, f"scheduler {'paused' if pause else 'resumed'}", markup=False)
        self.call_from_thread(self.request_refresh)

    def action_inspect(self) -> None:
        focused = self.focused
        if isinstance(focused, NearTable) and focused.selected_key:
            self.push_screen(TaskScreen(int(focused.selected_key)))
        elif self.selected_job():
            self.inspect_job(self.selected_job())

    @on(DataTable.RowSelected, "#jobs")
    def _job_selected(self, event: DataTable.RowSelected) -> None:
        self.inspect_job(event.row_key.value)

    @on(DataTable.RowSelected, "#near")
    def _task_selected(self, event: DataTable.RowSelected) -> None:
        self.push_screen(TaskScreen(int(event.row_key.value)))

    def inspect_job(self, job_id: str) -> None:
        self.push_screen(JobScreen(job_id))

    def action_preview(self) -> None:
        job_id = self.selected_job()
        if job_id:
            self.preview_job(job_id)

    def preview_job(self, job_id: str) -> None:
        self.push_screen(PreviewScreen(job_id))

    def action_filter(self) -> None:
        focused = self.focused
        target = focused if isinstance(focused, FilterableTable) else self.query_one(JobsTable)
        self._filter_target = target
        box = self.query_one("#filter", Input)
        box.value = target.filter_text
        box.add_class("visible")
        box.focus()

    @on(Input.Changed, "#filter")
    def _filter_changed(self, event: Input.Changed) -> None:
        if self._filter_target is not None:
            self._filter_target.apply_filter(event.value)

    @on(Input.Submitted, "#filter")
    def _filter_submitted(self) -> None:
        self._hide_filter()

    def action_close_filter(self) -> None:
        box = self.query_one("#filter", Input)
        if box.has_class("visible"):
            box.value = ""
            if self._filter_target is not None:
                self._filter_target.apply_filter("")
            self._hide_filter()

    def _hide_filter(self) -> None:
        self.query_one("#filter", Input).remove_class("visible")
        if self._filter_target is not None:
            self._filter_target.focus()

    def action_refresh(self) -> None:
        self.request_refresh()

    def action_help(self) -> None:
        self.push_screen(Help(self.read_only))

    def action_quit_console(self) -> None:
        running = sorted(self.service.running_here())
        if running:
            question = (f"{', '.join(running)} is running. Quit anyway? "
                        "The scheduler stops gracefully: running jobs finish or roll back first.")
            self.push_screen(Confirm(question, yes="Quit"), lambda yes: self._begin_shutdown() if yes else None)
        else:
            self._begin_shutdown()

    async def action_quit(self) -> None:
        self.action_quit_console()

    def _begin_shutdown(self) -> None:
        if self._quitting:
            return
        self._quitting = True
        self.notify("stopping the scheduler…", markup=False)
        self._stop_and_exit()

    @work(thread=True, group="shutdown", exit_on_error=False)
    def _stop_and_exit(self) -> None:
        self.service.stop_scheduler()
        self.call_from_thread(self.exit, 0)


def _record(level: int, message: str) -> logging.LogRecord:
    return logging.LogRecord("console.tui", level, __file__, 0, message, None, None)


def create_app(service: Service, *, read_only: bool = False, embed_scheduler: bool = True) -> TaskConsoleApp:
    """The one factory for the console, used by ``taskconsole`` and by the tests."""
    return TaskConsoleApp(service, read_only=read_only, embed_scheduler=embed_scheduler)


def run_console(service: Service, *, read_only: bool = False,
                factory: Callable[..., TaskConsoleApp] = create_app) -> int:
    """Open the console; logs go to its panel instead of the terminal while it runs."""
    root = logging.getLogger()
    saved = root.handlers[:]
    for handler in saved:
        root.removeHandler(handler)
    for name in LOGGERS:
        logging.getLogger(name).setLevel(logging.INFO)
    try:
        result = factory(service, read_only=read_only).run()
    finally:
        service.stop_scheduler()
        for handler in saved:
            root.addHandler(handler)
    return result or 0


__all__ = ["TaskConsoleApp", "create_app", "run_console"]
