"""A DataTable whose rows are addressed by key and updated cell by cell.

Every refresh goes through :meth:`KeyedTable.put_row`, which compares the new cells with the
ones shown and calls ``update_cell`` only for those that differ: the cursor, the scroll position
and the marks stay where they are, and a quiet refresh costs next to nothing.

DataTable itself forgets every rendered cell when any one cell changes (its render caches are
keyed by a table-wide update counter), so a refresh that changed a few cells used to redraw all
of the visible ones through Rich. Here a changed cell is only marked stale, and before the next
frame the cached renderings of the stale cells (and the assembled lines of their rows) alone
are dropped (see :meth:`_evict_stale`).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence

from rich.text import Text
from textual.geometry import Region
from textual.strip import Strip
from textual.widgets import DataTable
from textual.widgets.data_table import CellDoesNotExist, ColumnKey, RowDoesNotExist, RowKey

Cells = tuple[Text, ...]


class KeyedTable(DataTable[Text]):
    DEFAULT_CSS = """
    KeyedTable { height: 1fr; }
    """

    def __init__(self, *, id: str | None = None) -> None:
        super().__init__(
            id=id, cursor_type="row", zebra_stripes=False, cursor_foreground_priority="renderable"
        )
        self._shown: dict[str, Cells] = {}
        self._column_keys: list[str] = []
        self._widths: dict[str, int] = {}
        """Widest cell seen per column: columns grow and never shrink, so rows do not jump."""
        self.marks: set[str] = set()
        self._stale: set[tuple[RowKey, ColumnKey]] = set()
        """Cells changed since the last frame: their cached renderings, and their rows', are stale."""
        self._targeted = all(
            hasattr(self, name)
            for name in (
                "_data",
                "_row_locations",
                "_cell_render_cache",
                "_row_render_cache",
                "_row_renderable_cache",
                "_line_cache",
            )
        )
        """Whether this Textual's DataTable has the caches :meth:`_evict_stale` knows; if not,
        updates go through DataTable's own ``update_cell`` (slower, never wrong)."""

    # ------------------------------------------------------------------------------------------
    # columns and rows

    def set_columns(self, columns: Sequence[tuple[str, str]]) -> None:
        """(label, key) pairs; replaces every row (only done when a table is (re)built)."""
        self.clear(columns=True)
        self._shown.clear()
        self._widths.clear()
        self._column_keys = [key for _, key in columns]
        for label, key in columns:
            self.add_column(label, key=key)

    def forget(self) -> None:
        """Drop every row, column and mark (the table will show something else entirely)."""
        self.clear(columns=True)
        self._shown.clear()
        self._widths.clear()
        self._column_keys = []
        self.marks.clear()

    def put_row(self, key: str, cells: Cells) -> int:
        """Show ``cells`` in row ``key`` (added at the bottom if new); return the cells updated."""
        shown = self._shown.get(key)
        if shown is None:
            self._add(key, cells)
            return len(cells)
        if shown == cells:
            return 0
        updated = 0
        widths = self._widths
        for column, old, new in zip(self._column_keys, shown, cells, strict=True):
            if old != new:
                # Only a cell wider than its column asks DataTable to measure (one cell); asking
                # for every update would re-measure whole columns whenever a value got narrower.
                width = new.cell_len
                grow = width > widths.get(column, 0)
                if grow:
                    widths[column] = width
                self.update_cell(key, column, new, update_width=grow)
                updated += 1
        self._shown[key] = cells
        return updated

    def update_cell(
        self,
        row_key: RowKey | str,
        column_key: ColumnKey | str,
        value: Text,
        *,
        update_width: bool = False,
    ) -> None:
        """DataTable's ``update_cell``, but only this cell's cached renderings are forgotten.

        A column that grows changes every row's rendering: that goes through DataTable's own
        update, which forgets everything.
        """
        if update_width or not self._targeted:
            super().update_cell(row_key, column_key, value, update_width=update_width)
            return
        row = RowKey(row_key) if isinstance(row_key, str) else row_key
        column = ColumnKey(column_key) if isinstance(column_key, str) else column_key
        if row not in self._row_locations or column not in self._column_locations:
            raise CellDoesNotExist(f"No cell exists for row_key={row!r}, column_key={column!r}.")
        self._data[row][column] = value
        self._stale.add((row, column))
        self.refresh()

    def _evict_stale(self) -> None:
        """Drop the cached renderings of the cells changed since the last frame, and of the lines
        of their rows: one pass over each of DataTable's caches, however many cells changed.

        Cells are cached under (row key, column key, ...), rows under (row key, ...), a row's
        renderables under (update count, row index).
        """
        stale = self._stale
        if not stale:
            return
        rows = {row for row, _ in stale}
        indices = {self._row_locations.get(row) for row in rows}
        cells = self._cell_render_cache
        for cell in [k for k in cells.keys() if (k[0], k[1]) in stale]:  # noqa: SIM118 - not a dict
            cells.discard(cell)
        lines = self._row_render_cache
        for line in [k for k in lines.keys() if k[0] in rows]:  # noqa: SIM118
            lines.discard(line)
        renderables = self._row_renderable_cache
        for renderable in [k for k in renderables.keys() if k[1] in indices]:  # noqa: SIM118
            renderables.discard(renderable)
        # Lines are keyed by screen position, not row; a frame rebuilds them from cached rows.
        self._line_cache.clear()
        stale.clear()

    def render_lines(self, crop: Region) -> list[Strip]:
        self._evict_stale()
        return super().render_lines(crop)

    def _add(self, key: str, cells: Cells) -> None:
        self.add_row(*cells, key=key)
        self._shown[key] = cells
        widths = self._widths
        for column, cell in zip(self._column_keys, cells, strict=True):
            width = cell.cell_len
            if width > widths.get(column, 0):
                widths[column] = width

    def _update_dimensions(self, new_rows: Iterable[RowKey]) -> None:
        """Column widths from the widths tracked as rows are added, not by measuring each cell.

        DataTable measures every cell of every new row through a Rich console (tens of
        microseconds each: 3,000 cells to open a 250-subrun sequence). Our cells are Text, whose
        width is their ``cell_len``, tracked by :meth:`_add`. Should a Textual version stop
        calling this hook, DataTable measures by itself again: slower, never wrong.
        """
        for key, width in self._widths.items():
            column = self.columns.get(ColumnKey(key))
            if column is not None and width > column.content_width:
                column.content_width = width
        super()._update_dimensions(())

    def drop_row(self, key: str) -> None:
        if self._shown.pop(key, None) is not None:
            try:
                self.remove_row(key)
            except RowDoesNotExist:
                pass

    def has_row(self, key: str) -> bool:
        return key in self._shown

    def row_keys(self) -> list[str]:
        return list(self._shown)

    def rebuild(self, rows: Iterable[tuple[str, Cells]]) -> None:
        """Replace all rows in this order (sorting, filtering), keeping the cursor on its row."""
        keep = self.cursor_key
        scroll_y = self.scroll_y
        self.clear(columns=False)
        self._shown.clear()
        for key, cells in rows:
            self._add(key, cells)
        if keep is not None and keep in self._shown:
            row = self.get_row_index(keep)
            self.move_cursor(row=row, animate=False, scroll=False)
            self.scroll_to(y=scroll_y, animate=False, immediate=True)

    # ------------------------------------------------------------------------------------------
    # cursor and marks

    @property
    def cursor_key(self) -> str | None:
        if not self.row_count or not self.is_valid_row_index(self.cursor_row):
            return None
        row_key, _ = self.coordinate_to_cell_key(self.cursor_coordinate)
        return None if row_key.value is None else str(row_key.value)

    def select_key(self, key: str) -> None:
        if key in self._shown:
            self.move_cursor(row=self.get_row_index(key), animate=False)

    def toggle_mark(self, key: str) -> bool:
        """Mark or unmark ``key``; returns whether it is marked now."""
        if key in self.marks:
            self.marks.discard(key)
            return False
        self.marks.add(key)
        return True
