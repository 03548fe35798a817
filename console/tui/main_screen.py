"""The main screen and its panels, as far as the focus goes: a change of focus (tab, shift+tab)
draws again what shows it and nothing else.

Textual draws the whole screen again at every change of focus (its ``Screen.focused`` repaints
the screen), and a ``:focus-within`` rule restyles the panel and everything in it: both tables
with their parts (cursor, header, stripes), before each restyles itself again for its own
``:focus``. Here the screen draws only the widgets whose look changed, and a panel shows that the
focus is in it by a class (``Panel.-focus`` in app.tcss) that restyles the panel alone. The tables
keep what they rendered with the focus and without it (``console.tui.table``).
"""

from __future__ import annotations

from textual.containers import Vertical
from textual.reactive import Reactive
from textual.screen import Screen
from textual.widget import Widget


class MainScreen(Screen):
    """The main screen: the app's default screen (``TaskConsoleApp.get_default_screen``)."""

    # Textual's repaints the whole screen when the focus moves; the widgets whose look changes
    # with it (the tables, the panels' borders, the footer) are drawn again by their own restyle.
    focused: Reactive[Widget | None] = Reactive(None, repaint=False)


class Panel(Vertical):
    """A panel of the main screen in a border; its colour says whether the focus is in it."""

    def on_descendant_focus(self) -> None:
        self._show_focus()

    def on_descendant_blur(self) -> None:
        self._show_focus()

    def _show_focus(self) -> None:
        # Asked of the screen, so that the order of the blur and the focus does not matter.
        focus = self.has_focus_within
        if self.has_class("-focus") != focus:
            self.set_class(focus, "-focus", update=False)
            # The panel alone: no rule styles what is in it by this class (see app.tcss).
            self.app.stylesheet.update_nodes([self], animate=True)


__all__ = ["MainScreen", "Panel"]
