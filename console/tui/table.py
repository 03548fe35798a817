"""The console's tables: rows kept by key, a filter, a choice that follows its row, and columns
that fit the width whole.

``FilterableTable`` is the base of the main screen's tables. Its rows are cells by column key;
``fit`` picks the columns that fit, most needed first, so at 80 columns a panel drops whole
columns rather than cutting words.

Rows come with their signatures (``signatures``: what each cell shows, in comparable form), made
where the rows are made: for the main screen's panels, on the refresh's worker thread. A refresh
that shows what is on screen already changes nothing in the table; one that changes some cells of
the same rows updates those cells; only new rows, or rows in a new order, rebuild the table.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from rich.style import Style
from rich.text import Text
from textual.cache import LRUCache
from textual.widgets import DataTable

from console.tui.cell_lines import one_line
from console.tui.keys import bindings


@dataclass(frozen=True)
class Column:
    key: str
    width: int  # cells; for a flexible column, the least it is shown at
    rank: int  # 0 is needed most: dropped last
    flex: int = 0  # a flexible column grows up to this width with the room left


def fit_columns(columns: tuple[Column, ...], width: int, padding: int = 1) -> dict[str, int]:
    """Column key -> width for the columns that fit ``width`` cells, in screen order."""
    chosen: set[str] = set()
    used = 0
    for column in sorted(columns, key=lambda c: c.rank):
        need = column.width + 2 * padding
        if used + need > width:
            break  # a less needed column never shows where a more needed one could not
        chosen.add(column.key)
        used += need
    widths = {c.key: c.width for c in columns if c.key in chosen}
    room = width - used
    for column in columns:  # the room left goes to flexible columns, in screen order
        if column.key in chosen and column.flex and room > 0:
            grow = min(room, column.flex - column.width)
            widths[column.key] += grow
            room -= grow
    return widths


Row = tuple[str, dict[str, Text], str]  # key, cells by column key, the text the filter searches
Signature = tuple[str, dict[str, Any]]  # the text the filter searches, each cell's signature by column


def cell_signature(cell: Text) -> tuple:
    """What a cell shows, comparable (``Text.__eq__`` ignores the style)."""
    return (cell.plain, str(cell.style), tuple((s.start, s.end, str(s.style)) for s in cell.spans), cell.justify,
            cell.overflow, cell.no_wrap)


def signatures(rows: list[Row]) -> dict[str, Signature]:
    """Row key -> its signature; made beside the rows (off the UI thread where they are)."""
    return {key: (haystack, {column: cell_signature(cell) for column, cell in cells.items()})
            for key, cells, haystack in rows}


# DataTable's caches of rendered cells, rows and lines. Their keys hold the pseudo-class state
# (focus, hover) and the base style, not the styles of the table's parts (the cursor, the header,
# the stripes): DataTable empties them at every restyle, a change of focus included.
RENDER_CACHES = ("_cell_render_cache", "_row_render_cache", "_row_renderable_cache", "_line_cache")
LOOKS_KEPT = 3  # sets of render caches put aside: focused, not, and one more (the mouse over it)


class FilterableTable(DataTable):
    """A row-cursor table that keeps its rows, shows those matching a filter, and keeps the
    operator's choice.

    Selection is identity: ``chosen`` is the key of the row the operator last put the cursor on.
    Every redraw (a refresh, a filter, a new sort) puts the cursor back on that row; if the row is
    gone the cursor is hidden and ``selected_key`` is None, so no action lands on whichever row
    took its place. The first key press that moves the cursor shows it again.

    A change of focus does not render the table's cells again where it was shown focused (or not)
    before with the same styles and rows (``notify_style_update``): tab between the main screen's
    tables redraws what each looked like when it last had (or had not) the focus.
    """

    BINDINGS = bindings("table")
    COLUMNS: tuple[Column, ...] = ()
    RESERVE = 0  # cells kept for a vertical scrollbar

    def __init__(self, **kwargs):
        # Before DataTable's: it may restyle or clear its caches as it starts (notify_style_update).
        self._caches_look: tuple | None = None  # the styles the render caches in use were filled in
        self._set_aside: dict[tuple, tuple] = {}  # render caches put aside, by the styles they were filled in
        self._frame_style: Style | None = None  # the table's style while a frame is rendered
        super().__init__(cursor_type="row", zebra_stripes=True, **kwargs)
        self._rows: list[Row] = []
        self._signatures: dict[str, Signature] = {}
        self._drawn: tuple[list[str], dict[str, int]] | None = None  # the row keys and columns in the table
        self.labels: dict[str, str] = {}  # column key -> its header, in the console's language
        self.widths: dict[str, int] = {}  # the columns shown now, and their widths
        self.filter_text = ""
        self.chosen: str | None = None
        self._restoring = False
        self.nothing_chosen = "no row selected"  # said when a key needs a row and none is chosen

    def notify_style_update(self) -> None:
        """DataTable empties its caches of rendered cells at every restyle, and a change of focus
        restyles the table (its ``:focus`` rules): every visible cell of both tables was rendered
        again at every tab (30 ms or more for the near panel). Here the caches are put aside
        instead, under the styles they were rendered in (``_look``), and taken back when the table
        is drawn in those styles again (``render_lines``): tab back to a table whose rows did not
        change draws what was drawn. What else empties DataTable's caches (new rows, the cursor
        shown or hidden, the columns) empties those put aside too (``_clear_caches``)."""
        if self._caches_look is not None:
            self._set_aside[self._caches_look] = self._caches()
            while len(self._set_aside) > LOOKS_KEPT:
                del self._set_aside[next(iter(self._set_aside))]
            for name, cache in zip(RENDER_CACHES, self._caches()):
                setattr(self, name, LRUCache(cache.maxsize))
        self._caches_look = None
        super().notify_style_update()  # empties the caches in use: new ones, where some were put aside

    def _clear_caches(self) -> None:
        self._set_aside.clear()
        super()._clear_caches()

    def render_lines(self, crop):
        if self._caches_look is None:  # restyled since the last frame: which caches fit?
            look = self._look()
            kept = self._set_aside.pop(look, None)
            for name, cache in zip(RENDER_CACHES, kept or ()):
                setattr(self, name, cache)
            self._caches_look = look
        # DataTable asks for its style at every line, cached or not (each a walk up the DOM that
        # blends the ancestors' backgrounds): the same for every line of a frame.
        self._frame_style = super().rich_style
        try:
            return super().render_lines(crop)
        finally:
            self._frame_style = None

    @property
    def rich_style(self) -> Style:
        return self._frame_style or super().rich_style

    def _render_cell(self, row_index: int, column_index: int, base_style: Style, width: int, cursor: bool = False,
                     hover: bool = False):
        """DataTable's, drawing a one-line ``Text`` cell the short way (console.tui.cell_lines, the
        same segments): a new order (``s``) draws every visible cell again, 20-40 ms of Rich's
        layout on the UI thread. Header, label and fixed cells, and any other cell, go DataTable's way."""
        if row_index < max(self.fixed_rows, 0) or column_index < max(self.fixed_columns, 0):
            return super()._render_cell(row_index, column_index, base_style, width, cursor, hover)
        row_key = self._row_locations.get_key(row_index)
        column_key = self._column_locations.get_key(column_index)
        key = (row_key, column_key, base_style, cursor, hover, self._show_hover_cursor, self._update_count,
               self._pseudo_class_state)
        cached = self._cell_render_cache.get(key)
        if cached is not None:
            return cached
        row = self.rows.get(row_key)
        if row is None or row.height != 1:
            return super()._render_cell(row_index, column_index, base_style, width, cursor, hover)
        cell = self._get_row_renderables(row_index)[1][column_index]
        component_style, post_style = self._get_styles_to_render_cell(
            False, False, False, hover, cursor, self.show_cursor, self._show_hover_cursor,
            self.cursor_foreground_priority == "css", self.cursor_background_priority == "css")
        pre = base_style + Style.from_meta({"row": row_index, "column": column_index}) + component_style
        lines = one_line(self.app.console, cell, width, self.cell_padding, pre, post_style)
        if lines is None:
            return super()._render_cell(row_index, column_index, base_style, width, cursor, hover)
        self._cell_render_cache[key] = lines
        return lines

    def _caches(self) -> tuple[LRUCache, ...]:
        return tuple(getattr(self, name) for name in RENDER_CACHES)

    def _look(self) -> tuple:
        """What the cells are rendered in: the pseudo-class state (focus, hover), the table's style
        and those of its parts (cursor, header, stripes)."""
        parts = tuple((styles.rich_style, styles.partial_rich_style, styles.text_opacity)
                      for styles in map(self.get_component_styles, sorted(self.COMPONENT_CLASSES)))
        return self.get_pseudo_class_state(), self.rich_style, self.show_cursor, parts

    def set_rows(self, rows: list[Row], signed: dict[str, Signature] | None = None) -> None:
        """``rows``: (key, cells by column key, text the filter searches); ``signed``: their
        ``signatures``, made with them (else made here). Rows showing what the table shows change
        nothing in it."""
        signed = signatures(rows) if signed is None else signed
        before = self._signatures
        if [r[0] for r in rows] == [r[0] for r in self._rows] and all(signed[r[0]] == before.get(r[0]) for r in rows):
            self._rows = rows
            return
        self._rows, self._signatures = rows, signed
        self.redraw(before)

    def on_mount(self) -> None:
        # The footer's words for this table's keys, in the console's language.
        words = getattr(self.app, "words", None)
        if words is not None:
            from console.tui.keys import localize

            localize(self, words.locale)

    def columns_now(self) -> tuple[Column, ...]:
        """The columns and their ranks for what the table shows now."""
        return self.COLUMNS

    def refit(self) -> None:
        """Fit again at the last width, after ``columns_now`` changed."""
        if getattr(self, "_fit_width", None):
            self.fit(self._fit_width)

    def on_resize(self, event) -> None:
        self.fit(event.size.width)

    def fit(self, width: int) -> None:
        """Show the columns that fit ``width`` whole, most needed first (``Column.rank``), in
        their screen order; flexible columns share what is left. Nothing is cut mid-word by a
        column too narrow, and nothing scrolls sideways."""
        self._fit_width = width
        columns = self.columns_now()
        widths = fit_columns(columns, width - self.RESERVE, self.cell_padding)
        if widths == self.widths:
            return
        self.widths = widths
        self._restoring = True
        self._drawn = None
        try:
            self.clear(columns=True)
            for column in columns:
                if column.key in widths:
                    self.add_column(self.labels.get(column.key, column.key), width=widths[column.key], key=column.key)
        finally:
            self._restoring = False
        self.redraw()

    def apply_filter(self, text: str) -> None:
        self.filter_text = text.strip().lower()
        self.redraw()

    def cell(self, row_key: str, column: str) -> Text | None:
        """The cell of ``column`` in the row ``row_key``, shown or not."""
        for key, cells, _ in self._rows:
            if key == row_key:
                return cells.get(column)
        return None

    @property
    def total(self) -> int:
        return len(self._rows)

    def redraw(self, before: dict[str, Signature] | None = None) -> None:
        """Show the rows matching the filter. ``before``: the signatures of the rows shown until
        now; where the same rows stay in the same order under the same columns, only the cells
        whose signature changed are updated (cursor and scroll untouched)."""
        shown = [row for row in self._rows if not self.filter_text or self.filter_text in row[2].lower()]
        keys = [row[0] for row in shown]
        if before is not None and self._drawn == (keys, self.widths):
            for key, cells, _ in shown:
                old, new = before.get(key), self._signatures[key]
                for column in self.widths if old != new else ():
                    if old is None or old[1].get(column) != new[1].get(column):
                        self.update_cell(key, column, cells.get(column, Text("")))
            return
        # clear() scrolls to the top-left: keep where the operator scrolled, sideways too.
        scroll_x, scroll_y = self.scroll_x, self.scroll_y
        self._restoring = True
        try:
            self.clear()
            for key, cells, _ in shown:
                self.add_row(*(cells.get(k, Text("")) for k in self.widths), key=key)
            self._drawn = (keys, dict(self.widths))
            if self.chosen is None and self.row_count:
                # Nothing chosen yet (the console just opened): the first row.
                self.chosen = self.coordinate_to_cell_key(self.cursor_coordinate).row_key.value
            if self.chosen is not None and self.chosen in self.rows:
                self.show_cursor = True
                self.move_cursor(row=self.get_row_index(self.chosen), animate=False, scroll=False)
            else:
                self.show_cursor = False
        finally:
            self._restoring = False
        # After the refresh: until then the table's virtual size is that of an empty table.
        self.call_after_refresh(self._restore_scroll, scroll_x, scroll_y)

    def _restore_scroll(self, x: float, y: float) -> None:
        self.scroll_to(x, y, animate=False, immediate=True)
        if self.show_cursor and self.row_count:
            self._scroll_cursor_into_view(animate=False)

    def watch_cursor_coordinate(self, old, new) -> None:
        super().watch_cursor_coordinate(old, new)
        if not self._restoring and self.show_cursor and self.row_count:
            try:
                self.chosen = self.coordinate_to_cell_key(new).row_key.value
            except Exception:  # noqa: BLE001 - no row there
                pass

    def _wake_cursor(self) -> bool:
        """With the cursor hidden (the chosen row went away), a cursor key shows it on the first
        row instead of moving it; True if it did."""
        if self.show_cursor or not self.row_count:
            return False
        self.show_cursor = True
        self.move_cursor(row=0, animate=False)
        self.chosen = self.coordinate_to_cell_key(self.cursor_coordinate).row_key.value
        return True

    def on_focus(self) -> None:
        # Arriving on a table whose chosen row went away (a refresh or a search replaced its rows
        # while another panel had the focus): its first row is chosen, as the first cursor key
        # would, so that enter opens it rather than answering that nothing is selected. A row only
        # hidden by the filter stays chosen and hidden: the filter says why.
        if self.chosen is None or all(key != self.chosen for key, _, _ in self._rows):
            self._wake_cursor()

    def action_cursor_down(self) -> None:
        if not self._wake_cursor():
            super().action_cursor_down()

    def action_cursor_up(self) -> None:
        if not self._wake_cursor():
            super().action_cursor_up()

    def action_page_down(self) -> None:
        if not self._wake_cursor():
            super().action_page_down()

    def action_page_up(self) -> None:
        if not self._wake_cursor():
            super().action_page_up()

    def action_select_cursor(self) -> None:
        if self.selected_key is None:
            self.notify(f"enter: {self.nothing_chosen}", severity="warning", markup=False)
        else:
            super().action_select_cursor()

    @property
    def selected_key(self) -> str | None:
        """The chosen row's key while it is on screen under the cursor; else None."""
        if not self.show_cursor or self.chosen is None or self.chosen not in self.rows:
            return None
        return self.chosen
