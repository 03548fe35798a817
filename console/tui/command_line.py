"""The ``:`` command line, k9s style: every action by name, with completion.

``:pause cleanup_old_data``, ``:run check_task_warnings``, ``:task 8099``, ``:logs``,
``:search 发票``, ``:level 5``. The suggester completes the command, then its argument (a job id,
a level, an order); the right arrow (or end) takes the suggestion. A command that changes
something is refused in --read-only, as its key is.
"""

from __future__ import annotations

from dataclasses import dataclass

from textual.suggester import Suggester

from console.domain.text import printable


@dataclass(frozen=True)
class Command:
    name: str
    arg: str  # "" (none), "job", "task", "text", "level", "sort"
    help: str
    writes: bool = False


COMMANDS: tuple[Command, ...] = (
    Command("run", "job", "run a job now (as t)", writes=True),
    Command("pause", "job", "pause a job", writes=True),
    Command("resume", "job", "resume a paused job", writes=True),
    Command("pause-all", "", "pause the whole scheduler (asks first)", writes=True),
    Command("resume-all", "", "resume the whole scheduler", writes=True),
    Command("inspect", "job", "a job's screen: runs, durations, last error"),
    Command("preview", "job", "what a job would change now"),
    Command("task", "task", "a task's screen, by id"),
    Command("search", "text", "search every processing task by title or id"),
    Command("level", "level", "the near panel: one level (5, 10, 20), ahead, or all"),
    Command("sort", "sort", "the near panel's order"),
    Command("logs", "", "the full-screen log view"),
    Command("audit", "", "the audit of manual actions"),
    Command("notifications", "", "the notifications the jobs sent"),
    Command("refresh", "", "refresh every panel now"),
    Command("help", "", "every key and command"),
    Command("quit", "", "quit (as q)"),
)
BY_NAME = {c.name: c for c in COMMANDS}


class CommandSuggester(Suggester):
    """Completes ``:``-commands and their arguments from what the console knows."""

    def __init__(self, choices_for):
        super().__init__(use_cache=False, case_sensitive=True)
        self.choices_for = choices_for  # arg kind -> the values it may take

    async def get_suggestion(self, value: str) -> str | None:
        name, space, rest = value.partition(" ")
        if not space:
            return next((c.name for c in COMMANDS if c.name.startswith(name) and name), None)
        command = BY_NAME.get(name)
        if command is None or not command.arg:
            return None
        for choice in self.choices_for(command.arg):
            if choice.startswith(rest) and choice != rest:
                return f"{name} {choice}"
        return None


def parse(line: str) -> tuple[Command, str]:
    """The command and its argument; ValueError saying what is wrong, in words for a toast."""
    name, _, arg = line.strip().lstrip(":").strip().partition(" ")
    command = BY_NAME.get(name)
    if command is None:
        known = ", ".join(c.name for c in COMMANDS)
        raise ValueError(f"no command {printable(name)[:40]!r}; the commands: {known}")
    arg = arg.strip()
    if command.arg and command.arg != "text" and command.arg != "level" and command.arg != "sort" and not arg:
        raise ValueError(f":{command.name} needs a {command.arg}")
    if not command.arg and arg:
        raise ValueError(f":{command.name} takes nothing after it")
    return command, arg
