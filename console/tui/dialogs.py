"""Small modal screens: a yes/no question and the key help."""

from __future__ import annotations

from rich.text import Text
from textual.app import ComposeResult
from textual.containers import Grid, VerticalScroll
from textual.screen import ModalScreen
from textual.widgets import Button, Label, Static

from console.tui.keys import COMMANDS, bindings, help_rows


class Confirm(ModalScreen[bool]):
    """Asks a question; dismisses with True for yes."""

    BINDINGS = bindings("confirm")

    def __init__(self, question: str, yes: str = "Yes", no: str = "No"):
        super().__init__()
        self.question, self.yes, self.no = question, yes, no

    def compose(self) -> ComposeResult:
        with Grid(id="confirm"):
            yield Label(Text(self.question), id="question")
            w = self.app.words
            yield Button(f"{w(self.yes)} (y)", variant="error", id="yes")
            yield Button(f"{w(self.no)} (n)", variant="primary", id="no")

    def on_mount(self) -> None:
        self.query_one("#no", Button).focus()

    def on_button_pressed(self, event: Button.Pressed) -> None:
        self.dismiss(event.button.id == "yes")

    def action_answer(self, answer: bool) -> None:
        self.dismiss(answer)


class Help(ModalScreen[None]):
    BINDINGS = bindings("help")

    def __init__(self, read_only: bool, locale: str = "en", screens: tuple[str, ...] = ("main", "table"),
                 title: str = "taskconsole keys"):
        super().__init__()
        self.read_only, self.locale, self.screens, self.title = read_only, locale, screens, title

    def compose(self) -> ComposeResult:
        text = Text()
        text.append(f"{self.title}\n\n", style="bold")
        for key, words in help_rows(self.locale, self.screens):
            text.append(f"{key:>7}  ", style="bold cyan")
            text.append(f"{words}\n")
        if "main" in self.screens:
            text.append("\n:  " + ", ".join(c.command for c in COMMANDS) + "\n", style="dim")
        if self.read_only:
            text.append("\n" + self.app.words("read-only: t, p and P say so and change nothing."), style="magenta")
        # Scrolls where the terminal is shorter than the keys (80x24): the arrows and PageDown move it.
        with VerticalScroll(id="help"):
            yield Static(text)
            yield Label(Text(self.app.words("escape closes; the arrows scroll"), style="dim"))

    def on_mount(self) -> None:
        self.query_one("#help", VerticalScroll).focus()
