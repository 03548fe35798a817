"""Inspect screens: a job's runs, a task's warnings and notifications, a job's dry run.

Each screen loads its data in a thread worker and shows it when the worker is done.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from rich.text import Text
from textual import work
from textual.app import ComposeResult
from textual.containers import Horizontal, Vertical, VerticalScroll
from textual.screen import Screen
from textual.widgets import DataTable, Footer, Label, Static

from console.domain.runs import RunStatus
from console.domain.text import printable
from console.tui.charts import ChartData, HourChart, Strip
from console.tui.keys import bindings, localize
from console.tui.format import bar_style, changed, duration, failure_style, level_style, local_time, relative, safe, status, work_and_time


class _Inspect(Screen):
    BINDINGS = bindings("inspect")
    HELP_KEYS = ("inspect",)
    HELP_TITLE = "keys of this screen"

    def __init__(self, what: str, name: str = ""):
        super().__init__()
        self.what, self.named = what, name  # the heading: the kind of thing, in words, and its name

    @property
    def service(self):
        return self.app.service

    @property
    def tz(self):
        return self.app.service.settings.tz

    def on_mount(self) -> None:
        localize(self, self.app.service.settings.console.locale)

    @property
    def w(self):
        return self.app.words

    def compose(self) -> ComposeResult:
        yield Label(safe(f"{self.w(self.what)} {self.named}".strip(), "bold"), classes="heading")
        with VerticalScroll(classes="body"):
            yield from self.body()
        yield Footer()

    def body(self) -> ComposeResult:
        yield from ()

    def table(self, selector: str, *columns: str) -> DataTable:
        table = self.query_one(selector, DataTable)
        if not table.columns:
            table.add_columns(*columns)
        table.clear()
        return table


class JobScreen(_Inspect):
    """A job's run history with a duration sparkline, its last counts and its last error."""

    BINDINGS = bindings("job")
    HELP_KEYS = ("job", "inspect")
    HELP_TITLE = "keys of the job screen"

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        return self.app.permitted(action)  # t changes something: refused in --read-only

    def action_run_this(self) -> None:
        self.app.action_trigger(self.job_id)

    def action_preview_this(self) -> None:
        self.app.action_preview(self.job_id)

    def action_reload(self) -> None:
        self.load()

    def action_open_run(self) -> None:
        table = self.query_one("#runs", DataTable)
        if table.row_count:
            self._open_run(table.coordinate_to_cell_key(table.cursor_coordinate).row_key.value)

    def on_data_table_row_selected(self, event: DataTable.RowSelected) -> None:
        if event.data_table.id == "runs":
            event.stop()
            self._open_run(event.row_key.value)

    def _open_run(self, run_id: str) -> None:
        from console.tui.log_views import RunLogScreen

        self.app.push_screen(RunLogScreen(int(run_id), self.job_id))

    def __init__(self, job_id: str):
        super().__init__("job", job_id)
        self.job_id = job_id

    def body(self) -> ComposeResult:
        yield Static(id="summary")
        yield Label("", id="durations-caption", classes="caption")
        yield HourChart(id="durations")
        yield DataTable(id="runs", cursor_type="row", zebra_stripes=True)
        yield Label(self.w("last error"), classes="caption")
        yield Static(id="error", classes="error")

    def on_mount(self) -> None:
        self.load()

    @work(thread=True, exclusive=True, exit_on_error=False)
    def load(self) -> None:
        jobs = {j.id: j for j in self.service.jobs()}
        runs = self.service.history(self.job_id, 100)
        per_hour = self.service.job_runs_per_hour(self.job_id)
        self.app.call_from_thread(self.show, jobs[self.job_id], runs, self.service.clock(), per_hour)

    def show_chart(self, per_hour) -> None:
        """The last 7 days: the longest run of each column's hours, a failure marked under it."""
        w = self.w
        failed = sum(per_hour.failed)
        self.query_one("#durations-caption", Label).update(Text(
            f"{w('run durations, last 7 days')}: {per_hour.total:,} {w('run' if per_hour.total == 1 else 'runs')}, {failed:,} {w(RunStatus.FAILED)}"
            f" ({w('the longest per column; ✗ a failure')})"))
        strip = Strip("", per_hour.longest, style=bar_style("green"), rows=4,
                      marks=per_hour.failed, mark_style=failure_style(), scale=lambda s: w.duration(duration(s)),
                      mark_label=w(RunStatus.FAILED))
        self.query_one("#durations", HourChart).show(
            ChartData(per_hour.start.astimezone(self.tz), per_hour.hours, [strip], empty=w("no run in 7 days")))

    def show(self, job, runs, now: datetime, per_hour=None) -> None:
        w = self.w
        summary = Text()
        summary.append(printable(w(job.name)), style="bold")
        summary.append(f"\n{w('trigger')}: {printable(w.trigger(job.trigger))}   {w('state')}: ")
        summary.append_text(status(job.state, w(job.state)))
        summary.append(f"   {w('next run')}: {local_time(job.next_run_time, self.tz, '%Y-%m-%d %H:%M')}"
                       f" ({w.relative(relative(job.next_run_time, now))})")
        if job.last_pass is not None:  # the leader's frequent look for thresholds crossed
            looked = job.last_pass
            summary.append(f"\n{w('last look for thresholds crossed')}: "
                           f"{local_time(looked.looked_at, self.tz, '%Y-%m-%d %H:%M:%S')}"
                           f" ({w.relative(relative(looked.looked_at, now))}), {w('warned')} {looked.sent:,}")
        finished = [r for r in runs if r.status in (RunStatus.SUCCESS, RunStatus.FAILED)]
        if finished:
            last = finished[0]
            summary.append(f"\n{w('last counts')}: ")
            summary.append(printable(", ".join(f"{k} {v}" for k, v in last.counts.items()) or "-"))
        self.query_one("#summary", Static).update(summary)
        if per_hour is not None:
            self.show_chart(per_hour)
        table = self.table("#runs", *(w(c) for c in ("run", "status", "kind", "started at", "took", "who", "host",
                                                      "result")))
        for r in runs:
            table.add_row(Text(str(r.id)), status(r.status, w(r.status)), safe(w(r.trigger_kind)),
                          Text(local_time(r.started_at, self.tz, "%m-%d %H:%M:%S")),
                          Text(w.duration(duration(r.duration_s))), safe(r.actor or "-"), safe(r.host or "-"),
                          safe(r.error if r.error else w.counts(changed(r.counts))), key=str(r.id))
        failed = next((r for r in runs if r.status == RunStatus.FAILED), None)
        error = Text(w("no failure recorded"), style="dim")
        if failed:
            error = Text(f"{w('run')} {failed.id} {w('at')} "
                         f"{local_time(failed.started_at, self.tz, '%Y-%m-%d %H:%M:%S')}: ", style="bold red")
            error.append(printable(failed.error), style="bold")
            error.append("\n" + printable(failed.traceback or "", keep_newlines=True), style="")
        self.query_one("#error", Static).update(error)


