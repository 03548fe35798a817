"""Quitting while a job runs: what the console waits for, and the way out that does not wait.

The scheduler stops gracefully: a running job finishes (or rolls back) first. ``Stopping`` shows
which jobs it waits for and for how long. A second ``q`` (or Ctrl-C) offers to leave the run:
the process exits at once, and the next leader finds the run left ``running`` by a process that
ended, marks it abandoned and runs it again, as after a crash.
"""

from __future__ import annotations

from datetime import datetime
from typing import Callable

from rich.text import Text
from textual.app import ComposeResult
from textual.containers import Vertical
from textual.screen import ModalScreen
from textual.widgets import Label, Static

from console.domain.text import printable
from console.tui.format import duration
from console.tui.i18n import Words
from console.tui.keys import bindings


class Stopping(ModalScreen[bool]):
    """Shown while the scheduler stops; dismissed with True when the operator leaves the run."""

    BINDINGS = bindings("stopping")

    def __init__(self, words: Words, waiting_for: Callable[[], dict[str, datetime | None]],
                 clock: Callable[[], datetime]):
        super().__init__()
        self.words, self.waiting_for, self.clock = words, waiting_for, clock

    def compose(self) -> ComposeResult:
        with Vertical(id="stopping"):
            yield Label(Text(self.words("Stopping the scheduler"), style="bold"))
            yield Static(id="waiting")
            yield Label(Text(self.words("q or ctrl+c: leave the run to the next leader and quit now"), style="dim"))

    def on_mount(self) -> None:
        self.show()
        self.set_interval(1.0, self.show)

    def show(self) -> None:
        now = self.clock()
        text = Text()
        for job_id, started in sorted(self.waiting_for().items()):
            running_for = f" ({self.words('running for')} {duration((now - started).total_seconds())})" if started else ""
            text.append(f"{self.words('waiting for')} {printable(job_id)}{running_for}\n")
        if not text.plain:
            text.append(self.words("no job is running: closing"))
        self.query_one("#waiting", Static).update(text)

    def action_leave(self) -> None:
        from console.tui.dialogs import Confirm

        question = self.words("Leave the run and quit now? It is marked abandoned and run again by the "
                              "next leader, as after a crash.")
        self.app.push_screen(Confirm(question, yes=self.words("Leave it")),
                             lambda yes: self.dismiss(True) if yes else None)
