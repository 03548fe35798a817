"""The console's actions are defined once (console/tui/keys.py): the bindings, the footer, help,
the : command line, the palette and both languages are drawn from the same rows, so they cannot
word a key differently, and --read-only is decided in one place."""

from __future__ import annotations

import ast
from pathlib import Path

from console.tui.app import TaskConsoleApp
from console.tui.dialogs import Confirm, Help
from console.tui.inspect_screens import JobScreen
from console.tui import command_line
from console.tui.keys import BY_ID, COMMANDS, KEYS, bindings, help_rows


def test_every_binding_of_every_screen_comes_from_the_key_table():
    for owner, screen in ((TaskConsoleApp, "main"), (JobScreen, "job"), (Confirm, "confirm"), (Help, "help")):
        for binding in owner.BINDINGS:
            key = BY_ID[binding.id]
            assert (key.screen, key.keys, key.action, key.label) == (screen, binding.key, binding.action,
                                                                    binding.description)


def test_help_lists_every_shown_main_key_with_the_words_of_its_tooltip():
    rows = dict(help_rows("en"))
    for binding in bindings("main"):
        if binding.show:
            key = BY_ID[binding.id]
            assert rows[key.shown_as] == key.description
            assert binding.tooltip.lower() == key.description.lower()


def test_both_languages_word_every_shown_key():
    for key in KEYS:
        if key.show and key.label:
            assert key.zh_label, key.id
        if key.screen == "main" and key.show:
            assert key.zh_description and key.description_in("zh_CN") != key.description, key.id
    assert dict(help_rows("zh_CN"))["t"].startswith("立即运行")


def test_the_keys_that_write_are_the_ones_read_only_disables():
    from console.tui.actions import CHANGING_ACTIONS

    # The keys t, p, P (and t on the job screen) and the commands that pause or resume by name.
    assert CHANGING_ACTIONS == {"trigger", "toggle_job", "toggle_scheduler", "run_this", "pause_job", "resume_job",
                                "pause_all", "resume_all"}


def test_the_command_line_is_drawn_from_the_same_table():
    assert [c.command for c in COMMANDS] == [
        "run", "pause", "resume", "pause-all", "resume-all", "inspect", "preview", "task", "search", "level", "sort",
        "logs", "warnings", "audit", "notifications", "deliveries", "refresh", "help", "quit"]
    assert command_line.BY_NAME["run"] is BY_ID["trigger"]  # :run is t's action, given a job id
    for command in COMMANDS:
        assert hasattr(TaskConsoleApp, f"action_{command.action}"), command.id


def test_no_action_decides_read_only_for_itself():
    # The rule lives in the app's permitted(); keys, commands, the palette and the job screen ask
    # it before an action starts. An action body that looked at read_only would be a second rule.
    found = []
    for path in sorted((Path(command_line.__file__).parent).glob("*.py")):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)) and node.name.startswith("action_"):
                if any(isinstance(n, ast.Attribute) and n.attr == "read_only" for n in ast.walk(node)):
                    found.append(f"{path.name}: {node.name}")
    assert found == ["actions.py: action_help"], found  # help only says so, in its last line