class WarningsScreen(_Inspect):
    """Warnings sent per hour over the last 7 days by level, beside those falling due in the next
    24 hours (the forecast), most severe level on top."""

    def __init__(self):
        super().__init__("warnings")

    def body(self) -> ComposeResult:
        with Horizontal(id="warning-charts"):
            with Vertical(id="sent-side"):
                yield Label("", id="sent-caption", classes="caption")
                yield HourChart(id="sent-chart")
            with Vertical(id="ahead-side"):
                yield Label("", id="ahead-caption", classes="caption")
                yield HourChart(id="ahead-chart", axis="hours")

    def on_mount(self) -> None:
        self.load()

    @work(thread=True, exclusive=True, exit_on_error=False)
    def load(self) -> None:
        sent, ahead = self.service.warnings_sent_per_hour(), self.service.warning_forecast(24)
        self.app.call_from_thread(self.show, sent, ahead)

    def _strips(self, levels, counts_of) -> list[Strip]:
        # Most severe (the highest threshold) on top. Without colour the bars are plain (reverse
        # video, the 5 % level's mark elsewhere, would turn a bar's blocks inside out): the gutter
        # names the level.
        return [Strip(f"{level}%", [float(n) for n in counts_of(level)], style=bar_style(level_style(level)),
                      rows=2) for level in reversed(levels)]

    def show(self, sent, ahead) -> None:
        w = self.w
        totals = sent.totals()
        self.query_one("#sent-caption", Label).update(Text(
            f"{w('warnings sent per hour, last 7 days')}: " + ", ".join(f"{lv}% {totals[lv]:,}" for lv in
                                                                        reversed(sent.levels))))
        self.query_one("#sent-chart", HourChart).show(ChartData(
            sent.start.astimezone(self.tz), sent.hours, self._strips(sent.levels, lambda lv: sent.per_level[lv]),
            empty=w("no warning sent in 7 days")))
        hourly = ahead.hourly()
        ahead_totals = ahead.totals
        self.query_one("#ahead-caption", Label).update(Text(
            f"{w('next 24 h')}: " + ", ".join(f"{lv}% {ahead_totals[lv]:,}" for lv in reversed(ahead.levels))))
        self.query_one("#ahead-chart", HourChart).show(ChartData(
            ahead.start.astimezone(self.tz), ahead.hours,
            self._strips(ahead.levels, lambda lv: [counts[lv] for _, counts in hourly]),
            empty=w("none falls due")))


