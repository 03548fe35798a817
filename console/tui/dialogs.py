"""Small modal screens: a yes/no question and the key help."""

from __future__ import annotations

from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Grid, Vertical
from textual.screen import ModalScreen
from textual.widgets import Button, Label, Static


class Confirm(ModalScreen[bool]):
    """Asks a question; dismisses with True for yes."""

    BINDINGS = [
        Binding("y", "answer(True)", "Yes", id="yes"),
        Binding("n,escape", "answer(False)", "No", id="no"),
    ]

    def __init__(self, question: str, yes: str = "Yes", no: str = "No"):
        super().__init__()
        self.question, self.yes, self.no = question, yes, no

    def compose(self) -> ComposeResult:
        with Grid(id="confirm"):
            yield Label(Text(self.question), id="question")
            yield Button(f"{self.yes} (y)", variant="error", id="yes")
            yield Button(f"{self.no} (n)", variant="primary", id="no")

    def on_mount(self) -> None:
        self.query_one("#no", Button).focus()

    def on_button_pressed(self, event: Button.Pressed) -> None:
        self.dismiss(event.button.id == "yes")

    def action_answer(self, answer: bool) -> None:
        self.dismiss(answer)


HELP_ROWS = (
    ("t", "trigger the selected job now (cleanup asks first)"),
    ("p", "pause or resume the selected job"),
    ("P", "pause or resume the whole scheduler"),
    ("enter", "inspect the selected job or task"),
    ("v", "preview the selected job: what it would change now"),
    ("/", "filter the focused table (escape clears)"),
    ("r", "refresh now"),
    ("tab", "move between panels"),
    ("ctrl+p", "command palette"),
    ("?", "this help"),
    ("q", "quit (asks while a job is running)"),
)


class Help(ModalScreen[None]):
    BINDINGS = [Binding("escape,q,question_mark", "dismiss", "Close", id="close")]

    def __init__(self, read_only: bool):
        super().__init__()
        self.read_only = read_only

    def compose(self) -> ComposeResult:
        text = Text()
        text.append("taskconsole keys\n\n", style="bold")
        for key, words in HELP_ROWS:
            text.append(f"{key:>7}  ", style="bold cyan")
            text.append(f"{words}\n")
        if self.read_only:
            text.append("\nread-only: t, p and P are disabled.", style="magenta")
        with Vertical(id="help"):
            yield Static(text)
            yield Label(Text("escape closes", style="dim"))
