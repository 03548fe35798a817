"""The console's keys are defined once (console/tui/keys.py): the bindings, the footer, help and
both languages are drawn from the same rows, so they cannot word a key differently."""

from __future__ import annotations

from console.tui.app import TaskConsoleApp
from console.tui.dialogs import Confirm, Help
from console.tui.inspect_screens import JobScreen
from console.tui.keys import BY_ID, KEYS, bindings, help_rows


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

    assert CHANGING_ACTIONS == {"trigger", "toggle_job", "toggle_scheduler"}