class TaskScreen(_Inspect):
    """A task's window, progress and time progress, warning-ledger entries and notifications."""

    def __init__(self, task_id: int):
        super().__init__("task", str(task_id))
        self.task_id = task_id

    def body(self) -> ComposeResult:
        yield Static(id="summary")
        yield Label(self.w("warning ledger"), classes="caption")
        yield DataTable(id="ledger", cursor_type="row")
        yield Label(self.w("notifications sent for this task"), classes="caption")
        yield DataTable(id="notes", cursor_type="row")

    def on_mount(self) -> None:
        self.load()

    @work(thread=True, exclusive=True, exit_on_error=False)
    def load(self) -> None:
        detail = self.service.task_detail(self.task_id)
        rule = self.service.rule_info(self.task_id) if detail is not None else None
        self.app.call_from_thread(self.show, detail, rule)

    def show(self, detail, rule=None) -> None:
        w = self.w
        if detail is None:
            self.query_one("#summary", Static).update(Text(w("this task no longer exists"), style="bold red"))
            return
        t = detail.task
        summary = Text()
        summary.append(printable(t["title"]), style="bold")
        summary.append(f"\n{w('status')} {printable(t['status'])}   {w('category')} {printable(t['category'])}"
                       f"   {w('handler')} {printable(detail.handler or '-')}")
        summary.append(f"\n{w('window')} {local_time(t['expected_start_time'], self.tz, '%Y-%m-%d %H:%M')}"
                       f" → {local_time(t['expected_end_time'], self.tz, '%Y-%m-%d %H:%M')}")
        if detail.time_progress_now is not None:
            summary.append(f"\n{w('work / time')}  ")
            summary.append_text(work_and_time(float(t["progress"]), detail.time_progress_now, 20))
            # A line of its own: beside the bars it wrapped at 80 columns into "… / progress 100.0",
            # read as work progress.
            summary.append(f"\n{w('stored time progress')}: {t['time_progress']}")
            summary.append(f"\n{w('level now')}: {detail.level_now}%" if detail.level_now
                           else f"\n{w('level now')}: {w('none')}")
            if detail.handler is None:  # counted in its level all the same, marked in the panel
                summary.append(f"\n{w('no handler: nobody will be warned of this task')}", style="bold yellow")
        else:
            summary.append(f"\n{w('progress')} {t['progress']}   ({w('no usable window or progress for warnings')})")
        if rule is not None:
            summary.append(f"\n{w('recurrence')}: ")
            if rule.error:
                summary.append(f"{printable(rule.text)} — {w('INVALID, skipped by the reset job')}: ", style="bold red")
                summary.append(printable(rule.error), style="red")
            else:
                summary.append(printable(rule.words), style="bold")
                if rule.text:
                    summary.append(f"  ({printable(rule.text)})", style="dim")
                if rule.next_window:
                    start, end = rule.next_window
                    summary.append(f"\n{w('next window')}: {local_time(start, self.tz, '%Y-%m-%d %H:%M')} → "
                                   f"{local_time(end, self.tz, '%Y-%m-%d %H:%M')}")
        self.query_one("#summary", Static).update(summary)
        ledger = self.table("#ledger", *(w(c) for c in ("level", "window", "repeat", "sent", "run")))
        for entry in detail.warnings:
            ledger.add_row(Text(f"{entry['level']}%"), Text(f"{local_time(entry['window_start'], self.tz)} → "
                                                             f"{local_time(entry['window_end'], self.tz)}"),
                           Text(str(entry["repeat_no"])), Text(local_time(entry["sent_at"], self.tz, "%m-%d %H:%M:%S")),
                           Text(str(entry["run_id"])))
        notes = self.table("#notes", *(w(c) for c in ("sent", "to", "type", "title", "content", "read")))
        for n in detail.notifications:
            notes.add_row(Text(local_time(n["created_at"], self.tz, "%m-%d %H:%M:%S")), safe(n["to"] or "-"),
                          safe(n["type"]), safe(n["title"]), safe(n["content"]), Text(w("Yes") if n["is_read"] else w("No")))


class PreviewScreen(_Inspect):
    """What a job would change now, with counts and sample rows; nothing is written."""

    def __init__(self, job_id: str):
        super().__init__("preview (dry run, nothing is written):", job_id)
        self.job_id = job_id

    def body(self) -> ComposeResult:
        yield Static(self.w("working out what would change…"), id="counts")
        yield DataTable(id="samples", cursor_type="row")

    def on_mount(self) -> None:
        self.load()

    @work(thread=True, exclusive=True, exit_on_error=False)
    def load(self) -> None:
        self.app.call_from_thread(self.show, self.service.preview(self.job_id))

    def show(self, preview) -> None:
        counts = Text()
        for key, value in preview.counts.items():
            counts.append(f"{self.w(key)}: ", style="dim")
            counts.append(f"{value:,}   ", style="bold" if value else "")
        self.query_one("#counts", Static).update(counts)
        if not preview.samples:
            return
        headers = list(preview.samples[0].keys())
        table = self.table("#samples", *(self.w(h) for h in headers))
        for row in preview.samples:
            key = str(row["task_id"]) if "task_id" in row else None
            table.add_row(*[_cell(v, self.tz) for v in row.values()], key=key)

    def on_data_table_row_selected(self, event: DataTable.RowSelected) -> None:
        if event.row_key.value is not None:
            self.app.push_screen(TaskScreen(int(event.row_key.value)))


def _cell(value: Any, tz) -> Text:
    if isinstance(value, datetime):
        return Text(local_time(value, tz, "%Y-%m-%d %H:%M"))
    if isinstance(value, float):
        return Text(f"{value:.2f}")
    return safe(value)
