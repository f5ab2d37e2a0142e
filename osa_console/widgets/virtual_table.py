"""A keyed table that builds and draws only the rows on the screen (Textual's Line API).

Opening a 2,000-subrun sequence in a DataTable built 24,000 styled cells and registered every
row before the first frame, and DataTable renders every visible cell through Rich again whenever
any style is recomputed (each time a screen is shown again). Here a row's cells are built by a
callback the first time the row is drawn (or asked for), its segments are cached until the row,
its place, the column widths or the styles change, and a frame draws the visible lines from that
cache: opening and returning cost what is on the screen, not what is in the sequence.

It looks and behaves like the DataTable it replaces (row cursor, the same component classes and
theme colours, a fixed header, ``RowSelected`` on enter or on a click of the cursor row). Column
widths follow the widest cell built so far and never shrink: a column may widen when a wider
value scrolls into view, never narrows under the shifter's eyes.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from typing import ClassVar

from rich.segment import Segment
from rich.style import Style
from rich.text import Text
from textual import events
from textual.binding import Binding, BindingType
from textual.geometry import Region, Size, Spacing
from textual.message import Message
from textual.scroll_view import ScrollView
from textual.strip import Strip

from osa_console.widgets.table_cells import PADDING, cell_segments, cell_style, extend_style

Cells = tuple[Text, ...]
KEPT_ROWS = 500
"""Built rows (of a table built by callback) and drawn rows kept beyond those on the screen."""


@dataclass
class Column:
    key: str
    label: Text
    width: int
    """Content width: the widest of the label and every cell built so far."""

    @property
    def render_width(self) -> int:
        return self.width + 2 * PADDING


class VirtualTable(ScrollView, can_focus=True):
    """Rows addressed by ``str`` keys, in the order given; a row cursor; marks kept by key."""

    ALLOW_SELECT = False
    COMPONENT_CLASSES: ClassVar[set[str]] = {"datatable--cursor", "datatable--header"}
    # DataTable's own rules for what this table draws, so that every theme colours it alike.
    DEFAULT_CSS = """
    VirtualTable {
        background: $surface;
        color: $foreground;
        height: 1fr;
        &:focus {
            background-tint: $foreground 5%;
            & > .datatable--cursor {
                background: $block-cursor-background;
                color: $block-cursor-foreground;
                text-style: $block-cursor-text-style;
            }
            & > .datatable--header {
                background-tint: $foreground 5%;
            }
        }
        & > .datatable--header {
            text-style: bold;
            background: $panel;
            color: $foreground;
        }
        &:ansi > .datatable--header {
            background: ansi_bright_blue;
            color: ansi_default;
        }
        & > .datatable--cursor {
            background: $block-cursor-blurred-background;
            color: $block-cursor-blurred-foreground;
            text-style: $block-cursor-blurred-text-style;
        }
    }
    """
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("enter", "select_cursor", "Select", show=False),
        Binding("up", "cursor_up", "Cursor up", show=False),
        Binding("down", "cursor_down", "Cursor down", show=False),
        Binding("right", "scroll_right", "Scroll right", show=False),
        Binding("left", "scroll_left", "Scroll left", show=False),
        Binding("pageup", "page_up", "Page up", show=False),
        Binding("pagedown", "page_down", "Page down", show=False),
        Binding("ctrl+home", "cursor_top", "Top", show=False),
        Binding("ctrl+end", "cursor_bottom", "Bottom", show=False),
        Binding("home", "scroll_leftmost", "Home", show=False),
        Binding("end", "scroll_rightmost", "End", show=False),
    ]

    class RowSelected(Message):
        """Enter on a row, or a click on the cursor row."""

        def __init__(self, table: VirtualTable, row_key: str, cursor_row: int) -> None:
            super().__init__()
            self.table = table
            self.row_key = row_key
            self.cursor_row = cursor_row

        @property
        def control(self) -> VirtualTable:
            return self.table

    def __init__(self, *, id: str | None = None) -> None:
        super().__init__(id=id)
        self.columns: dict[str, Column] = {}
        self._order: list[str] = []
        self._index: dict[str, int] = {}
        self._cells: dict[str, Cells] = {}
        """The rows built so far (all of them for rows given whole, see :meth:`put_row`)."""
        self._build: Callable[[str], Cells] | None = None
        """Builds a row not given whole (see :meth:`set_rows`)."""
        self._drawn: dict[str, tuple[tuple[object, ...], list[Segment]]] = {}
        """Each drawn row's segments, with what they were drawn for (place, widths, styles)."""
        self._widths_seen = 0
        """Bumped whenever a column widens: every drawn row is then stale."""
        self._header: tuple[tuple[object, ...], list[Segment]] | None = None
        self.cursor_row = 0
        self.marks: set[str] = set()

    # ------------------------------------------------------------------------------------------
    # columns and rows

    def set_columns(self, columns: Sequence[tuple[str, str]]) -> None:
        """(label, key) pairs; drops every row (only done when a table is (re)built)."""
        self.columns = {}
        for label, key in columns:
            text = Text.from_markup(label)  # as DataTable reads a label
            self.columns[key] = Column(key, text, text.cell_len)
        self._set_order([], None)
        self._cells.clear()
        self._header = None

    def forget(self) -> None:
        """Drop every row, column and mark (the table will show something else entirely)."""
        self.set_columns(())
        self.marks.clear()

    @property
    def row_count(self) -> int:
        return len(self._order)

    def row_keys(self) -> list[str]:
        return list(self._order)

    def has_row(self, key: str) -> bool:
        return key in self._index

    def set_rows(self, keys: Iterable[str], build: Callable[[str], Cells]) -> None:
        """Show these rows in this order; ``build(key)`` makes a row's cells when it is first
        drawn or asked for. The cursor stays on its row (or its place, if the row went)."""
        self._cells.clear()
        self._set_order(list(keys), build)

    def rebuild(self, rows: Iterable[tuple[str, Cells]]) -> None:
        """Replace all rows with these, given whole, in this order, keeping the cursor's row."""
        given = dict(rows)
        self._cells = given
        self._set_order(list(given), None)
        for cells in given.values():
            self._grow(cells)

    def put_row(self, key: str, cells: Cells) -> int:
        """Show ``cells`` in row ``key`` (added at the bottom if new); return the cells updated."""
        if key not in self._index:
            self._index[key] = len(self._order)
            self._order.append(key)
            self._cells[key] = cells
            self._grow(cells)
            self._resize()
            return len(cells)
        shown = self._cells.get(key)
        if shown == cells:
            return 0
        self._cells[key] = cells
        self._grow(cells)
        self._redraw(key)
        return len(cells) if shown is None else sum(a != b for a, b in zip(shown, cells, strict=True))

    def invalidate(self, key: str) -> bool:
        """Row ``key`` changed: rebuild it (through the callback) when it is next drawn.
        Returns whether it is on the screen (and so redrawn at the next frame)."""
        if key not in self._index:
            return False
        if self._build is not None:
            self._cells.pop(key, None)
        return self._redraw(key)

    def drop_row(self, key: str) -> None:
        if key in self._index:
            self._cells.pop(key, None)
            self._set_order([k for k in self._order if k != key], self._build)

    def get_row(self, key: str) -> Cells:
        cells = self._cells.get(key)
        if cells is None:
            if key not in self._index or self._build is None:
                raise KeyError(key)
            cells = self._cells[key] = self._build(key)
            self._grow(cells)
        return cells

    def get_cell(self, key: str, column: str) -> Text:
        return self.get_row(key)[list(self.columns).index(column)]

    def built_rows(self) -> int:
        """How many rows have had their cells built (the rest cost nothing yet)."""
        return len(self._cells)

    def _set_order(self, order: list[str], build: Callable[[str], Cells] | None) -> None:
        keep = self.cursor_key
        self._order = order
        self._index = {key: i for i, key in enumerate(order)}
        self._build = build
        self._drawn.clear()
        # The cursor stays on its row; if the row went, it starts again at the top (DataTable's
        # clear, which the table it replaced went through, did that too).
        self.cursor_row = self._index.get(keep, 0) if keep is not None else 0
        self._resize()
        self.refresh()
        if keep is not None and self.is_attached:
            self._scroll_cursor_into_view()

    def _grow(self, cells: Cells) -> None:
        grown = False
        for column, cell in zip(self.columns.values(), cells, strict=True):
            if cell.cell_len > column.width:
                column.width = cell.cell_len
                grown = True
        if grown:
            # Every line moves, not only the one being drawn or updated: repaint them all.
            self._widths_seen += 1
            self._resize()
            self.refresh()

    def _resize(self) -> None:
        width = sum(column.render_width for column in self.columns.values())
        size = Size(width, len(self._order) + 1)
        if size != self.virtual_size:
            self.virtual_size = size

    def _redraw(self, key: str) -> bool:
        self._drawn.pop(key, None)
        index = self._index[key]
        top = int(self.scroll_y)
        if top <= index < top + self.size.height:
            self.refresh_lines(index + 1)
            return True
        return False

    # ------------------------------------------------------------------------------------------
    # cursor and marks

    @property
    def cursor_key(self) -> str | None:
        if 0 <= self.cursor_row < len(self._order):
            return self._order[self.cursor_row]
        return None

    def select_key(self, key: str) -> None:
        if key in self._index:
            self.move_cursor(self._index[key])

    def toggle_mark(self, key: str) -> bool:
        """Mark or unmark ``key``; returns whether it is marked now."""
        if key in self.marks:
            self.marks.discard(key)
            return False
        self.marks.add(key)
        return True

    def move_cursor(self, row: int, *, scroll: bool = True) -> None:
        row = max(0, min(row, len(self._order) - 1))
        old, self.cursor_row = self.cursor_row, row
        if old != row:
            for index in (old, row):
                if 0 <= index < len(self._order):
                    self._redraw(self._order[index])
        if scroll:
            self._scroll_cursor_into_view()

    def _scroll_cursor_into_view(self) -> None:
        region = Region(int(self.scroll_x), self.cursor_row + 1, self.size.width, 1)
        self.scroll_to_region(region, animate=False, spacing=Spacing(1, 0, 0, 0), force=True)

    def _page(self) -> int:
        return max(1, self.scrollable_content_region.height - 1)

    def action_cursor_up(self) -> None:
        self.move_cursor(self.cursor_row - 1)

    def action_cursor_down(self) -> None:
        self.move_cursor(self.cursor_row + 1)

    def action_page_down(self) -> None:
        self.scroll_relative(y=self._page(), animate=False, force=True)
        self.move_cursor(self.cursor_row + self._page())

    def action_page_up(self) -> None:
        self.scroll_relative(y=-self._page(), animate=False, force=True)
        self.move_cursor(self.cursor_row - self._page())

    def action_cursor_top(self) -> None:
        self.move_cursor(0)

    def action_cursor_bottom(self) -> None:
        self.move_cursor(len(self._order) - 1)

    def action_scroll_leftmost(self) -> None:
        self.scroll_to(x=0, animate=False)

    def action_scroll_rightmost(self) -> None:
        self.scroll_to(x=self.max_scroll_x, animate=False)

    def action_select_cursor(self) -> None:
        key = self.cursor_key
        if key is not None:
            self.post_message(self.RowSelected(self, key, self.cursor_row))

    async def _on_click(self, event: events.Click) -> None:
        meta = event.style.meta
        row = meta.get("row")
        if not isinstance(row, int) or row < 0:
            return
        event.stop()
        if row == self.cursor_row:
            self.action_select_cursor()
        else:
            self.move_cursor(row)

    # ------------------------------------------------------------------------------------------
    # drawing

    def render_lines(self, crop: Region) -> list[Strip]:
        # Build the rows about to be drawn first: a column they widen changes every line.
        top = int(self.scroll_y)
        shown = self._order[top : top + self.size.height]
        self._trim(shown)
        for key in shown:
            if key not in self._cells:
                self.get_row(key)
        self._resize()
        self._styles = (
            self.rich_style,
            self.get_component_styles("datatable--header").rich_style,
            self.get_component_rich_style("datatable--cursor"),
            self._widths_seen,
            tuple(column.width for column in self.columns.values()),
        )
        return super().render_lines(crop)

    _styles: tuple[Style, Style, Style, int, tuple[int, ...]]

    def _trim(self, shown: list[str]) -> None:
        """Scrolling through a long sequence must not keep all of it: past ``KEPT_ROWS``, only
        the rows on the screen stay built and drawn (the others are built again if shown)."""
        if len(self._drawn) > KEPT_ROWS:
            self._drawn = {key: self._drawn[key] for key in shown if key in self._drawn}
        if self._build is not None and len(self._cells) > KEPT_ROWS:
            self._cells = {key: self._cells[key] for key in shown if key in self._cells}

    def render_line(self, y: int) -> Strip:
        width = self.size.width
        scroll_x, scroll_y = self.scroll_offset
        base, header, cursor = self._styles[:3]
        if y == 0:
            segments = self._header_segments()
            row_style, index, highlight = header, -1, Style.null()
        else:
            index = y - 1 + scroll_y
            if index >= len(self._order):
                return Strip.blank(width, base)
            key = self._order[index]
            on_cursor = index == self.cursor_row
            segments = self._row_segments(key, index, on_cursor)
            row_style, highlight = base, cursor if on_cursor else Style.null()
        table_width = self.virtual_size.width
        extend = extend_style(row_style + highlight, index)
        line = [*segments, Segment(" " * max(0, width - table_width), extend)]
        return Strip(line).crop(scroll_x, scroll_x + width).adjust_cell_length(width, base).simplify()

    def _header_segments(self) -> list[Segment]:
        stamp: tuple[object, ...] = self._styles
        if self._header is None or self._header[0] != stamp:
            header = self._styles[1]
            console = self.app.console
            segments: list[Segment] = []
            for j, column in enumerate(self.columns.values()):
                style = cell_style(header, -1, j)
                segments.extend(cell_segments(column.label, column.width, style, console))
            self._header = (stamp, segments)
        return self._header[1]

    def _row_segments(self, key: str, index: int, on_cursor: bool) -> list[Segment]:
        stamp = (index, on_cursor, self._styles)
        drawn = self._drawn.get(key)
        if drawn is not None and drawn[0] == stamp:
            return drawn[1]
        base, _, cursor = self._styles[:3]
        row_style = base + cursor if on_cursor else base
        console = self.app.console
        segments: list[Segment] = []
        for j, (column, cell) in enumerate(zip(self.columns.values(), self.get_row(key), strict=True)):
            segments.extend(cell_segments(cell, column.width, cell_style(row_style, index, j), console))
        self._drawn[key] = (stamp, segments)
        return segments
