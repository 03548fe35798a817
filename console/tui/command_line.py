"""The ``:`` command line, k9s style: every action by name, with completion.

``:pause cleanup_old_data``, ``:run check_task_warnings``, ``:task 8099``, ``:logs``,
``:search 发票``, ``:level 5``. The suggester completes the command, then its argument (a job id,
a level, an order); the right arrow (or end) takes the suggestion. The commands are the entries
of the one action table (``console.tui.keys``) that have a ``command``; a command runs its
entry's action with the argument through the app's ``perform``, so one that changes something is
refused in --read-only as its key is.
"""

from __future__ import annotations

from textual.suggester import Suggester

from console.domain.text import printable
from console.tui.keys import COMMANDS, Key

BY_NAME = {c.command: c for c in COMMANDS}
# Arguments a command may go without: the near panel's level and order, a search (nothing done).
OPTIONAL = ("text", "level", "sort")


class CommandSuggester(Suggester):
    """Completes ``:``-commands and their arguments from what the console knows."""

    def __init__(self, choices_for):
        super().__init__(use_cache=False, case_sensitive=True)
        self.choices_for = choices_for  # arg kind -> the values it may take

    async def get_suggestion(self, value: str) -> str | None:
        name, space, rest = value.partition(" ")
        if not space:
            return next((c.command for c in COMMANDS if c.command.startswith(name) and name), None)
        command = BY_NAME.get(name)
        if command is None or not command.arg:
            return None
        for choice in self.choices_for(command.arg):
            if choice.startswith(rest) and choice != rest:
                return f"{name} {choice}"
        return None


def parse(line: str) -> tuple[Key, str]:
    """The command's entry and its argument; ValueError saying what is wrong, in words for a toast."""
    name, _, arg = line.strip().lstrip(":").strip().partition(" ")
    command = BY_NAME.get(name)
    if command is None:
        known = ", ".join(c.command for c in COMMANDS)
        raise ValueError(f"no command {printable(name)[:40]!r}; the commands: {known}")
    arg = arg.strip()
    if command.arg and command.arg not in OPTIONAL and not arg:
        raise ValueError(f":{command.command} needs a {command.arg}")
    if not command.arg and arg:
        raise ValueError(f":{command.command} takes nothing after it")
    return command, arg
