"""Finding things: the filter, the watchlist's level, sort and database search, and going to a
task by id. Mixed into the app (``console.tui.app``) beside ``ConsoleActions``.

One input box at the bottom serves the filter (``/``) and the task id (``g``). On the Jobs table
the filter narrows the rows shown as you type. On the near panel typing narrows the rows shown,
and Enter searches the whole tasks table (title or id) in a worker; the panel then shows what
was found until Escape. Escape, in the box or on a filtered table, clears the filter.
"""

from __future__ import annotations

import time

from textual import work
from textual.widgets import Input

from console.domain.text import printable
from console.service import AHEAD, describe_error
from console.tui.command_line import CommandSuggester, parse
from console.tui.inspect_screens import TaskScreen
from console.tui.table import FilterableTable
from console.tui.widgets import SORTS, JobsTable, NearTable, near_rows

FILTER_HINT = "filter: type to narrow the table; enter keeps it (on the near panel: searches every task); escape clears"
GOTO_HINT = "task id: enter opens the task"
COMMAND_HINT = ":command, e.g. pause cleanup_old_data, task 8099, logs (→ completes, enter runs, escape closes)"


class FindingActions:
    """Filter, search, watchlist and go-to keys of ``TaskConsoleApp``."""

    # -- the box ----------------------------------------------------------------------------------
    def _box(self) -> Input:
        return self.query_one("#filter", Input)

    def _open_box(self, mode: str, value: str, hint: str) -> None:
        self._box_mode = mode
        box = self._box()
        box.placeholder = self.words(hint)
        box.value = value
        box.add_class("visible")
        box.focus()

    def action_filter(self) -> None:
        focused = self.focused
        target = focused if isinstance(focused, FilterableTable) else self.query_one(JobsTable)
        self._filter_target = target
        self._open_box("filter", target.filter_text, FILTER_HINT)

    def action_go_to_task(self, task_id: str | None = None) -> None:
        if task_id is None:
            self._open_box("goto", "", GOTO_HINT)  # g: type the id
        else:
            self._go_to(task_id)

    def action_command_line(self) -> None:
        self._open_box("command", "", COMMAND_HINT)
        self._box().suggester = CommandSuggester(self._choices_for)

    def on_input_changed(self, event: Input.Changed) -> None:
        if event.input.id == "filter" and self._box_mode == "filter" and self._filter_target is not None:
            self._filter_target.apply_filter(event.value)
            self.show_panel_notes()

    def on_input_submitted(self, event: Input.Submitted) -> None:
        if event.input.id != "filter":
            return
        value = event.value.strip()
        if self._box_mode == "goto":
            self._hide_box()
            self._go_to(value)
        elif self._box_mode == "command":
            self._hide_box()
            if value:
                self.run_command(value)
        elif isinstance(self._filter_target, NearTable) and value:
            self._hide_box()
            self.start_search(value)
        else:
            self._hide_box()

    def action_close_filter(self) -> None:
        """Escape: closes the box clearing what it holds; on a filtered table, clears the filter."""
        box = self._box()
        if box.has_class("visible"):
            box.value = ""
            if self._box_mode == "filter" and self._filter_target is not None:
                self._filter_target.apply_filter("")
            self._hide_box()
            return
        focused = self.focused
        if isinstance(focused, NearTable) and self.near_search is not None:
            self.near_search = None
            focused.apply_filter("")
            self.request_refresh()
        elif isinstance(focused, FilterableTable) and focused.filter_text:
            focused.apply_filter("")
        self.show_panel_notes()

    def _hide_box(self) -> None:
        self._box().remove_class("visible")
        self._box().suggester = None
        (self._filter_target or self.query_one(JobsTable)).focus()
        self.show_panel_notes()

    # -- search the database ----------------------------------------------------------------------
    def action_search(self, text: str) -> None:
        if text:
            self.query_one(NearTable).focus()
            self.start_search(text)

    def start_search(self, text: str) -> None:
        near = self.query_one(NearTable)
        near.apply_filter("")  # the search's rows replace the loaded ones; no filter over them
        self.near_search = text
        self.searching = True
        self.search_began = time.monotonic()
        self.search_scanning = False
        self.show_panel_notes()
        self._search(text)

    @work(thread=True, group="search", exclusive=True, exit_on_error=False)
    def _search(self, text: str) -> None:
        try:
            # Without db tune's title index the search reads every processing task: said, with
            # the seconds it has taken so far, until it answers.
            self.search_scanning = not self.service.title_search_indexed()
            self._soon(self.show_panel_notes)
            found = self.service.search_tasks(text, limit=self.NEAR_LIMIT)
        except Exception as exc:  # noqa: BLE001 - said on screen; the search can be tried again
            self._soon(self._search_failed, text, describe_error(exc, self.service.settings.database.url))
            return
        now = self.service.clock()
        self._soon(self._show_found, text, found, now, near_rows(found, now, self.words))  # rows made here, too

    def _search_failed(self, text: str, why: str) -> None:
        if self.near_search != text:
            return
        self.searching = False
        self.near_found = []
        self.show_panel_notes()
        self.notify(f"{self.words('search')} “{printable(text)[:40]}”: {printable(why)}", severity="error",
                    markup=False)

    def _show_found(self, text: str, found, now, rows) -> None:
        if self.near_search != text:
            return  # a later search, or the search was cleared
        self.searching = False
        self.near_found = found
        near = self.query_one(NearTable)
        near.show(found, now, self.tz, rows=rows)
        near.focus()
        self.show_panel_notes()

    # -- the watchlist ------------------------------------------------------------------------------
    def action_near_level(self, which: int) -> None:
        """0: every level and the tasks ahead; 1..n: one level, most severe first; n+1: only the
        tasks not yet in a level, with a threshold ahead."""
        levels = [lv.level for lv in sorted(self.service.settings.warnings.levels, key=lambda lv: lv.at, reverse=True)]
        if which == 0:
            show = None
        elif which <= len(levels):
            show = levels[which - 1]
        elif which == len(levels) + 1:
            show = AHEAD
        else:
            return
        self.near_show = show
        self.near_search = None
        self.show_panel_notes()
        self.request_refresh()

    def action_near_sort(self, word: str | None = None) -> None:
        """s: the next order, said in a toast; ``:sort WORD`` that order (``:sort`` alone, the next)."""
        near = self.query_one(NearTable)
        if word and word not in SORTS:
            self.notify(f":sort {printable(word)[:30]}: {', '.join(SORTS)}", severity="warning", markup=False)
            return
        near.sort = word or SORTS[(SORTS.index(near.sort) + 1) % len(SORTS)]
        near.resort()
        self.show_panel_notes()
        if word is None:
            self.notify(f"s: {self.words('near panel sorted by')} {self.words(near.sort)}", markup=False)

    # -- go to a task ------------------------------------------------------------------------------
    def _go_to(self, value: str) -> None:
        if not value.isdigit() or len(value) > 18:
            self.notify(f"g: {self.words('a task id is a number')}: {printable(value)[:40]}", severity="warning",
                        markup=False)
            return
        self._open_task(int(value))

    @work(thread=True, group="goto", exclusive=True, exit_on_error=False)
    def _open_task(self, task_id: int) -> None:
        if self.service.task_exists(task_id):
            self._soon(self.push_screen, TaskScreen(task_id))
        else:
            self._soon(self.notify, f"g: {self.words('no task')} {task_id}", severity="warning", markup=False)

    # -- the command line ------------------------------------------------------------------------
    def _choices_for(self, kind: str) -> list[str]:
        if kind == "job":
            return list(self.service.job_names())
        if kind == "level":
            return [str(lv.level) for lv in self.service.settings.warnings.levels] + ["ahead", "all"]
        if kind == "sort":
            return list(SORTS)
        return []

    def run_command(self, line: str) -> None:
        """A ``:`` line: its entry's action, given the argument where the command takes one."""
        try:
            command, arg = parse(line)
            if command.arg == "job" and arg not in self.service.job_names():
                raise ValueError(f"no job {printable(arg)[:40]!r}; the jobs: {', '.join(self.service.job_names())}")
        except ValueError as exc:
            self.notify(f": {exc}", severity="warning", markup=False)
            return
        self.perform(command, *((arg,) if command.arg else ()), asked_as=command.command)

    def action_near_level_named(self, word: str) -> None:
        levels = [lv.level for lv in sorted(self.service.settings.warnings.levels, key=lambda lv: lv.at, reverse=True)]
        if word in ("", "all"):
            self.action_near_level(0)
        elif word == "ahead":
            self.action_near_level(len(levels) + 1)
        elif word.rstrip("%").isdigit() and int(word.rstrip("%")) in levels:
            self.action_near_level(levels.index(int(word.rstrip("%"))) + 1)
        else:
            self.notify(f":level {printable(word)[:20]}: {', '.join(map(str, levels))}, ahead or all",
                        severity="warning", markup=False)
