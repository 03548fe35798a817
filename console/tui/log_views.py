"""Full-screen logs: ``l`` opens the console's log view (k9s's logs view is the model: it
follows, wraps, and filters by level and by job), and a run's whole log opens from a job's
screen. Both draw ``LogEntry`` lines (``console.tui.logs``)."""

from __future__ import annotations

from rich.text import Text
from textual import work
from textual.app import ComposeResult
from textual.screen import Screen
from textual.widgets import Footer, Label, RichLog

from console.tui.keys import bindings, localize
from console.tui.logs import LogEntry

LEVELS = ("all", "WARNING", "ERROR")  # the level filter's steps: everything, warnings and worse, errors
RANK = {"DEBUG": 0, "INFO": 1, "WARNING": 2, "ERROR": 3, "CRITICAL": 4}


def passes(entry: LogEntry, level: str, job: str | None) -> bool:
    if level != "all" and RANK.get(entry.level, 1) < RANK[level]:
        return False
    return job is None or entry.job_id == job


class LogScreen(Screen):
    """Every line the console has seen, newest at the bottom, following as lines arrive."""

    BINDINGS = bindings("logs")
    HELP_KEYS = ("logs",)
    HELP_TITLE = "keys of the log view"

    def __init__(self, entries: list[LogEntry], jobs: list[str]):
        super().__init__()
        self.entries = list(entries)
        self.jobs = jobs
        self.level = "all"
        self.job: str | None = None
        self.wrap = True
        self.follow = True

    def compose(self) -> ComposeResult:
        yield Label(id="log-heading", classes="heading")
        yield RichLog(id="log-view", wrap=True, highlight=False, markup=False, auto_scroll=True, max_lines=20_000)
        yield Footer()

    def on_mount(self) -> None:
        localize(self, self.app.words.locale)
        self.redraw()

    @property
    def view(self) -> RichLog:
        return self.query_one("#log-view", RichLog)

    def redraw(self) -> None:
        view, tz = self.view, self.app.tz
        view.wrap, view.auto_scroll = self.wrap, self.follow
        view.clear()
        shown = 0
        for entry in self.entries:
            if passes(entry, self.level, self.job):
                view.write(entry.text(tz, wrap=self.wrap))
                shown += 1
        w = self.app.words
        heading = Text(f"{w('logs')}: {shown} {w('lines')}", style="bold")
        heading.append(f"   {w('level')} {w(self.level)}   {w('job')} {self.job or w('all')}"
                       f"   {w('wrap') if self.wrap else w('no wrap')}   {w('following') if self.follow else w('paused')}")
        self.query_one("#log-heading", Label).update(heading)

    def add(self, entry: LogEntry) -> None:
        self.entries.append(entry)
        if passes(entry, self.level, self.job):
            self.view.write(entry.text(self.app.tz, wrap=self.wrap))

    def action_cycle_level(self) -> None:
        self.level = LEVELS[(LEVELS.index(self.level) + 1) % len(LEVELS)]
        self.redraw()

    def action_cycle_job(self) -> None:
        order = [None, *self.jobs]
        self.job = order[(order.index(self.job) + 1) % len(order)]
        self.redraw()

    def action_toggle_wrap(self) -> None:
        self.wrap = not self.wrap
        self.redraw()

    def action_toggle_follow(self) -> None:
        self.follow = not self.follow
        self.view.auto_scroll = self.follow
        if self.follow:
            self.view.scroll_end(animate=False)
        self.redraw()


class RunLogScreen(Screen):
    """The whole kept log of one run, read from job_run_logs."""

    BINDINGS = bindings("inspect")
    HELP_KEYS = ("inspect",)
    HELP_TITLE = "keys of this screen"

    def __init__(self, run_id: int, job_id: str):
        super().__init__()
        self.run_id, self.job_id = run_id, job_id

    def compose(self) -> ComposeResult:
        yield Label(Text(f"{self.job_id} · run {self.run_id}", style="bold"), classes="heading")
        yield RichLog(id="run-log", wrap=True, highlight=False, markup=False, auto_scroll=False)
        yield Footer()

    def on_mount(self) -> None:
        localize(self, self.app.words.locale)
        self.load()

    @work(thread=True, exclusive=True, exit_on_error=False)
    def load(self) -> None:
        lines = self.app.service.run_log(self.run_id)
        self.app.call_from_thread(self.show, lines)

    def show(self, lines) -> None:
        view = self.query_one("#run-log", RichLog)
        view.clear()
        if not lines:
            view.write(Text(self.app.words("no log lines kept for this run (run_logs.keep, or it ran before "
                                           "taskconsole kept run logs)"), style="dim"))
        for line in lines:
            view.write(LogEntry.from_line(line).text(self.app.tz, wrap=True))
